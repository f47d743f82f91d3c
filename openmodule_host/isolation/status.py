"""What a plugin's child process tells its parent about the plugin: its state and its figures.

The child host writes one JSON line (a :class:`ChildReport`) every :data:`STATUS_INTERVAL` seconds on a
pipe of its own, from a thread of its own (:class:`StatusReporter`), never from the plugin's worker: a
stuck, spinning or flooding plugin shows in the reports instead of silencing them. The line carries the
plugin's state as the child's health computes it (``degraded`` with the reason while a handler is stuck
or the ``health`` hook failed) and the child's per-plugin figures.

The parent keeps the last report of the current child (:class:`ChildStatus`). A child that stops
reporting for more than ``stall_after + 3 * STATUS_INTERVAL`` seconds (wedged with the GIL held, stopped
by SIGSTOP) shows as degraded: ``stall_after`` is how long the host tolerates a busy handler before it
calls a plugin degraded, and three missed reports are the slack for a loaded machine. It is not killed
for that: a thread plugin's stuck handler is not either, and a stopped process may be under a debugger.

The counters add up over the plugin's children: when one ends, its last report is added to the totals
of the earlier ones, so they never go down across restarts.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable
from typing import BinaryIO, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..throttle import LogThrottle

__all__ = ["COUNTERS", "STATUS_INTERVAL", "ChildReport", "ChildStatus", "StatusReporter", "read_reports"]

#: seconds between two reports of a child.
STATUS_INTERVAL = 1.0
#: a report's message (the plugin's own health message, possibly) is cut to this many characters.
MAX_MESSAGE = 1000
#: a line longer than this is not a report: it is dropped whole (a report is a few hundred bytes).
_MAX_LINE = 16 * 1024
_LOG_INTERVAL = 5.0

#: the figures that count up (summed over a plugin's children); ``plugin_mailbox_depth`` is the only gauge.
COUNTERS = (
    "plugin_messages_handled", "plugin_handler_errors", "plugin_invalid_messages", "plugin_mailbox_dropped",
    "plugin_rpcs_served", "plugin_rpcs_failed", "plugin_busy_seconds", "plugin_publish_delayed",
    "plugin_publish_dropped", "plugin_jobs_run", "plugin_jobs_failed", "plugin_jobs_skipped",
)

_Figure = Field(ge=0, allow_inf_nan=False)


class ChildReport(BaseModel):
    """One line from a child: its plugin's state and figures (the ``plugin_*`` metrics, by id)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    state: Literal["running", "degraded"]
    message: str | None = Field(None, max_length=MAX_MESSAGE)
    plugin_messages_handled: int = _Figure
    plugin_handler_errors: int = _Figure
    plugin_invalid_messages: int = _Figure
    plugin_mailbox_depth: int = _Figure
    plugin_mailbox_dropped: int = _Figure
    plugin_rpcs_served: int = _Figure
    plugin_rpcs_failed: int = _Figure
    plugin_busy_seconds: float = _Figure
    plugin_publish_delayed: int = _Figure
    plugin_publish_dropped: int = _Figure
    plugin_jobs_run: int = _Figure
    plugin_jobs_failed: int = _Figure
    plugin_jobs_skipped: int = _Figure


# -- the child's side --------------------------------------------------------------------------------


