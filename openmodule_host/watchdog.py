"""Keeps the host's own threads honest: each one beats a heartbeat, a watchdog notices one that stops.

Every thread the host owns (the intake, the health responder, the connection ticker, the HTTP server,
each child process's supervisor) runs a loop that catches every exception of one round (counted in
:attr:`Heartbeat.errors`, logged at most once per 5 s with its type) and beats its :class:`Heartbeat`
every round, idle or not. The :class:`Watchdog` thread checks each one every ``interval``:

- *dead*: the thread ended while it should run. It is restarted when the thread has a ``restart`` (at most
  ``max_restarts`` times within ``restart_window`` seconds);
- *stuck*: no beat for ``period + timeout`` seconds (``period``: how long the thread may wait between two
  beats when idle). A stuck thread is never restarted: it may wake up and use what a new one would use.

A problem turns the host unhealthy (:meth:`Watchdog.problems`), logs an ERROR and calls ``on_change``;
one it cannot recover from calls ``on_fatal`` (the host stops with exit status 70, so that a supervisor
restarts it).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

from .throttle import LogThrottle

__all__ = ["EXIT_SOFTWARE", "STOP_TIMEOUT", "Heartbeat", "ThreadState", "Watchdog"]

#: the exit status of a host the watchdog stopped (``EX_SOFTWARE`` in sysexits.h).
EXIT_SOFTWARE: Final = 70
#: the longest :meth:`Watchdog.stop` waits for the watchdog thread (a stage of the host's stop).
STOP_TIMEOUT: Final = 2.0


class Heartbeat:
    """One host thread's pulse and error count; written by that thread, read by any."""

    __slots__ = ("_lock", "_log", "_throttle", "errors", "last", "name", "period")

    def __init__(self, name: str, period: float, log: logging.Logger) -> None:
        self.name = name
        #: the longest the thread waits between two beats when all is well (e.g. its poll timeout).
        self.period = period
        self.last = time.monotonic()
        #: exceptions caught at the thread's loop (each cost one round's work, not the thread).
        self.errors = 0
        self._log = log
        self._lock = threading.Lock()
        self._throttle = LogThrottle(5.0)

    def beat(self) -> None:
        self.last = time.monotonic()

    def failed(self, what: str, error: BaseException) -> None:
        """Count an exception caught at the loop; log it with its type, at most once per 5 s."""
        with self._lock:
            self.errors += 1
            quiet = self._throttle.allow()
            errors = self.errors
        if quiet is not None:
            self._log.error("%s thread: %s raised %s: %s (%d more not logged since the last report, %d in all); "
                            "going on", self.name, what, type(error).__name__, error, quiet, errors,
                            exc_info=error)


@dataclass
class ThreadState:
    """What the watchdog knows about one thread."""

    heartbeat: Heartbeat
    #: the thread as it is now (a restart replaces it); None while it is not meant to run.
    thread: Callable[[], threading.Thread | None]
    #: starts a new thread in place of a dead one; None when that is not safe.
    restart: Callable[[], None] | None
    #: ``ok``, ``dead`` or ``stuck``.
    state: str = "ok"
    reason: str = ""
    restarts: int = 0
    recent_restarts: deque[float] = field(default_factory=deque)


class Watchdog:
    """Watches the registered threads from a thread of its own (see the module)."""

    def __init__(
        self,
        timeout: float,
        log: logging.Logger,
        *,
        on_change: Callable[[str, str, str], None] = lambda thread, state, reason: None,
        on_fatal: Callable[[str], None] = lambda reason: None,
        every_round: Callable[[], object] = lambda: None,
        interval: float | None = None,
        max_restarts: int = 3,
        restart_window: float = 300.0,
    ) -> None:
        self.timeout = timeout
        self.interval = interval if interval is not None else min(1.0, timeout / 4)
        self.max_restarts = max_restarts
        self.restart_window = restart_window
        self._log = log
        self._on_change = on_change
        self._on_fatal = on_fatal
        #: the host's own round: a look at its plugins (their ``plugin_state`` alerts follow their states), and
        #: at its threads' CPU.
        self._every_round = every_round
        self._threads: dict[str, ThreadState] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        #: why the host gives up (set once).
        self.fatal: str | None = None
        self.heartbeat = Heartbeat("watchdog", self.interval, log)
        self._thread = threading.Thread(target=self._run, name="omh-watchdog", daemon=True)

    def watch(self, heartbeat: Heartbeat, thread: Callable[[], threading.Thread | None],
              restart: Callable[[], None] | None = None) -> None:
        with self._lock:
            self._threads[heartbeat.name] = ThreadState(heartbeat, thread, restart)

    def unwatch(self, name: str) -> None:
        with self._lock:
            self._threads.pop(name, None)

    @property
    def threads(self) -> list[ThreadState]:
        with self._lock:
            return sorted(self._threads.values(), key=lambda watched: watched.heartbeat.name)

    def problems(self) -> dict[str, str]:
        """The threads that are not well, by name: ``"dead: ..."`` or ``"stuck: ..."``."""
        return {watched.heartbeat.name: f"{watched.state}: {watched.reason}"
                for watched in self.threads if watched.state != "ok"}

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(STOP_TIMEOUT)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.heartbeat.beat()
            try:
                self.check()
            except Exception as error:
                self.heartbeat.failed("a check", error)
            try:
                self._every_round()
            except Exception as error:
                self.heartbeat.failed("the host's round (plugin states, CPU placement)", error)

    def check(self) -> None:
        """One look at every thread (the watchdog thread calls it every ``interval``)."""
        now = time.monotonic()
        for watched in self.threads:
            thread = watched.thread()
            if thread is None or self._stop.is_set():
                continue
            age = now - watched.heartbeat.last
            if not thread.is_alive():
                self._trouble(watched, "dead", "the thread ended", now)
            elif age > watched.heartbeat.period + self.timeout:
                self._trouble(watched, "stuck", f"no progress for {age:.0f} s", now)
            elif watched.state != "ok":
                self._log.warning("host thread %s runs again", watched.heartbeat.name)
                watched.state, watched.reason = "ok", ""
                self._on_change(watched.heartbeat.name, "ok", "")

    def _trouble(self, watched: ThreadState, state: str, reason: str, now: float) -> None:
        name = watched.heartbeat.name
        if watched.state != state:
            watched.state, watched.reason = state, reason
            self._log.error("host thread %s is %s: %s", name, state, reason)
            self._on_change(name, state, reason)
        if state == "dead" and watched.restart is not None:
            recent = watched.recent_restarts
            while recent and recent[0] < now - self.restart_window:
                recent.popleft()
            if len(recent) < self.max_restarts:
                recent.append(now)
                watched.restarts += 1
                watched.heartbeat.beat()  # the new thread's grace period starts now
                self._log.error("restarting host thread %s (restart %d)", name, watched.restarts)
                watched.restart()
                return
            watched.reason = reason = f"{reason}; restarted {len(recent)} times within {self.restart_window:g} s"
        self._give_up(f"host thread {name} is {state}: {reason}")

    def _give_up(self, reason: str) -> None:
        if self.fatal is not None:
            return
        self.fatal = reason
        self._log.critical("%s: stopping the host (exit status %d) for a supervisor to restart it",
                           reason, EXIT_SOFTWARE)
        self._on_fatal(reason)
