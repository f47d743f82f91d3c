"""The client side every variant shares: wait for the server, warm up, run one measured phase, report.

A variant supplies :class:`Calls` (a blocking ``call`` and a ``send``/``wait`` pair for calls in flight);
everything timed is here, so all three variants are measured by the same code:

- **sequential**: ``call(seq)`` N times, each timed alone (``perf_counter_ns``), in parts that the
  orchestrator interleaves with the other variants' parts;
- **in flight**: keep ``window`` calls outstanding: wait for the oldest, send the next, and note the time
  each call completes. Calls/s over the whole run and per tenth of the calls show whether it stays flat; so
  does the client's CPU per call in each tenth, which other load on the machine disturbs much less.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from collections import deque
from collections.abc import Sequence
from typing import Any, Generic, Protocol, TypeVar

from ..protocol import emit
from ..threads import thread_names
from .protocol import IN_FLIGHT, SEQUENTIAL, wait_for_go

__all__ = ["Calls", "run_client"]

H = TypeVar("H")

_PROBE_TIMEOUT = 0.5
_CONNECT_DEADLINE = 120.0


class Calls(Protocol, Generic[H]):
    def probe(self, seq: int, timeout: float) -> bool:
        """One call that may go unanswered (the server may not be subscribed yet): True if answered."""

    def call(self, seq: int) -> None:
        """One blocking call; raises unless the reply echoes ``seq``."""

    def send(self, seq: int) -> H:
        """Send one call without waiting; the handle goes to :meth:`wait`."""

    def wait(self, handle: H) -> None:
        """Wait for the reply of a sent call; raises unless it echoes that call's ``seq``."""


def _rss_mib() -> float:
    """Resident memory of this process in MiB (Linux ``/proc``; NaN elsewhere)."""
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError):
        return float("nan")


def _percentile(ordered: Sequence[float], share: float) -> float:
    """Nearest-rank percentile of sorted values."""
    index = min(len(ordered) - 1, max(0, math.ceil(share * len(ordered)) - 1))
    return ordered[index]


def _latencies(nanoseconds: Sequence[int]) -> dict[str, float]:
    ordered = sorted(ns / 1000 for ns in nanoseconds)
    return {
        "p50": _percentile(ordered, 0.50),
        "p90": _percentile(ordered, 0.90),
        "p99": _percentile(ordered, 0.99),
        "max": ordered[-1],
        "mean": sum(ordered) / len(ordered),
    }


def _connect(calls: Calls[Any]) -> None:
    deadline = time.monotonic() + _CONNECT_DEADLINE
    seq = -1
    while not calls.probe(seq, _PROBE_TIMEOUT):
        if time.monotonic() > deadline:
            raise SystemExit(f"the server did not answer within {_CONNECT_DEADLINE:g} s")
        seq -= 1


