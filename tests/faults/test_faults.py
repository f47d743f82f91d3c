"""Each fault in each place of a plugin, beside a healthy plugin, through the real CLI: the healthy plugin
misses no call, the faulty one is reported as documented (with an alert where documented), and the host
stops within its bound with exit status 0.

The default run covers every fault once and every place once (:func:`~.matrix.representative`);
``OMH_FAULTS=all`` runs the whole matrix (``make faults`` runs it too and writes the table).
"""

from __future__ import annotations

import os

import pytest

from tests.faults.matrix import cases, expected, install_plugins, problems, representative, run_case


def _params() -> list:
    chosen = cases() if os.environ.get("OMH_FAULTS") == "all" else representative()
    params = []
    for fault, place, mode in chosen:
        expectation = expected(fault, place, mode)
        marks = [pytest.mark.timeout(180)]
        if expectation.not_applicable:
            marks.append(pytest.mark.skip(reason=f"not applicable: {expectation.not_applicable}"))
        params.append(pytest.param(fault, place, mode, marks=marks, id=f"{fault}-in-{place}-{mode}"))
    return params


@pytest.fixture(scope="module")
def plugins_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return install_plugins(tmp_path_factory.mktemp("fault-site"))


@pytest.mark.parametrize(("fault", "place", "mode"), _params())
def test_a_faulty_plugin_harms_only_itself_and_is_reported_as_documented(
    fault: str, place: str, mode: str, plugins_env: dict[str, str]
) -> None:
    result = run_case(fault, place, mode, plugins_env)
    found = problems(result, expected(fault, place, mode))
    assert not found, f"{found}\n{result.summary()}\nhost log (end):\n{result.log_tail}"
