"""Keeps the host's threads together on one CPU (``cpu_placement``, Linux only).

A process's Python threads share one GIL: they never run Python in parallel, they take turns. Every
message a plugin handles passes from the intake thread to the plugin's worker, and every RPC reply from
the intake to the waiting caller, each through libzmq's I/O thread. On different CPUs each such hand-off wakes
an idle CPU (on a virtual machine, an interrupt to another virtual CPU the hypervisor may have parked) and runs
the woken thread on cold caches; on one CPU the woken thread runs there as soon as the waker sleeps. Measured
with the RPC benchmarks on the project's 2-CPU VM (docs/benchmarks.md, rounds five and six): a sequential call's
p50 1.46-1.57x raw pyzmq's with the threads where the kernel puts them, 1.24-1.39x with the Python threads on one
CPU, and below raw pyzmq's with libzmq's I/O thread there too.

So the host puts its threads (the intake, the plugins' workers, the health, scheduler and watchdog threads, the
I/O thread of its ZeroMQ context: everything it starts but the embedded broker's threads, which forward every
service's traffic in C; every thread started by one of them inherits its CPU) on one CPU of those the process may
use: one no other host is on, while there is one (:mod:`.cpu_claims`). It moves them all to another CPU when
other processes keep theirs busier, and spreads them over all the CPUs while other processes keep every CPU busy
(no CPU is idle to wake then, and one shared CPU would hold them back) or while they need more than their one CPU
(a plugin's thread working without the GIL, a flood that keeps the intake and the I/O thread busy). It never
touches the threads of the program that embeds it (pytest's, a benchmark's) unless asked
(:meth:`ThreadPlacement.join`).

While the threads are together on one CPU, libzmq's I/O thread of the host's context (and its reaper, which sleeps
but when a socket closes) runs under ``SCHED_BATCH``:
woken by a send (a worker's reply, a plugin's publish), it does not preempt the thread that woke it, which holds the
GIL and is usually about to send more, but runs when that thread sleeps, or at the next tick, and writes everything
queued by then at once. Under the default policy it preempted the sender for every message (two context switches
each). Measured (docs/benchmarks.md, round seven): a plugin's publish flood 40 % less CPU per message, 16 RPCs in
flight 5-30 % more calls/s for a quarter less CPU per call. Spread, the I/O thread is under the default policy again
(there it would wait for a tick behind another process's thread, not the host's), and so it is beside a busy process
on the host's CPU: found at start (one of its threads running there) or on a watchdog round (the CPU busy with others
and the I/O thread waiting a millisecond or more each time it runs), until a look finds the CPU quiet, 30 s later at
the earliest (:meth:`ThreadPlacement.review`).

``cpu_placement``: ``auto`` (default: one CPU of those the process may use at start), ``off`` (the threads
stay where the kernel puts them), or a CPU list as Linux writes it (``"2"``, ``"2-3"``, ``"0,2"``): one CPU of
those. Where the system has no CPU affinity (not Linux), or the process may use one CPU only, it does nothing.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import random
import threading
import time
from collections import Counter
from collections.abc import Iterable
from collections.abc import Set as AbstractSet
from pathlib import Path

from .cpu_claims import CPUClaims

__all__ = ["BROKER_THREAD", "THREAD_PREFIX", "ThreadPlacement", "format_cpus", "parse_cpu_setting", "parse_cpus"]

#: the names of the threads the host starts begin with this.
THREAD_PREFIX = "omh-"
#: seconds between two looks at the CPUs' load (each look is jittered by a fifth, so that two hosts on one
#: machine do not look, and move, at the same moments).
REVIEW_INTERVAL = 5.0
#: the threads move when the other processes keep their CPU busier than the least busy one by this share of
#: a CPU; less is not worth a move (their caches stay behind).
MOVE_MARGIN = 0.3
#: while other processes keep every CPU busier than this share, the threads are spread over all of them: with
#: no idle CPU there is nothing to wake, and one CPU shared with others would hold them back.
CROWDED = 0.6
#: the threads need more than their one CPU when they used this share of it and waited (runnable, the CPU busy
#: with one of them) at least ``CONTENDED`` seconds per second: one of them works without the GIL.
SATURATED = 0.9
CONTENDED = 0.5
#: spread threads come together again once they use less than this share of a CPU (and a CPU is not crowded).
TOGETHER_BELOW = 0.8
#: libzmq's I/O thread goes under the default policy when other processes keep the host's CPU at least this share
#: of it busy (and ``IO_WAIT_LIMIT`` holds): woken beside another process's running thread, a ``SCHED_BATCH`` thread
#: waits for the scheduler's next tick (up to 4 ms at 250 Hz; an RPC's p50 went from 180 us to 4 ms).
BATCH_BELOW = 0.5
#: ... and while libzmq's I/O thread waits this long for the CPU each time it runs (s), on average over a watchdog
#: round: beside a busy process it waits for the tick (2 ms on average at 250 Hz); on a CPU its own host's threads keep
#: busy, for a worker's turn (tens of us). Both must hold: a plugin thread that publishes without end keeps the I/O
#: thread waiting as long, by design (see the module), and other processes' short tasks keep a CPU busy too.
IO_WAIT_LIMIT = 0.001
#: the shortest span a watchdog round judges the host's CPU over (s).
_WATCH_SECONDS = 0.5
#: after a watchdog round found another process busy on the host's CPU (see :meth:`ThreadPlacement.review`), the I/O
#: thread stays under the default policy at least this long (s): a busy process the kernel moves back and forth
#: between CPUs would otherwise turn it back to ``SCHED_BATCH`` at one look and catch it there before the next.
HOLD_DEFAULT_POLICY = 30.0
#: the embedded broker's thread stays where the kernel puts it: it forwards in C, without the GIL.
BROKER_THREAD = "omh-broker"
_PROC_STAT = Path("/proc/stat")
_TASKS = Path("/proc/self/task")
#: the longest the look for other processes' running threads takes at start (see :func:`_running_by_cpu`).
_RUNNING_LOOK_SECONDS = 0.02
#: ``PF_KTHREAD``, in the flags (field 9) of ``/proc/<pid>/stat``.
_KERNEL_THREAD = 0x00200000
_SUPPORTED = hasattr(os, "sched_setaffinity") and hasattr(os, "sched_getaffinity")


def parse_cpus(text: str) -> frozenset[int]:
    """A CPU list as Linux writes it (``"0-2,5"``); raises ``ValueError`` naming what is wrong."""
    cpus: set[int] = set()
    for part in text.split(","):
        part = part.strip()
        low, dash, high = part.partition("-")
        try:
            first, last = int(low), int(high) if dash else int(low)
        except ValueError:
            raise ValueError(f"not a CPU list: {text!r} (expected e.g. \"1\", \"0-3\" or \"0,2\")") from None
        if first < 0 or last < first:
            raise ValueError(f"not a CPU list: {text!r} ({part!r} is not a CPU or an ascending range)")
        cpus.update(range(first, last + 1))
    return frozenset(cpus)


def parse_cpu_setting(value: str) -> str:
    """``cpu_placement`` checked and normalised: ``auto``, ``off`` or a CPU list (as :func:`format_cpus` writes it)."""
    value = value.strip().lower()
    if value in ("auto", "off"):
        return value
    return format_cpus(parse_cpus(value))


def format_cpus(cpus: Iterable[int]) -> str:
    """``{0, 1, 2, 5}`` -> ``"0-2,5"``."""
    runs: list[list[int]] = []  # [first, last] of each run of consecutive CPUs
    for cpu in sorted(cpus):
        if runs and cpu == runs[-1][1] + 1:
            runs[-1][1] = cpu
        else:
            runs.append([cpu, cpu])
    return ",".join(str(first) if first == last else f"{first}-{last}" for first, last in runs)


def _busy_by_cpu() -> dict[int, float]:
    """Each CPU's busy time since boot, in seconds (user, nice, system, irq, softirq, steal; not idle, iowait)."""
    ticks = os.sysconf("SC_CLK_TCK")
    busy: dict[int, float] = {}
    for line in _PROC_STAT.read_text().splitlines():
        if not line.startswith("cpu") or line.startswith("cpu "):
            continue
        name, *fields = line.split()
        values = [int(field) for field in fields[:8]]
        busy[int(name[3:])] = (sum(values) - values[3] - values[4]) / ticks
    return busy