class StatusReporter:
    """Writes ``report()`` as one line on ``fd`` every ``interval`` seconds, on a thread of its own.

    ``report`` returns None while there is nothing to report (the plugin is not running). It stops when
    asked, or when the parent's end of the pipe is gone.
    """

    def __init__(self, fd: int, interval: float, report: Callable[[], ChildReport | None],
                 log: logging.Logger) -> None:
        os.set_inheritable(fd, False)  # for this process alone: the processes its plugin starts do not get it
        self._out = os.fdopen(fd, "wb")
        self._interval = interval
        self._report = report
        self._log = log
        self._stopped = threading.Event()
        self._errors = LogThrottle(_LOG_INTERVAL)
        self._thread = threading.Thread(target=self._run, name="omh-status", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join(self._interval + 1.0)

    def _run(self) -> None:
        try:
            while True:
                self._send()
                if self._stopped.wait(self._interval):
                    return
        except OSError:  # the parent is gone (its stdin watcher stops this host)
            return
        finally:
            with contextlib.suppress(OSError):
                self._out.close()

    def _send(self) -> None:
        try:
            report = self._report()
        except Exception:  # the last line of defence: reporting goes on with the next interval
            if (quiet := self._errors.allow()) is not None:
                self._log.exception("could not compute the status report (%d more since the last line)", quiet)
            return
        if report is not None:
            self._out.write(report.model_dump_json().encode() + b"\n")
            self._out.flush()


# -- the parent's side -------------------------------------------------------------------------------


class ChildStatus:
    """The parent's view of a plugin's children: the current child's last report, the earlier ones' totals.

    The supervisor calls :meth:`begin` for each child it launches, :meth:`expect_reports` once its plugin
    runs and :meth:`end` once it is gone; a reader thread per child calls :meth:`receive`.
    """

    def __init__(self, interval: float = STATUS_INTERVAL) -> None:
        self.interval = interval
        self._lock = threading.Lock()
        self._child = 0  # the current child's number; reports of any other are late and ignored
        self._report: ChildReport | None = None
        self._since = time.monotonic()  # the last report (or the moment reports were due)
        self._totals = dict.fromkeys(COUNTERS, 0.0)
        #: reports that were not valid, from any child (each logged, at most one line per 5 s).
        self.invalid = 0

    def begin(self) -> int:
        """A new child is launched: returns its number, for :meth:`receive`."""
        with self._lock:
            self._child += 1
            self._report = None
            return self._child

    def expect_reports(self) -> None:
        """The current child's plugin runs: it must report from now on."""
        with self._lock:
            self._since = time.monotonic()

    def receive(self, child: int, report: ChildReport) -> None:
        with self._lock:
            if child == self._child:
                self._report = report
                self._since = time.monotonic()

    def reject(self) -> None:
        """Count a line that was not a valid report."""
        with self._lock:
            self.invalid += 1

    def end(self) -> None:
        """The current child is gone: its last figures join the totals; nothing more of it counts."""
        with self._lock:
            if self._report is not None:
                for name in COUNTERS:
                    self._totals[name] += getattr(self._report, name)
            self._report = None
            self._child += 1

    def health(self, stall_after: float) -> tuple[str, str | None]:
        """(state, message) of the running child's plugin: its report's, or degraded when it went silent."""
        with self._lock:
            report, silent = self._report, time.monotonic() - self._since
        if silent > stall_after + 3 * self.interval:
            return "degraded", f"no status from its process for {silent:.0f} s"
        if report is None:
            return "running", None
        return report.state, report.message

    def values(self) -> dict[str, float]:
        """The ``plugin_*`` figures: the counters summed over the children, the current child's mailbox depth."""
        with self._lock:
            report, totals = self._report, dict(self._totals)
        values = {name: totals[name] + (getattr(report, name) if report is not None else 0) for name in COUNTERS}
        values["plugin_busy_seconds"] = round(values["plugin_busy_seconds"], 6)
        values["plugin_mailbox_depth"] = report.plugin_mailbox_depth if report is not None else 0
        return values


def read_reports(stream: BinaryIO, child: int, status: ChildStatus, plugin: str, log: logging.Logger) -> None:
    """Read one child's reports until its end of the pipe closes (on a thread of the parent's)."""
    throttle = LogThrottle(_LOG_INTERVAL)
    with stream:
        while line := stream.readline(_MAX_LINE):
            if not line.endswith(b"\n"):  # longer than any report: drop the rest of it too
                while (rest := stream.readline(_MAX_LINE)) and not rest.endswith(b"\n"):
                    pass
                why = f"a line longer than {_MAX_LINE} bytes"
            else:
                try:
                    status.receive(child, ChildReport.model_validate_json(line))
                    continue
                except ValidationError as error:
                    why = f"{error.error_count()} error(s), first: {error.errors()[0]['msg']}"
                except Exception as error:  # the last line of defence: the reader must outlive any line
                    why = f"{type(error).__name__}: {error}"
            status.reject()
            if (quiet := throttle.allow()) is not None:
                log.warning("plugin %s: an invalid status report from its process was dropped: %s "
                            "(%d more since the last line)", plugin, why, quiet)
