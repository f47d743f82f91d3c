"""Keeps repeated warnings from turning a flood of bad input into a flood of log lines."""

from __future__ import annotations

import time

__all__ = ["LogThrottle"]


class LogThrottle:
    """Allows one log line per ``interval`` seconds and counts the events in between.

    Not thread-safe: each throttle belongs to one writer thread (the intake, or a mailbox's lock holder).
    """

    def __init__(self, interval: float = 5.0) -> None:
        self.interval = interval
        self._last = float("-inf")
        self._suppressed = 0

    def allow(self) -> int | None:
        """None to stay quiet; otherwise log now, and the result is how many events were kept quiet."""
        now = time.monotonic()
        if now - self._last < self.interval:
            self._suppressed += 1
            return None
        self._last = now
        suppressed, self._suppressed = self._suppressed, 0
        return suppressed