def _waits(native_ids: Iterable[int]) -> tuple[float, int]:
    """Threads of this process: the time they waited for a CPU while runnable so far (s), and how many times they
    ran, summed (``/proc/self/task/<id>/schedstat``; a thread that ended counts nothing)."""
    waited, runs = 0.0, 0
    for native_id in native_ids:
        try:
            _, delay, slices = Path(f"/proc/self/task/{native_id}/schedstat").read_text().split()
        except (OSError, ValueError):
            continue
        waited += int(delay) / 1e9
        runs += int(slices)
    return waited, runs


def _thread_times(native_id: int) -> tuple[float, float]:
    """One thread of this process: (its CPU time, the time it waited for a CPU while runnable) so far, in seconds,
    from ``/proc/self/task/<id>/schedstat``; (0, 0) once it has ended. A thread waiting for the GIL sleeps: only
    waiting for the CPU itself counts."""
    try:
        cpu, delay, _ = Path(f"/proc/self/task/{native_id}/schedstat").read_text().split()
    except (OSError, ValueError):
        return 0.0, 0.0
    return int(cpu) / 1e9, int(delay) / 1e9


def _running_by_cpu() -> Counter[int]:
    """How many threads of other processes run (or wait to run) on each CPU now: those found running in
    ``/proc/<pid>/task/<id>/stat``, and still a millisecond later (a CPU-bound process is, a short task seldom).
    Kernel threads do not count. About 1 ms per hundred threads on the machine; on a machine with thousands, the
    look ends after ``_RUNNING_LOOK_SECONDS`` with what it found (it is a hint)."""
    own = str(os.getpid())
    running = {}
    deadline = time.monotonic() + _RUNNING_LOOK_SECONDS
    with os.scandir("/proc") as processes:
        for process in processes:
            if not process.name.isdigit() or process.name == own:
                continue
            if time.monotonic() > deadline:
                break
            try:
                tasks = os.scandir(f"/proc/{process.name}/task")
            except OSError:  # it ended
                continue
            with tasks:
                for task in tasks:
                    if (cpu := _running_on(f"{task.path}/stat")) is not None:
                        running[task.path] = cpu
    time.sleep(0.001)
    return Counter(cpu for path in running if (cpu := _running_on(f"{path}/stat")) is not None)


