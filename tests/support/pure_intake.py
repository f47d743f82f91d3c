"""A pytest plugin that makes every intake of the run read with pyzmq, as on a machine where the compiled
reader (``speedups/``) is not built: ``pytest -p tests.support.pure_intake ...`` (see tests/test_intake_reader.py).
"""

from __future__ import annotations

import pytest

from openmodule_host.wire import intake


def pytest_configure(config: pytest.Config) -> None:
    intake._compiled_recv_batch = None


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    reader = "compiled" if intake._compiled_recv_batch is not None else "pure Python"
    terminalreporter.write_line(f"intake reader: {reader}")
