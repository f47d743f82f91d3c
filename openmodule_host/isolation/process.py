"""The ``process`` isolation mode: a plugin in a supervised child process of its own.

The child (:mod:`openmodule_host.child`) is a host with that one plugin, on the parent's broker:
on the wire it is the same service as in the parent's threads, with its own sockets. A crash of the child
(a segfault in a C extension, ``os._exit``, the OOM killer) takes only that plugin down; the supervisor
restarts it after a back-off that doubles with each crash, and quarantines it (no more restarts) after
``crash_loop_crashes`` crashes within ``crash_loop_window`` seconds.

While it runs, the child reports its plugin's state and figures on a pipe of its own (:mod:`.status`),
kept in :attr:`PluginProcess.status`. The child gets its settings as one JSON line on stdin (not in its
arguments or environment, which other users can read in ``/proc``) and keeps reading stdin: when the parent
goes away (even killed), the pipe closes and the child stops. It runs in a session of its own, so a
terminal's Ctrl-C reaches only the parent, which stops the children in order. Its environment is the
parent's without the database credentials (:data:`WITHHELD_ENV`).

Before each launch (the first and each restart) the parent prepares the plugin's database
(``prepare_database``, on a thread of its own, within the start deadline) and hands the child the result.

The supervisor thread beats its heartbeat at least once a second (it waits for the child in slices) and
catches whatever one round raises (counted, logged at most once per 5 s); the host's watchdog restarts it
if it ends all the same.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO, Any

from ..states import PluginState
from ..watchdog import Heartbeat
from .status import STATUS_INTERVAL, ChildStatus, read_reports

__all__ = ["SUPERVISOR_STOP_TIMEOUT", "PluginProcess", "RestartPolicy"]

#: the child's last stdout line once its plugin runs (the host's ``ready`` report).
_READY_PREFIX = "ready: "
#: the child's stdout line for a wrong setting (then a JSON string, the error), before it exits with status 2.
CONFIG_ERROR_PREFIX = "config error: "
#: the child's stdout lines kept for a failure's reason (whatever its plugin prints must not pile up).
_KEPT_LINES = 100
#: the supervisor waits in slices of this many seconds, beating its heartbeat in between.
_BEAT = 1.0
#: after its child ended, the longest :meth:`PluginProcess.stop` waits for the supervisor (it reads the last report).
SUPERVISOR_STOP_TIMEOUT = 1.0
#: the host's secrets a child does not get in its environment (it gets its plugin's own database login).
WITHHELD_ENV = ("DATABASE_URL", "PGPASSWORD")


@dataclass(frozen=True)
class _Launch:
    """A child on its way up: the process, its ``ready`` line (when it came), its stdout so far, and the
    thread that reads its status reports."""

    proc: subprocess.Popen[str]
    ready: threading.Event
    lines: deque[str]
    deadline: float
    reports: threading.Thread
    #: set once its stdout is read to the end (a child that exited has said all it will).
    said_all: threading.Event = field(default_factory=threading.Event)


@dataclass(frozen=True)
class RestartPolicy:
    backoff: float = 1.0  # seconds before the first restart; doubles with each crash in a row
    backoff_max: float = 30.0
    crash_loop_crashes: int = 5  # this many crashes ...
    crash_loop_window: float = 300.0  # ... within this many seconds: quarantined


def describe_exit(code: int) -> str:
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exited with status {code}"


class PluginProcess:
    """Starts, watches and stops one plugin's child process.

    ``on_change(state, reason)`` is called (on the supervisor's thread) whenever the state changes.
    ``status`` holds what the child reports of its plugin (see :mod:`.status`). ``prepare_database``, when
    given, runs before each launch; what it returns joins the child's spec, and when it raises, the launch
    fails with its error (at a restart: counted as a crash).
    """

    def __init__(
        self,
        plugin: str,
        spec: dict[str, Any],
        policy: RestartPolicy,
        start_timeout: float,
        on_change: Callable[[PluginState, str], None],
        log: logging.Logger,
        prepare_database: Callable[[], dict[str, Any]] | None = None,
    ) -> None:
        self.plugin = plugin
        self._spec = spec
        self._prepare_database = prepare_database
        self._policy = policy
        self._start_timeout = start_timeout
        self._on_change = on_change
        self._log = log
        self.state = PluginState.STARTING
        self.reason = ""
        #: the child's error when its first start found a wrong setting (the host then stops, exit status 2).
        self.config_error: str | None = None
        #: restarts after a crash, since the host started.
        self.restarts = 0
        self.status = ChildStatus(STATUS_INTERVAL)
        self._crashes: deque[float] = deque()
        self._proc: subprocess.Popen[str] | None = None
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._supervisor: threading.Thread | None = None
        self._launched: _Launch | None = None
        #: the first launch (or why it failed), made by the thread ``launch()`` starts.
        self._first: _Launch | str = "not launched"
        self._launching: threading.Thread | None = None
        #: beaten by the supervisor thread; counts what it caught.
        self.heartbeat = Heartbeat(f"process-{plugin}", _BEAT, log)

    @property
    def pid(self) -> int | None:
        proc = self._proc
        return proc.pid if proc is not None and proc.poll() is None else None

    # -- start -----------------------------------------------------------------------------------

    def launch(self) -> None:
        """Prepare and start the child on a thread without waiting for it (several children, their databases
        included, are prepared and start side by side); see :meth:`started`."""

        def first() -> None:
            try:
                self._first = self._launch()
            except Exception as error:  # (Popen: no interpreter, no file descriptors left ...)
                self._first = f"its process could not be started: {type(error).__name__}: {error}"

        self._launching = threading.Thread(target=first, name=f"omh-process-{self.plugin}-launch", daemon=True)
        self._launching.start()

    def started(self) -> bool:
        """Wait until the launched child's plugin runs, then supervise it; False (with ``reason``) if it does
        not (as a plugin that fails to start in a thread, it is not restarted)."""
        assert self._launching is not None, "launch() first"
        self._launching.join()  # bounded: the preparation by the start deadline, the rest takes no time
        first = self._first
        ok, reason = (False, first) if isinstance(first, str) else self._await(first)
        if not ok:
            self._set(PluginState.FAILED, reason)
            return False
        self.status.expect_reports()
        self._set(PluginState.RUNNING, "")
        self._supervisor = threading.Thread(target=self._supervise, name=f"omh-process-{self.plugin}", daemon=True)
        self._supervisor.start()
        return True

    @property
    def supervisor(self) -> threading.Thread | None:
        """The supervisor thread while it is meant to run (not before start, after quarantine or at stop)."""
        if self._stopping.is_set() or self.state in (PluginState.QUARANTINED, PluginState.FAILED, PluginState.STOPPED):
            return None
        return self._supervisor

    def restart_supervisor(self) -> None:
        """A new supervisor in place of one that ended while the child still needs one."""
        if self.supervisor is not None and not self.supervisor.is_alive():
            self._supervisor = threading.Thread(target=self._supervise, name=f"omh-process-{self.plugin}",
                                                daemon=True)
            self._supervisor.start()

    def _prepared(self, deadline: float) -> dict[str, Any] | str:
        """What ``prepare_database`` adds to the child's spec, or why there is nothing to launch. It runs on
        a thread of its own while this one beats the heartbeat (a slow database server must not look like a
        stuck supervisor to the watchdog), and is abandoned at ``deadline`` or when the host stops."""
        prepare = self._prepare_database
        if prepare is None:
            return {}
        done = threading.Event()
        outcome: list[dict[str, Any] | Exception] = []

        def run() -> None:
            try:
                outcome.append(prepare())
            except Exception as error:
                outcome.append(error)
            finally:
                done.set()

        threading.Thread(target=run, name=f"omh-process-{self.plugin}-database", daemon=True).start()
        while not done.wait(0.05):
            self.heartbeat.beat()
            if self._stopping.is_set():
                return "stopped while its database was prepared"
            if time.monotonic() > deadline:
                return f"its database was not prepared within {self._start_timeout:g} s"
        result = outcome[0]
        if isinstance(result, Exception):
            return f"its database could not be prepared: {result}"
        return result

    def _launch(self) -> _Launch | str:
        """Prepare the database and start the child; why not, when the preparation failed."""
        deadline = time.monotonic() + self._start_timeout
        prepared = self._prepared(deadline)
        if isinstance(prepared, str):
            return prepared
        # The status reports come on a pipe of their own: whatever the plugin prints cannot garble them.
        status_in, status_out = os.pipe()
        try:
            proc = subprocess.Popen(
                [sys.executable, "-m", "openmodule_host.child"],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=None, text=True, errors="replace",
                start_new_session=True, pass_fds=(status_out,), env=_child_environment(),
            )
        except BaseException:
            os.close(status_in)
            raise
        finally:
            os.close(status_out)  # the child's end: once it is gone, the reader sees the end of the pipe
        with self._lock:
            self._proc = proc
        assert proc.stdin is not None and proc.stdout is not None
        spec = {**self._spec, **prepared, "status": {"fd": status_out, "interval": self.status.interval}}
        try:
            proc.stdin.write(json.dumps(spec) + "\n")
            proc.stdin.flush()
        except OSError:
            pass  # it died at once: _await finds out
        reports = threading.Thread(
            target=read_reports, args=(os.fdopen(status_in, "rb"), self.status.begin(), self.status, self.plugin,
                                       self._log),
            name=f"omh-process-{self.plugin}-status", daemon=True,
        )
        launch = _Launch(proc, threading.Event(), deque(maxlen=_KEPT_LINES), deadline, reports)
        threading.Thread(target=self._read_stdout, args=(proc.stdout, launch), daemon=True,
                         name=f"omh-process-{self.plugin}-out").start()
        reports.start()
        self._launched = launch
        return launch

    def _await(self, launch: _Launch) -> tuple[bool, str]:
        """Wait for the child's ``ready`` line. Returns (ok, reason)."""
        proc = launch.proc
        while not launch.ready.wait(0.05):
            self.heartbeat.beat()
            if proc.poll() is not None or self._stopping.is_set() or time.monotonic() > launch.deadline:
                break
        if launch.ready.is_set():
            self._log.info("plugin %s: running in process %d", self.plugin, proc.pid)
            return True, ""
        if proc.poll() is None:
            self._terminate(proc, 2.0)
            why = "stopped" if self._stopping.is_set() else f"not ready within {self._start_timeout:g} s"
        else:
            _close_stdin(proc)
            why = describe_exit(proc.returncode)
            launch.said_all.wait(_BEAT)  # its last lines may still be on their way to the reader
            said_config = [line for line in launch.lines if line.startswith(CONFIG_ERROR_PREFIX)]
            if proc.returncode == 2 and said_config:
                self.config_error = json.loads(said_config[-1][len(CONFIG_ERROR_PREFIX):])
                return False, f"its settings are wrong: {self.config_error}"
        said = next((line for line in reversed(launch.lines) if line.startswith("plugin ")), "")
        return False, f"its process {why}" + (f" ({said})" if said else "")

    def _read_stdout(self, stdout: IO[str], launch: _Launch) -> None:
        with stdout:
            for line in stdout:
                line = line.rstrip("\n")
                launch.lines.append(line)
                if line.startswith(_READY_PREFIX):
                    launch.ready.set()
        launch.said_all.set()

    # -- supervise -------------------------------------------------------------------------------

    def _supervise(self) -> None:
        while True:
            self.heartbeat.beat()
            try:
                if not self._supervise_round():
                    return
            except Exception as error:
                self.heartbeat.failed("supervising its child process", error)
                if self._stopping.wait(_BEAT):  # (not a busy loop if it keeps failing)
                    return

    def _wait_for_exit(self, proc: subprocess.Popen[str]) -> int:
        while True:
            try:
                return proc.wait(_BEAT)
            except subprocess.TimeoutExpired:
                self.heartbeat.beat()

    def _sleep(self, seconds: float) -> bool:
        """Wait ``seconds`` (beating); True if the host stops meanwhile."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            if self._stopping.wait(min(left, _BEAT)):
                return True
            self.heartbeat.beat()
        return self._stopping.is_set()

    def _supervise_round(self) -> bool:
        """Wait for the child to exit, then restart it (after the back-off) or quarantine it. False: done."""
        proc = self._proc
        assert proc is not None
        code = self._wait_for_exit(proc)
        _close_stdin(proc)
        self._end_reports()
        crashed = f"its process {describe_exit(code)}"
        while True:  # again while a restart fails before its child starts (its database is not prepared)
            if self._stopping.is_set():
                return False
            now = time.monotonic()
            self._crashes.append(now)
            while self._crashes and self._crashes[0] < now - self._policy.crash_loop_window:
                self._crashes.popleft()
            if len(self._crashes) >= self._policy.crash_loop_crashes:
                self._set(PluginState.QUARANTINED, f"{crashed}; {len(self._crashes)} crashes within "
                          f"{self._policy.crash_loop_window:g} s: quarantined, not restarted")
                self._log.error("plugin %s: %s", self.plugin, self.reason)
                return False
            delay = min(self._policy.backoff * 2 ** (len(self._crashes) - 1), self._policy.backoff_max)
            self._set(PluginState.RESTARTING, f"{crashed}; restarting in {delay:g} s")
            self._log.error("plugin %s: %s", self.plugin, self.reason)
            if self._sleep(delay):
                return False
            launch = self._launch()
            if isinstance(launch, _Launch):
                break
            crashed = launch
            self._log.error("plugin %s: restart failed: %s", self.plugin, crashed)
        self.restarts += 1
        ok, reason = self._await(launch)
        if self._stopping.is_set():
            return False
        if ok:
            self.status.expect_reports()
            self._set(PluginState.RUNNING, "")
        else:
            self._log.error("plugin %s: restart failed: %s", self.plugin, reason)
        return True

    def _end_reports(self) -> None:
        """The child is gone: read what it still reported, then add its figures to the totals."""
        if self._launched is not None:
            self._launched.reports.join(1.0)
        self.status.end()

    def _set(self, state: PluginState, reason: str) -> None:
        """The host takes the change (``on_change``: its plugin's state and reason, the alert) before this
        process shows it: whoever sees the new ``state`` here sees the host's side of it too."""
        self._on_change(state, reason)
        self.reason = reason
        self.state = state

    # -- stop ------------------------------------------------------------------------------------

    def stop(self, timeout: float) -> None:
        """Ask the child to stop (SIGTERM: it drains and calls its shutdown hook), kill it after ``timeout``."""
        self._stopping.set()
        with self._lock:
            proc = self._proc
        if proc is not None and proc.poll() is None:
            self._terminate(proc, timeout)
        if self._supervisor is not None:
            self._supervisor.join(SUPERVISOR_STOP_TIMEOUT)
        if self.state is not PluginState.QUARANTINED and self.state is not PluginState.FAILED:
            self._set(PluginState.STOPPED, "")

    def _terminate(self, proc: subprocess.Popen[str], timeout: float) -> None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self._log.warning("plugin %s: its process did not stop within %g s; killing it", self.plugin, timeout)
            proc.kill()
            proc.wait()
        _close_stdin(proc)


def _close_stdin(proc: subprocess.Popen[str]) -> None:
    """The child's end of the pipe closes with it; this closes ours."""
    if proc.stdin is not None:
        with contextlib.suppress(OSError):
            proc.stdin.close()


def _child_environment() -> dict[str, str]:
    """The parent's environment without :data:`WITHHELD_ENV` (e.g. openmodule's ``DEBUG``, ``AUTH_RESOURCE``
    and the plugin's own variables stay)."""
    return {key: value for key, value in os.environ.items() if key not in WITHHELD_ENV}