def _sequential(calls: Calls[Any], count: int, chunks: int) -> dict[str, Any]:
    """``count`` calls in ``chunks`` parts; each part starts on a ``go`` line and ends with a ``chunk`` line."""
    call, clock = calls.call, time.perf_counter_ns
    spent = [0] * count
    wall = cpu = 0.0
    bounds = [count * part // chunks for part in range(chunks + 1)]
    for part in range(chunks):
        wait_for_go()
        started, started_cpu = time.perf_counter(), time.process_time()
        for seq in range(bounds[part], bounds[part + 1]):
            before = clock()
            call(seq)
            spent[seq] = clock() - before
        wall += time.perf_counter() - started
        cpu += time.process_time() - started_cpu
        emit("chunk", part=part)
    return {"wall": wall, "cpu": cpu, "latency_us": _latencies(spent)}


def _tenths(started: float, completed: Sequence[float]) -> list[float]:
    """Calls/s in each tenth of the calls: that tenth's calls over the time since the previous tenth ended."""
    count = len(completed)
    rates, previous = [], started
    for tenth in range(1, 11):
        last = completed[tenth * count // 10 - 1]
        calls_in_tenth = tenth * count // 10 - (tenth - 1) * count // 10
        rates.append(calls_in_tenth / (last - previous) if last > previous else 0.0)
        previous = last
    return rates


def _cpu_tenths(started_cpu: float, cpu_marks: Sequence[float], count: int) -> list[float]:
    """Client CPU us per call in each tenth (from the process CPU time read as each tenth completed)."""
    spent, previous = [], started_cpu
    for tenth, mark in enumerate(cpu_marks, start=1):
        calls_in_tenth = tenth * count // 10 - (tenth - 1) * count // 10
        spent.append((mark - previous) / calls_in_tenth * 1e6)
        previous = mark
    return spent


def _in_flight(calls: Calls[Any], count: int, window: int, chunks: int) -> dict[str, Any]:
    """``count`` calls with ``window`` outstanding, in ``chunks`` parts (each drained before it ends).

    Completion times are kept on an *active* clock that stops between parts, so the tenths of the run are
    as if it had run in one go; latencies are real times.
    """
    send, wait, clock = calls.send, calls.wait, time.perf_counter
    sent_at = [0.0] * count
    completed = [0.0] * count
    marks = {tenth * count // 10 for tenth in range(1, 11)}
    cpu_marks: list[float] = []
    bounds = [count * part // chunks for part in range(chunks + 1)]
    first_started = first_cpu = 0.0
    wall = cpu = paused = 0.0
    last_end: float | None = None
    done = 0
    for part in range(chunks):
        wait_for_go()
        started, started_cpu = clock(), time.process_time()
        if last_end is None:
            first_started, first_cpu = started, started_cpu
        else:
            paused += started - last_end
        outstanding: deque[tuple[int, Any]] = deque()
        next_seq, end = bounds[part], bounds[part + 1]
        while next_seq < min(bounds[part] + window, end):
            sent_at[next_seq] = clock()
            outstanding.append((next_seq, send(next_seq)))
            next_seq += 1
        while outstanding:
            seq, handle = outstanding.popleft()
            wait(handle)
            now = clock()
            completed[done] = now - paused
            sent_at[seq] = now - sent_at[seq]
            done += 1
            if done in marks:
                cpu_marks.append(time.process_time())
            if next_seq < end:
                sent_at[next_seq] = clock()
                outstanding.append((next_seq, send(next_seq)))
                next_seq += 1
        last_end = clock()
        wall += last_end - started
        cpu += time.process_time() - started_cpu
        emit("chunk", part=part)
    return {
        "wall": wall,
        "cpu": cpu,
        "tenths": _tenths(first_started, completed),
        "cpu_tenths_us": _cpu_tenths(first_cpu, cpu_marks, count),
        "latency_us": _latencies([round(seconds * 1e9) for seconds in sent_at]),
    }


def run_client(calls: Calls[Any], args: argparse.Namespace) -> None:
    """Connect, warm up, say ``begin``, measure on the orchestrator's ``go`` line(s), report ``result``.

    ``args`` are the client options (:func:`~bench.rpc.protocol.parse_client_args`).

    Sequential calls may come in ``chunks`` parts, each started by its own ``go``: the orchestrator then
    alternates the variants part by part, so that they see the same state of a noisy machine.
    """
    mode, count, window, warmup, chunks = args.mode, args.calls, args.window, args.warmup, args.chunks
    if count < 10 or not 1 <= chunks <= count:
        raise SystemExit("need at least 10 measured calls, and between 1 and that many chunks")
    _connect(calls)
    for seq in range(warmup):
        calls.call(seq)
    emit("begin", threads=thread_names())
    rss_before = _rss_mib()
    if mode == SEQUENTIAL:
        result = _sequential(calls, count, chunks)
    elif mode == IN_FLIGHT:
        result = _in_flight(calls, count, window, chunks)
    else:
        raise SystemExit(f"unknown mode {mode!r}")
    emit("result", mode=mode, calls=count, window=window, rss_growth_mib=_rss_mib() - rss_before, **result)
    sys.stdin.read()  # stay until the orchestrator closes stdin: it may still read this process's figures
