"""When a plugin's worker gives its CPU up for a moment, so that what it sent leaves before its backlog is done.

While the host's threads are together on one CPU, libzmq's I/O thread runs under ``SCHED_BATCH`` (see
:mod:`..placement`): woken by a send, it waits until the sender sleeps. A worker with a backlog (16 RPCs in
flight) sleeps only once it has answered all of them, so its replies left as one burst, the caller answered the
burst as one, and the calls went round as a convoy, each process working while the other waited: 0.64x-0.70x raw
pyzmq's calls/s with 16 in flight. Giving the CPU up (``sched_yield``) after every ``TURN_EVERY`` messages the
host sent, while items are left, lets the I/O thread write them while the worker goes on: 0.85x-0.90x in the same
runs (docs/benchmarks.md, round eight). A worker that sends nothing (a plugin that only receives) never yields:
yielding there only handed the GIL to the intake more often (pub/sub 0.83x raw pyzmq's instead of 0.94x-1.18x).

A yield hands the CPU to any thread runnable on it, another process's too, and under Linux's EEVDF scheduler for
that thread's whole time slice (1.5 ms on the project's 2-CPU machine): yielding beside a busy process on the
host's CPU, 16 RPCs in flight made 2,668 calls/s where they made 18,384 without. The placement puts the I/O thread
under the default policy beside a busy process, and then no worker yields; until a watchdog round finds it there
(each second), a yield that takes longer than ``SLOW_TURN`` pauses the turns for ``PAUSE`` seconds: one slow yield
per pause. (On the quiet machine 99.9 % of the yields took less than 0.25 ms, the GIL taken back included.)
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from os import sched_yield
from time import monotonic
from typing import Protocol

__all__ = ["PAUSE", "SLOW_TURN", "TURN_EVERY", "CPUTurns", "SendCount"]

#: a worker with items left yields after every this many messages the host sent since its last yield (or sleep).
TURN_EVERY = 4
#: a yield that took longer than this (s) went to another process's thread.
SLOW_TURN = 0.001
#: how long no worker yields after a slow yield (s).
PAUSE = 1.0


class SendCount(Protocol):
    """The host's publisher: how many messages it has queued for libzmq's I/O thread so far."""

    @property
    def sent_count(self) -> int: ...


class CPUTurns:
    """The host's turns: shared by its plugins' workers (see the module).

    ``sends`` counts the messages the host sent; ``batched`` says whether libzmq's I/O thread is under
    ``SCHED_BATCH`` now (the threads together on one CPU): otherwise it preempts the sender anyway, and no worker
    yields.
    """

    def __init__(self, sends: SendCount, batched: Callable[[], bool]) -> None:
        self.sends = sends
        self._batched = batched
        self._paused_until = 0.0
        self._lock = threading.Lock()
        #: yields so far, and those that were slow (each one paused the turns).
        self.taken = 0
        self.slow = 0

    def take(self) -> None:
        """Yield the CPU, unless the I/O thread is not batched or the turns are paused."""
        if not self._batched():
            return
        started = monotonic()
        if started < self._paused_until:
            return
        sched_yield()
        took = monotonic() - started
        with self._lock:  # (two workers may count at once)
            self.taken += 1
            if took > SLOW_TURN:
                self.slow += 1
                self._paused_until = started + took + PAUSE
