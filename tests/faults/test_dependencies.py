"""The toolkit's dependencies failing (:mod:`tests.faults.dependencies`): each shows as documented in the
dependent plugin's answers and logs, loses no KV row, leaves the healthy plugin beside it unaffected, and the
dependent plugin works again once the dependency is back."""

from __future__ import annotations

import pytest

from tests.faults.dependencies import CASES, problems, run_case


@pytest.mark.timeout(120)
@pytest.mark.parametrize("case", list(CASES))
def test_a_failing_dependency_harms_only_the_plugin_using_it_which_recovers(case: str) -> None:
    result = run_case(case)
    found = problems(result)
    assert not found, f"{found}\n{result}"
