"""The state of the machine around a run: what else used the CPUs, and optional busy neighbours.

The ratios of a run depend on that state: a host's two Python threads per process pay for every hand-off
with a context switch, and how dear a switch is depends on the load and on the hypervisor (steal time). A
report that says what the machine was doing can be read next to another; ``--busy-neighbours`` adds a
known load, so the dependence can be measured instead of guessed.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

__all__ = ["CpuTimes", "MachineState", "observe"]

_STAT = Path("/proc/stat")
_LOADAVG = Path("/proc/loadavg")


@dataclass(frozen=True)
class CpuTimes:
    """The all-CPU line of ``/proc/stat``, in clock ticks."""

    busy: int
    idle: int
    steal: int

    @classmethod
    def read(cls) -> CpuTimes | None:
        try:
            fields = [int(value) for value in _STAT.read_text().splitlines()[0].split()[1:]]
        except (OSError, ValueError, IndexError):
            return None
        # user nice system idle iowait irq softirq steal [guest guest_nice: already in user and nice]
        user, nice, system, idle, iowait, irq, softirq, steal = (fields + [0] * 8)[:8]
        return cls(busy=user + nice + system + irq + softirq, idle=idle + iowait, steal=steal)


@dataclass(frozen=True)
class MachineState:
    """What the machine did over a run: load average before it, and the share of CPU time that was busy
    (all processes, the benchmark's own included), idle, and stolen by the hypervisor."""

    load_before: str
    busy_share: float
    steal_share: float
    neighbours: int

    def describe(self) -> str:
        if self.busy_share != self.busy_share:  # NaN: no /proc here
            return "Machine state unknown (no /proc/stat)."
        neighbours = (f"; {self.neighbours} busy neighbour process(es) added by --busy-neighbours"
                      if self.neighbours else "")
        return (f"Machine during the run: CPUs {self.busy_share:.0%} busy (everything, the benchmark included), "
                f"{self.steal_share:.1%} stolen by the hypervisor; load average before: {self.load_before}"
                f"{neighbours}.")


class _Observation:
    def __init__(self, neighbours: int) -> None:
        self.neighbours = neighbours
        self.state: MachineState | None = None


@contextlib.contextmanager
def observe(neighbours: int = 0) -> Iterator[_Observation]:
    """Measure the machine over the ``with`` block, with ``neighbours`` busy processes running through it;
    ``observation.state`` is set when the block ends."""
    try:
        load_before = " ".join(_LOADAVG.read_text().split()[:3])
    except OSError:
        load_before = "unknown"
    observation = _Observation(neighbours)
    before = CpuTimes.read()
    try:
        with _busy_neighbours(neighbours):
            yield observation
    finally:
        after = CpuTimes.read()
        busy = steal = float("nan")
        if before is not None and after is not None:
            total = (after.busy - before.busy) + (after.idle - before.idle) + (after.steal - before.steal)
            if total > 0:
                busy = (after.busy - before.busy) / total
                steal = (after.steal - before.steal) / total
        observation.state = MachineState(load_before, busy, steal, neighbours)


@contextlib.contextmanager
def _busy_neighbours(count: int) -> Iterator[None]:
    """Run ``count`` CPU-bound processes (a Python busy loop each) for the ``with`` block."""
    processes = [
        subprocess.Popen([sys.executable, "-c", "while True: pass"], stdin=subprocess.DEVNULL) for _ in range(count)
    ]
    try:
        yield
    finally:
        for process in processes:
            process.kill()
        for process in processes:
            process.wait()
