"""A pytest plugin that runs the host without its compiled helpers, as on a machine where ``speedups/`` is not
built: every intake reads with pyzmq, every message body is made and sent the Python way.
``pytest -p tests.support.pure_python ...`` (see tests/test_intake_reader.py).
"""

from __future__ import annotations

import pytest

from openmodule_host import core
from openmodule_host.wire import intake, publisher


def pytest_configure(config: pytest.Config) -> None:
    intake._compiled_recv_batch = None
    core._compiled_body = None
    publisher._compiled_send = None


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    compiled = [name for name, helper in (("reader", intake._compiled_recv_batch), ("body", core._compiled_body),
                                          ("send", publisher._compiled_send)) if helper is not None]
    terminalreporter.write_line(f"compiled helpers: {', '.join(compiled) or 'none (pure Python)'}")
