"""The fuzz suite's host (one per module) and its report, printed at the end of the run."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import pytest

from .target import FuzzReport, FuzzTarget

#: frames per run: a short run by default; ``make fuzz`` sets OMH_FUZZ_FRAMES=100000.
FRAMES = int(os.environ.get("OMH_FUZZ_FRAMES", "3000"))
REPORT = FuzzReport()


@pytest.fixture(scope="module")
def fuzz_target() -> Iterator[FuzzTarget]:
    yield from _target()


@pytest.fixture
def fresh_target() -> Iterator[FuzzTarget]:
    """A host of its own (the probe plugin alone, quick to start), for a case that is known to break it."""
    yield from _target(("probe",))


def _target(plugins: tuple[str, ...] = FuzzTarget.PLUGINS) -> Iterator[FuzzTarget]:
    started = time.monotonic()
    target = FuzzTarget(REPORT, plugins)
    if not REPORT.rss_start:
        REPORT.rss_start = target.rss()
    try:
        yield target
    finally:
        REPORT.rss_end = target.rss()
        REPORT.log_bytes += target.log.bytes
        REPORT.log_lines += target.log.lines
        target.close()
        REPORT.seconds += time.monotonic() - started


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if REPORT.frames:
        terminalreporter.section("fuzz report")
        for line in REPORT.lines():
            terminalreporter.write_line(line)
