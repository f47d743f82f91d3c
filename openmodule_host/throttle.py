"""Keeps repeated warnings from turning a flood of bad input into a flood of log lines."""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Hashable

__all__ = ["KeyedLogThrottle", "LogThrottle"]


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


class KeyedLogThrottle:
    """One log line per key per ``interval`` seconds; the next line of a key says how many were kept quiet.

    A key names one kind of event, e.g. ``(plugin, topic, "invalid")``. Hostile input can make keys of its
    own (a new RPC type per request), so at most ``max_keys`` are remembered: once that many were logged
    within the last interval, a further new key shares one overflow key (:data:`OVERFLOW`), itself
    throttled. A key whose last line is older than the interval is forgotten when room is needed (its
    next event is logged anyway). Memory stays bounded whatever arrives; a flood of distinct keys logs at
    most ``max_keys + 1`` lines per interval.

    Thread-safe (a plugin's worker and the intake thread may share one).
    """

    #: the key every new key shares while ``max_keys`` keys are remembered.
    OVERFLOW = "(other)"

    def __init__(self, interval: float = 5.0, max_keys: int = 64) -> None:
        self.interval = interval
        self.max_keys = max_keys
        #: key -> [time of its last line, events kept quiet since]; in the order of their last lines.
        self._keys: OrderedDict[Hashable, list[float]] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._keys)

    def allow(self, key: Hashable) -> int | None:
        """None to stay quiet; otherwise log now, and the result is how many events of the key were kept quiet."""
        return self._admit(key)[0]

    def _admit(self, key: Hashable) -> tuple[int | None, Hashable]:
        """:meth:`allow`, and the key the event was counted under (``key`` or :data:`OVERFLOW`)."""
        now = time.monotonic()
        with self._lock:
            entry = self._keys.get(key)
            if entry is None:
                key = self._make_room(key, now)
                entry = self._keys.get(key)
                if entry is None:
                    self._keys[key] = [now, 0]
                    return 0, key
            if now - entry[0] < self.interval:
                entry[1] += 1
                return None, key
            suppressed = int(entry[1])
            entry[0], entry[1] = now, 0
            self._keys.move_to_end(key)
            return suppressed, key

    def _make_room(self, key: Hashable, now: float) -> Hashable:
        """The key to use for a new key: itself if there is room (made by forgetting a stale key), else OVERFLOW."""
        if len(self._keys) < self.max_keys:
            return key
        oldest, (last, _) = next(iter(self._keys.items()))
        if now - last >= self.interval:
            del self._keys[oldest]
            return key
        return self.OVERFLOW

    def log(self, log: logging.Logger, level: int, key: Hashable, message: str, *args: object,
            exc_info: bool = False) -> bool:
        """Log ``message % args`` unless the key is being kept quiet; returns whether it was logged.

        A line after quiet events ends with how many there were. ``exc_info`` adds the current exception's
        traceback (so a key's first error per interval is logged in full). An ERROR line with a traceback
        reaches sentry through its logging integration; one that is kept quiet is reported to sentry
        directly, so every such exception still does (sentry's own rate limits apply).
        """
        suppressed, counted_as = self._admit(key)
        if suppressed is None:
            # sentry-sdk is loaded only when sentry is on (observability.sentry): not loaded, no client.
            sentry_sdk = sys.modules.get("sentry_sdk")
            if exc_info and level >= logging.ERROR and sentry_sdk and sentry_sdk.get_client().is_active():
                sentry_sdk.capture_exception()
            return False
        if counted_as is self.OVERFLOW and key is not self.OVERFLOW:
            message += " (too many kinds of error at once: counted together with the others)"
        if suppressed:
            message += " (%d more like it not logged since the last such line)"
            args = (*args, suppressed)
        log.log(level, message, *args, exc_info=exc_info)
        return True
