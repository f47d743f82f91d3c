"""Each plugin's publish budget: how fast it may put messages on the host's one shared PUB socket.

Every plugin publishes through the same PUB socket, and its messages reach the host's own intake through
the same broker pipe as everybody else's. A plugin that publishes as fast as it can (from a loop in a
handler or a thread of its own) filled those ZeroMQ queues, and ZeroMQ then dropped *other* plugins'
messages and RPC requests at a high-water mark, silently (issue 10, item 15). A budget per plugin keeps
any one plugin far below what the shared sockets and the intake can carry.

The budget is a token bucket (kept as a GCRA "theoretical arrival time": one float, no refill timer):
``rate`` messages per second on average, bursts of up to ``burst`` at once.

- What a plugin sends of its own accord (``core.publish``, its alerts, its RPC requests) takes a token.
  With none left, the sending thread waits for the next one (that thread only: its own worker or its
  own thread slows down, nobody else's), but at most ``wait`` seconds: a message that would have to wait
  longer is dropped, counted and logged (at most one line per 5 s).
- RPC replies are never delayed or dropped by the budget: they answer requests other services sent at
  their own pace, a caller waits for them, and they may be sent from the intake thread, which must never
  block. A reply takes a token when one is left, so a plugin that answers many RPCs has less left for
  its own publishing, not the other way round.
"""

from __future__ import annotations

import logging
import threading
import time

from .throttle import LogThrottle

__all__ = ["PublishBudget"]

_LOG_INTERVAL = 5.0
_monotonic = time.monotonic


class PublishBudget:
    """``rate`` messages per second (0: unbounded), bursts of ``burst``, a send waits at most ``wait`` s."""

    def __init__(self, plugin: str, rate: float, burst: int, wait: float, log: logging.Logger) -> None:
        if rate < 0 or burst < 1 or wait < 0:
            raise ValueError(f"a publish budget needs rate >= 0, burst >= 1 and wait >= 0, got {rate}, {burst}, {wait}")
        self.plugin = plugin
        self.rate = rate
        self.burst = burst
        self.wait = wait
        self._log = log
        self._interval = 1.0 / rate if rate else 0.0
        #: how far ahead of now the theoretical arrival time may run before a send must wait: a full burst.
        self._tolerance = (burst - 1) * self._interval
        self._tat = float("-inf")
        self._lock = threading.Lock()
        self._delay_log = LogThrottle(_LOG_INTERVAL)
        self._drop_log = LogThrottle(_LOG_INTERVAL)
        #: sends that had to wait for the budget.
        self.delayed = 0
        #: messages the plugin sent that never went out: over its budget, or refused by the full socket.
        self.dropped = 0

    def acquire(self) -> bool:
        """For a message the plugin sends of its own accord: True to send it (after waiting for the budget
        if it is spent), False if it is dropped (counted and logged here)."""
        if not self._interval:
            return True
        lock = self._lock
        lock.acquire()  # (rather than ``with``: 0.08 us less on every message a plugin publishes)
        try:
            now = _monotonic()
            tat = self._tat
            if tat < now:
                tat = now
            delay = tat - self._tolerance - now
            if delay <= 0.0:  # within the budget: the usual case, kept short
                self._tat = tat + self._interval
                return True
            if delay > self.wait:
                self.dropped += 1
                quiet = self._drop_log.allow()
            else:
                self._tat = tat + self._interval
                self.delayed += 1
                quiet = self._delay_log.allow()
        finally:
            lock.release()
        if delay > self.wait:
            if quiet is not None:
                self._log_drop("its publish budget is spent", quiet)
            return False
        if quiet is not None:
            self._log.warning(
                "plugin %s publishes faster than its budget (%g messages/s, bursts of %d): its sends wait; "
                "%d more waited since the last report", self.plugin, self.rate, self.burst, quiet,
            )
        time.sleep(delay)
        return True

    def charge(self) -> None:
        """For an RPC reply: never waits, never refused; takes a token if one is left."""
        if not self._interval:
            return
        with self._lock:
            now = _monotonic()
            tat = max(self._tat, now)
            if tat - now <= self._tolerance:
                self._tat = tat + self._interval

    def refused(self) -> None:
        """Count (and log) a message of this plugin that the shared socket refused: its queue was full."""
        with self._lock:
            self.dropped += 1
            quiet = self._drop_log.allow()
        if quiet is not None:
            self._log_drop("the host's publish queue is full", quiet)

    def _log_drop(self, reason: str, quiet: int) -> None:
        self._log.error("plugin %s: dropped a message it sent: %s; %d more dropped since the last report, "
                        "%d in all", self.plugin, reason, quiet, self.dropped)