def _running_on(stat_path: str) -> int | None:
    """The CPU of a running (or runnable) task that is not a kernel thread; None for any other."""
    try:
        with open(stat_path, "rb") as file:
            stat = file.read()
        fields = stat[stat.rindex(b")") + 2:].split()
        if fields[0] == b"R" and not int(fields[6]) & _KERNEL_THREAD:
            return int(fields[36])
    except (OSError, ValueError, IndexError):
        pass
    return None


def _current_cpu() -> int | None:
    """The CPU the calling thread runs on (field 39 of ``/proc/thread-self/stat``)."""
    try:
        stat = Path("/proc/thread-self/stat").read_text()
        return int(stat[stat.rindex(")") + 2:].split()[36])
    except (OSError, ValueError, IndexError):
        return None


def _task_ids() -> list[int]:
    """The native ids of this process's threads (empty where /proc is missing)."""
    try:
        return [int(entry) for entry in os.listdir(_TASKS)]
    except OSError:
        return []


def _seen(what: str, counts: Counter[int], cpus: AbstractSet[int]) -> str:
    """``"; 2 other host(s) on 0-1"`` for the log line of the placement; empty when there are none."""
    if not (total := sum(counts[cpu] for cpu in cpus)):
        return ""
    return f"; {total} {what} on {format_cpus(cpu for cpu in cpus if counts[cpu])}"


