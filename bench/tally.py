"""The counting every receiver's handler does, identical in all variants.

A call costs one ``perf_counter`` and a few attribute updates per counted message; process CPU time
(all threads: user + sys) is read at the first counted message and at the end marker, which arrives
right behind the last flood message because ZeroMQ keeps per-connection order.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from .protocol import END, PROBE, emit

__all__ = ["Tally"]


class Tally:
    """Call with each message's ``seq``; returns True once the end marker was handled."""

    def __init__(
        self,
        extras: Callable[[], dict[str, Any]] | None = None,
        on_ready: Callable[[], None] | None = None,
    ) -> None:
        self.count = 0
        self.first_wall = 0.0
        self.last_wall = 0.0
        self.first_cpu = 0.0
        self.ready = False
        self.finished = threading.Event()
        #: variant-specific figures added to the result (called once, at the end marker).
        self.extras = extras
        #: called once, when the first probe arrives (before the flood starts).
        self.on_ready = on_ready

    def __call__(self, seq: int) -> bool:
        if seq >= 0:
            now = time.perf_counter()
            if not self.count:
                self.first_wall = now
                self.first_cpu = time.process_time()
            self.count += 1
            self.last_wall = now
            return False
        if seq == PROBE:
            if not self.ready:
                self.ready = True
                if self.on_ready is not None:
                    self.on_ready()
                emit("ready")
            return False
        if seq == END and not self.finished.is_set():
            cpu = time.process_time() - self.first_cpu if self.count else 0.0
            extras = self.extras() if self.extras is not None else {}
            emit("result", delivered=self.count, wall=self.last_wall - self.first_wall, cpu=cpu, extras=extras)
            self.finished.set()
        return self.finished.is_set()
