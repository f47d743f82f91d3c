"""State the listeners keep per name that the broker's messages choose (a pin, a signal, a gate, a vehicle id).

openmodule's listeners keep the last state of every pin, signal or gate they ever saw in plain dicts, and a peer on
the broker can send new names without end: each one is kept for good, and the plugin's memory grows with them.
Here such a table keeps at most ``max_keys`` names; a new name past that forgets the name that came first (the
oldest entry), counted in :attr:`BoundedStates.forgotten` and logged at most once per 5 s. The bound is far above
what a garage has (pins, signals and gates by the hundred), so real traffic never reaches it and the listeners
behave as openmodule's. Each entry is bounded by the host's message size limit, as a mailbox's items are.

A :class:`BoundedStates` is an ``OrderedDict`` (so a ``dict``): reading, iterating, ``pop``, ``del``,
``setdefault`` and ``update`` work as on the plain dict the listeners had, in the same order.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from typing import TypeVar

from ..throttle import LogThrottle

__all__ = ["MAX_KEYS", "BoundedStates"]

K = TypeVar("K")
V = TypeVar("V")

#: the names a listener's table keeps at most, unless it is given another bound.
MAX_KEYS = 10_000
#: the characters of a forgotten key a log line shows at most
_SHOWN = 80


class BoundedStates(OrderedDict[K, V]):
    """A mapping of at most ``max_keys`` entries; a new key past that forgets the oldest one (counted, logged).

    ``what`` names the keys in the log line ("IO pins"); ``log`` is the listener's logger. (Every argument has a
    default, so that ``copy`` and ``pickle`` can make one, as they do an ``OrderedDict``.)
    """

    def __init__(self, what: str = "names", log: logging.Logger | None = None, max_keys: int = MAX_KEYS) -> None:
        if max_keys < 1:
            raise ValueError("max_keys must be at least 1")
        super().__init__()
        self.what = what
        self.max_keys = max_keys
        #: entries forgotten to make room for new keys, since the table was made.
        self.forgotten = 0
        self._log = log if log is not None else logging.getLogger(__name__)
        self._log_throttle = LogThrottle(5.0)

    def __setitem__(self, key: K, value: V) -> None:
        if key not in self:
            while len(self) >= self.max_keys:
                self._forget_oldest()
        super().__setitem__(key, value)

    def _forget_oldest(self) -> None:
        oldest = next(iter(self))
        del self[oldest]
        self.forgotten += 1
        if (quiet := self._log_throttle.allow()) is not None:
            self._log.warning(
                "more than %d %s seen: forgot the oldest, %s, to keep the state bounded (%d forgotten in total, %d "
                "since the last such line); a peer on the broker may be sending names without end",
                self.max_keys, self.what, _shown(oldest), self.forgotten, quiet + 1,
            )


def _shown(key: object) -> str:
    """The key for a log line: a name the broker chose may be as long as a message."""
    text = repr(key)
    return text if len(text) <= _SHOWN else text[:_SHOWN] + "..."
