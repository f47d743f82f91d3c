"""CPU time and context switches per thread of another process, read from Linux's ``/proc``.

A process under measurement names its threads once (:func:`thread_names`, sent in a control line); the
orchestrator samples ``/proc/<pid>/task`` before and after a measured stretch (:func:`sample`) and sums
the difference by role (:func:`by_role`). It shows where a variant's CPU goes: a host spends it in more
threads than a single-threaded peer, and every hand-off between them costs a sleep and a wake-up (a
context switch, which is dear on a virtual machine). Elsewhere than Linux the samples are empty.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path

__all__ = ["ThreadSample", "by_role", "role_of", "sample", "thread_names"]

_CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


@dataclass(frozen=True)
class ThreadSample:
    comm: str
    cpu: float  # seconds, user + system
    switches: int  # voluntary + involuntary


def thread_names() -> dict[str, str]:
    """This process's Python threads: native id (as text, for JSON) -> thread name."""
    return {str(thread.native_id): thread.name for thread in threading.enumerate() if thread.native_id}


def sample(pid: int) -> dict[int, ThreadSample]:
    """Every thread of ``pid`` now; threads that end while being read are left out."""
    samples: dict[int, ThreadSample] = {}
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return samples
    for task in tasks:
        try:
            stat = (task / "stat").read_text()
            status = (task / "status").read_text()
        except OSError:
            continue
        comm = stat[stat.index("(") + 1:stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2:].split()
        cpu = (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS  # utime, stime (fields 14 and 15 of stat)
        switches = sum(
            int(line.split(":", 1)[1]) for line in status.splitlines()
            if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches"))
        )
        samples[int(task.name)] = ThreadSample(comm, cpu, switches)
    return samples


def role_of(name: str) -> str:
    """What a thread does, from its Python name (or, for libzmq's own threads, its system name)."""
    if name == "MainThread":
        return "main"
    if name.startswith("omh-plugin-"):
        return "plugin worker"
    if name.startswith("omh-"):
        return name[len("omh-"):]
    if name.startswith("ZMQbg/IO"):
        return "libzmq I/O"
    if name.startswith("ZMQbg/"):
        return "libzmq other"
    return "other"


def by_role(
    before: dict[int, ThreadSample], after: dict[int, ThreadSample], names: dict[str, str]
) -> dict[str, tuple[float, int]]:
    """CPU seconds and context switches between two samples, summed by :func:`role_of` each thread."""
    roles: dict[str, tuple[float, int]] = {}
    for tid, now in after.items():
        then = before.get(tid, ThreadSample(now.comm, 0.0, 0))
        role = role_of(names.get(str(tid), now.comm))
        cpu, switches = roles.get(role, (0.0, 0))
        roles[role] = (cpu + now.cpu - then.cpu, switches + now.switches - then.switches)
    return roles