class ThreadPlacement:
    """Where the host's threads run (see the module). Made before the host starts any thread.

    ``setting``: ``cpu_placement`` as :func:`parse_cpu_setting` returns it. Raises ``ValueError`` when it names
    no CPU this process may use.
    """

    def __init__(self, setting: str, log: logging.Logger) -> None:
        self._log = log
        #: this host's claim on its CPU, and the other hosts' (see :mod:`.cpu_claims`); made when placed.
        self._claims: CPUClaims | None = None
        self._lock = threading.Lock()
        #: the CPUs to choose from; empty when placement is off (or impossible here).
        self.cpus: frozenset[int] = frozenset()
        #: the CPU the threads are on; None while placement is off.
        self.cpu: int | None = None
        #: how many times the threads moved to another CPU.
        self.moves = 0
        #: the threads are spread over all of :attr:`cpus` (every one is busy with other processes), not on :attr:`cpu`.
        self.spread = False
        #: the threads not named ``omh-...`` that are the host's (see :meth:`_tasks`), by native id.
        self._joined: set[int] = set()
        self._next_review = 0.0
        #: its own generator: the module's shared one belongs to the program (a test's seeded draws)
        self._jitter = random.Random()
        #: the thread that placed the host, and its CPUs before (see :meth:`release`)
        self._caller: tuple[int, frozenset[int]] | None = None
        #: the last look: (when, each CPU's busy seconds, each thread's (CPU, wait) seconds by native id)
        self._last: tuple[float, dict[int, float], dict[int, tuple[float, float]]] | None = None
        #: the process's threads when the host was first placed: libzmq's threads not among them are the host's
        self._before_context: frozenset[int] | None = None
        #: libzmq's threads of the host's context, by native id (see :meth:`adopt_io_threads`)
        self._io_threads: list[int] = []
        #: the scheduling policy could not be set (said once in the log)
        self._policy_failed = False
        #: libzmq's I/O thread of the host's context is under ``SCHED_BATCH`` now (the threads are together): the
        #: plugins' workers then take turns with it (see :mod:`.isolation.turns`).
        self.io_batched = False
        #: other processes keep the threads' CPU busy (``BATCH_BELOW``; at start: a thread of theirs runs there)
        self.shared = False
        #: the policy last set on libzmq's threads (None: none yet)
        self._io_policy: int | None = None
        #: the last round's look at the host's CPU while batched: (when, its busy seconds, the process's CPU seconds,
        #: libzmq's threads' wait for the CPU in seconds, and their runs)
        self._watched: tuple[float, float, float, float, int] | None = None
        #: the I/O thread stays under the default policy until then (``HOLD_DEFAULT_POLICY``)
        self._held_until = 0.0
        if setting == "off" or not _SUPPORTED:
            return
        if setting == "auto":
            cpus = frozenset(os.sched_getaffinity(0))
        else:
            # The calling thread first, which also tells whether the process may use them: what it starts from now
            # on (libzmq's I/O threads) stays within the list. (The list may be wider than the CPUs the calling
            # thread is on: a plugin's child process starts on the one CPU of the supervisor that started it.)
            cpus = parse_cpus(setting)
            with contextlib.suppress(OSError):  # none of them allowed: said below
                os.sched_setaffinity(0, cpus)
            if missing := cpus - frozenset(os.sched_getaffinity(0)):
                raise ValueError(f"cpu_placement {setting!r} names CPU(s) {format_cpus(missing)}, which this "
                                 f"process may not use")
        if len(cpus) > 1:
            self.cpus = cpus

    @property
    def child_setting(self) -> str:
        """What a plugin's child process gets as its ``cpu_placement``: the same CPUs to choose from. (It starts
        on its supervisor thread's one CPU: without this it would take that for all it may use.)"""
        return format_cpus(self.cpus) if self.cpus else "off"

    def place(self) -> None:
        """Put the host's threads running now, and the calling thread, on one CPU: of those with the fewest other
        hosts on them (:mod:`.cpu_claims`), the one the calling thread is on, if it may, else the lowest. The host
        calls it on the thread that starts it, before it makes its ZeroMQ context (after the embedded broker's),
        so that every thread it starts from then on, libzmq's I/O thread included, and every thread those start (a
        plugin's own), begins on the CPU; :meth:`release` gives the calling thread back its CPUs once the host is
        started."""
        if not self.cpus:
            return
        with self._lock:
            if self.cpu is None:
                if self._claims is None:
                    self._claims = CPUClaims()
                hosts, running, current = self._claims.others(), _running_by_cpu(), _current_cpu()
                self.cpu = min(self.cpus, key=lambda cpu: (running[cpu] > 0, hosts[cpu], cpu != current, cpu))
                self.shared = running[self.cpu] > 0
                self._claims.claim(self.cpu)
                self._log.info("host threads on CPU %d (of %s; cpu_placement%s%s)", self.cpu, format_cpus(self.cpus),
                               _seen("other host(s)", hosts, self.cpus), _seen("thread(s) of other processes running",
                                                                               running, self.cpus))
            tasks = self._tasks()
            if self._before_context is None:
                self._before_context = frozenset(_task_ids())
            if self._caller is None:
                self._caller = (threading.get_native_id(), frozenset(os.sched_getaffinity(0)))
            os.sched_setaffinity(0, {self.cpu})
            self._pin(tasks, {self.cpu})

    def adopt_io_threads(self) -> None:
        """Find libzmq's threads of the host's context (started by its first socket, after :meth:`place`; the host
        calls this right then) and run them under ``SCHED_BATCH`` while the threads are together (see the
        module)."""
        with self._lock:
            if self.cpu is None or self._before_context is None:
                return
            # Told by being new and not Python's: libzmq names its threads from within them, so a name read now may
            # still be the creator's. (Its reaper is among them: it sleeps but when a socket closes.)
            python = {thread.native_id for thread in threading.enumerate()}
            self._io_threads = [native_id for native_id in _task_ids()
                                if native_id not in self._before_context and native_id not in python]
            self._before_context = None
            self._apply_io_policy()

    def release(self) -> None:
        """Give the thread that called :meth:`place` back the CPUs it had (the host is started, or failed to)."""
        with self._lock:
            caller, self._caller = self._caller, None
            if caller is not None:
                self._joined.discard(caller[0])  # (a look during the start found it on the CPU)
        if caller is not None:
            with contextlib.suppress(OSError):  # (it ended)
                os.sched_setaffinity(caller[0], caller[1])

    def close(self) -> None:
        """Withdraw the host's claim on its CPU (the host stopped)."""
        with self._lock:
            if self._claims is not None:
                self._claims.release()

    def join(self) -> None:
        """Put the calling thread with the host's threads: for a program that embeds a host and calls its plugins'
        cores from a thread of its own, as a plugin's own thread would (those join by themselves)."""
        with self._lock:
            if self.cpu is not None:
                os.sched_setaffinity(0, self.cpus if self.spread else {self.cpu})
                self._joined.add(threading.get_native_id())

    def review(self, force: bool = False) -> None:
        """Every ``REVIEW_INTERVAL`` (or now, with ``force``): look at how busy other processes kept each CPU since
        the last look, and what the host's threads used and waited for, and keep the threads on one CPU (moving
        them when another is quieter by more than ``MOVE_MARGIN``), or spread them over all the CPUs (see
        :meth:`_choose`). It also places the host's threads started since (a channel sweeper the embedding
        program's thread started). The watchdog's thread calls it each round; between two looks, a round only
        watches the host's CPU for a busy process while the I/O thread is batched (:meth:`_watch_io_cpu`)."""
        if self.cpu is None:
            return
        now = time.monotonic()
        if not force and now < self._next_review:
            self._watch_io_cpu(now)
            return
        self._next_review = now + REVIEW_INTERVAL * self._jitter.uniform(0.8, 1.2)
        self._watched = None
        with self._lock:
            tasks = self._tasks()
            busy = _busy_by_cpu()
            times = {native_id: _thread_times(native_id) for native_id in tasks}
            last = self._last
            self._last = (now, busy, times)
            cpu, spread, shared, others = self.cpu, self.spread, self.shared, {}
            if last is not None and now > last[0]:
                elapsed = now - last[0]
                # Per thread: one that ended since would take its whole time out of a plain sum.
                used = sum(max(0.0, cpu_s - last[2].get(native_id, (0.0, 0.0))[0])
                           for native_id, (cpu_s, _) in times.items())
                waited = sum(max(0.0, delay - last[2].get(native_id, (0.0, 0.0))[1])
                             for native_id, (_, delay) in times.items())
                others = self._others(elapsed, busy, last[1], used)
                cpu, spread, busy_beside = self._choose(others, used / elapsed, waited / elapsed)
                # Set by a round (or at start), ended by a look: see _watch_io_cpu.
                shared = self.shared and (busy_beside or now < self._held_until)
            if self.shared and not shared and not spread:
                self._log.info("libzmq's I/O thread under SCHED_BATCH again: CPU %d is quiet", cpu)
            self.shared = shared
            if spread != self.spread:
                if not spread:
                    self._log.info("host threads together on CPU %d again", cpu)
                elif min(others.values()) > CROWDED:
                    self._log.info("host threads spread over CPUs %s: other processes keep every CPU busy",
                                   format_cpus(self.cpus))
                else:
                    self._log.info("host threads spread over CPUs %s: they need more than one CPU (work without "
                                   "the GIL)", format_cpus(self.cpus))
                self.spread = spread
                assert self._claims is not None
                self._claims.claim(None if spread else cpu)
            elif cpu != self.cpu and not spread:
                self._log.info("host threads moved from CPU %d to CPU %d: other processes kept CPU %d busier",
                               self.cpu, cpu, self.cpu)
                self.moves += 1
                assert self._claims is not None
                self._claims.claim(cpu)
            self.cpu = cpu
            self._pin(tasks, self.cpus if spread else {cpu})
            if self._io_policy != self._wanted_io_policy():
                self._apply_io_policy()
        self._watch_io_cpu(now)  # the next round's span starts here

    def _watch_io_cpu(self, now: float) -> None:
        """Between two looks, each watchdog round while libzmq's I/O thread is under ``SCHED_BATCH``: whether, since
        the last round, other processes kept the host's CPU at least ``BATCH_BELOW`` busy (its busy time from
        /proc/stat less the whole process's CPU time) and the I/O thread waited at least ``IO_WAIT_LIMIT`` for the
        CPU each time it ran (its schedstat): a busy process beside it, whose time slice it waits out, a tick, for
        every message. Then it is under the default policy at once, for at least ``HOLD_DEFAULT_POLICY`` (the looks,
        every 4-6 s, only end that; see :meth:`review`)."""
        cpu = self.cpu
        if not self.io_batched or cpu is None:
            self._watched = None
            return
        last = self._watched
        if last is not None and now - last[0] < _WATCH_SECONDS:
            return  # (/proc/stat counts in ticks: a shorter span says little)
        waited, runs = _waits(self._io_threads)
        busy, process = _busy_by_cpu().get(cpu, 0.0), sum(os.times()[:2])
        self._watched = (now, busy, process, waited, runs)
        if last is None or runs <= last[4]:
            return
        others = (busy - last[1] - (process - last[2])) / (now - last[0])
        if others < BATCH_BELOW or (waited - last[3]) / (runs - last[4]) < IO_WAIT_LIMIT:
            return
        with self._lock:
            if self.spread or self.cpu != cpu:
                return
            self._held_until = now + HOLD_DEFAULT_POLICY
            if not self.shared:
                self.shared = True
                self._log.info("libzmq's I/O thread under the default scheduling policy: other processes keep CPU %d "
                               "busy", cpu)
                self._apply_io_policy()

    def _others(self, elapsed: float, busy: dict[int, float], last_busy: dict[int, float],
                used: float) -> dict[int, float]:
        """How busy other processes kept each CPU over the ``elapsed`` seconds since the last look, in shares of a
        CPU: its busy time less what the host's threads used there (on their CPU, or spread evenly when they were
        spread). From /proc/stat, whose ticks are coarse: an estimate."""
        assert self.cpu is not None
        others = {}
        for cpu in self.cpus:
            mine = used / len(self.cpus) if self.spread else used if cpu == self.cpu else 0.0
            others[cpu] = max(0.0, (busy.get(cpu, 0.0) - last_busy.get(cpu, 0.0) - mine) / elapsed)
        return others

    def _choose(self, others: dict[int, float], used: float, waited: float) -> tuple[int, bool, bool]:
        """(the CPU for the threads, whether to spread them instead, whether other processes keep that CPU busy),
        given :meth:`_others` and the shares of a CPU the host's threads used and waited for (runnable, but the CPU
        busy) since the last look.

        Spread while other processes keep every CPU ``CROWDED`` (nothing idle to wake), or while the threads
        themselves need more than their one CPU (``SATURATED`` and ``CONTENDED``: something of theirs runs
        without the GIL, a plugin's compression or hashing); together again, on the CPU others leave quietest,
        once a CPU is not crowded and the threads use less than ``TOGETHER_BELOW`` of a CPU. Whether others keep the
        CPU ``BATCH_BELOW`` busy decides whether a busy process found beside libzmq's I/O thread (by a watchdog round,
        or at start) still counts (see :meth:`_watch_io_cpu`)."""
        cpu, spread = self._place_by(others, used, waited)
        return cpu, spread, others[cpu] >= BATCH_BELOW

    def _place_by(self, others: dict[int, float], used: float, waited: float) -> tuple[int, bool]:
        assert self.cpu is not None
        best = min(self.cpus, key=lambda cpu: (others[cpu], cpu != self.cpu, cpu))
        if others[best] > CROWDED:
            return self.cpu, True
        if self.spread:
            return (self.cpu, True) if used >= TOGETHER_BELOW else (best, False)
        if used >= SATURATED and waited >= CONTENDED:
            return self.cpu, True
        if others[self.cpu] - others[best] > MOVE_MARGIN:
            return best, False
        return self.cpu, False

    def _tasks(self) -> list[int]:
        """The host's threads, by native id: its Python threads (their names begin with ``omh-``; not the embedded
        broker's), and every other thread of the process found on the host's CPU alone: libzmq's I/O thread of the
        host's context, a plugin's thread (both inherited the CPU), or one that joined. Each of those is
        remembered, so that it stays with them while they are spread. (A thread a plugin starts while they are
        spread cannot be told from the embedding program's: it stays where the kernel puts it.) Holds the lock."""
        names = {thread.native_id: thread.name for thread in threading.enumerate() if thread.native_id is not None}
        tasks = []
        alive: set[int] = set()
        try:
            ids = [int(entry) for entry in os.listdir(_TASKS)]
        except OSError:
            ids = list(names)
        for native_id in ids:
            name = names.get(native_id)
            if name is not None and name.startswith(THREAD_PREFIX):
                if name != BROKER_THREAD:
                    tasks.append(native_id)
                continue
            try:
                if native_id in self._joined or (self.cpu is not None and not self.spread
                                                 and os.sched_getaffinity(native_id) == {self.cpu}):
                    tasks.append(native_id)
                    alive.add(native_id)
            except OSError:  # it ended meanwhile
                pass
        self._joined = alive
        return tasks

    def _apply_io_policy(self) -> None:
        """``SCHED_BATCH`` for the host's libzmq threads while together on a CPU other processes keep less than
        ``BATCH_BELOW`` busy, the default policy while spread or beside a busy process. A thread under another policy
        (a real-time one the program chose) is left as it is. Holds the lock."""
        policy = self._io_policy = self._wanted_io_policy()
        batched = False
        for native_id in self._io_threads:
            try:
                if os.sched_getscheduler(native_id) in (os.SCHED_OTHER, os.SCHED_BATCH):
                    os.sched_setscheduler(native_id, policy, os.sched_param(0))
                    batched = batched or policy == os.SCHED_BATCH
            except OSError as error:  # it ended, or the system refuses (a sandbox): the default policy then
                if error.errno != errno.ESRCH and not self._policy_failed:
                    self._policy_failed = True
                    self._log.info("libzmq's I/O thread stays under the default scheduling policy: %s", error)
        self.io_batched = batched

    def _wanted_io_policy(self) -> int:
        return os.SCHED_OTHER if self.spread or self.shared else os.SCHED_BATCH

    @staticmethod
    def _pin(tasks: Iterable[int], cpus: AbstractSet[int]) -> None:
        for native_id in tasks:
            with contextlib.suppress(OSError):  # it ended meanwhile
                os.sched_setaffinity(native_id, cpus)
