"""The ``conftest.py`` an example test of the docs runs with (copied next to it by tests/test_docs_examples.py).

It records every plugin the example starts through ``om_host`` or ``om_fake`` (its entry point, state and
reason) and writes them, at the end of the session, to the file named by ``DOCS_EXAMPLE_REPORT``: the checker
then requires that each of them started, and that the plugin block the example is marked for is among them
(an example test that never starts its plugin checks nothing about it).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

STARTED: list[dict[str, Any]] = []


def _record(name: str, entry_point: str, state: str, reason: str | None, strict: bool) -> None:
    STARTED.append({"name": name, "entry_point": entry_point, "state": state, "reason": reason, "strict": strict})


@pytest.fixture
def om_host(om_host: Callable[..., Any]) -> Callable[..., Any]:
    """The pytest plugin's ``om_host``, recording the plugins of each host it started."""

    def factory(*plugins: Any, **kwargs: Any) -> Any:
        host = om_host(*plugins, **kwargs)
        for name, hosted in host.plugins.items():
            _record(name, hosted.candidate.entry_point, hosted.state.value, hosted.reason,
                    kwargs.get("strict", True))
        return host

    return factory


@pytest.fixture
def om_fake(om_fake: Callable[..., Any]) -> Callable[..., Any]:
    """The pytest plugin's ``om_fake``, recording the plugin of each fake core (it raises when it fails)."""

    def factory(*args: Any, **kwargs: Any) -> Any:
        fake = om_fake(*args, **kwargs)
        _record(fake.hosted.candidate.name, fake.hosted.candidate.entry_point, fake.hosted.state.value,
                fake.hosted.reason, True)
        return fake

    return factory


def pytest_sessionfinish(session: pytest.Session) -> None:
    Path(os.environ["DOCS_EXAMPLE_REPORT"]).write_text(json.dumps(STARTED), encoding="utf-8")
