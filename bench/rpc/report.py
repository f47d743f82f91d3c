"""Medians, ratios against the issue's targets, and the markdown report of an RPC run."""

from __future__ import annotations

import os
import platform
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import zmq

from ..machine import MachineState
from .protocol import IN_FLIGHT, SEQUENTIAL
from .runner import VARIANTS, Counts, Phase

__all__ = ["Settings", "render"]

#: the issue's targets for openmodule-host against raw pyzmq
LATENCY_TARGET = 2.0  # sequential p50 at most 2x raw
THROUGHPUT_TARGET = 0.5  # calls/s with 16 in flight at least 0.5x raw
FLAT_TARGET = 0.9  # last tenth of the in-flight run at least 0.9x the first tenth's calls/s
CPU_FLAT_TARGET = 1.1  # ... and at most 1.1x its client CPU per call
#: a (channel, type) shared by 10 plugins (issue 16): within 1.2x of one plugin's cost
SHARED_TARGET = 1.2
SHARED_VARIANTS = ("host-fanout", "host-gateway", "host-keyed")


@dataclass(frozen=True)
class Settings:
    rounds: int
    counts: dict[str, Counts]
    variants: tuple[str, ...]


def _median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def _flatness(phase: Phase) -> float:
    """Calls/s of the last tenth of an in-flight run over the first tenth's."""
    return phase.tenths[-1] / phase.tenths[0] if phase.tenths and phase.tenths[0] else float("nan")


def _cpu_growth(phase: Phase) -> float:
    """Client CPU per call in the last tenth of an in-flight run over the first tenth's."""
    return phase.cpu_tenths[-1] / phase.cpu_tenths[0] if phase.cpu_tenths and phase.cpu_tenths[0] else float("nan")


class _Runs:
    """The phases of a run, by variant and mode."""

    def __init__(self, phases: Sequence[Phase]) -> None:
        self._by: dict[tuple[str, str], list[Phase]] = {}
        for phase in phases:
            self._by.setdefault((phase.variant, phase.mode), []).append(phase)
        self.variants = [name for name in VARIANTS if (name, SEQUENTIAL) in self._by or (name, IN_FLIGHT) in self._by]

    def of(self, variant: str, mode: str) -> list[Phase]:
        return self._by.get((variant, mode), [])

    def median(self, variant: str, mode: str, key: Callable[[Phase], float]) -> float:
        return _median([key(phase) for phase in self.of(variant, mode)])

    def paired(self, top: str, bottom: str, mode: str, key: Callable[[Phase], float]) -> list[float]:
        """Per-round ratios ``key(top) / key(bottom)``, for rounds where both ran."""
        bottoms = {phase.round: key(phase) for phase in self.of(bottom, mode)}
        return [key(phase) / bottoms[phase.round] for phase in self.of(top, mode) if bottoms.get(phase.round)]


def _latency(key: str) -> Callable[[Phase], float]:
    """The latency percentile ``key`` (p50, p90, p99, max, mean) of a phase, in us."""

    def latency(phase: Phase) -> float:
        return phase.latency_us[key]

    return latency


def _cpu_of(side: str) -> Callable[[Phase], float]:
    """CPU us per call of ``client``, ``server`` or ``broker``."""

    def cpu(phase: Phase) -> float:
        return phase.cpu_us(side)

    return cpu


_p50 = _latency("p50")


def _rate(phase: Phase) -> float:
    return phase.rate


def _summary(runs: _Runs) -> list[str]:
    lines = [
        "| variant | sequential p50 us | p90 us | p99 us | sequential calls/s | 16 in flight calls/s "
        "| first tenth calls/s | last tenth calls/s | last / first | client CPU us/call, first -> last tenth |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name in runs.variants:
        seq = [runs.median(name, SEQUENTIAL, _latency(key)) for key in ("p50", "p90", "p99")]
        lines.append(
            f"| {VARIANTS[name].label} | {seq[0]:,.0f} | {seq[1]:,.0f} | {seq[2]:,.0f} "
            f"| {runs.median(name, SEQUENTIAL, _rate):,.0f} | {runs.median(name, IN_FLIGHT, _rate):,.0f} "
            f"| {runs.median(name, IN_FLIGHT, lambda phase: phase.tenths[0]):,.0f} "
            f"| {runs.median(name, IN_FLIGHT, lambda phase: phase.tenths[-1]):,.0f} "
            f"| {runs.median(name, IN_FLIGHT, _flatness):.2f} "
            f"| {runs.median(name, IN_FLIGHT, lambda phase: phase.cpu_tenths[0]):.0f} -> "
            f"{runs.median(name, IN_FLIGHT, lambda phase: phase.cpu_tenths[-1]):.0f} |"
        )
    return lines


def _cpu(runs: _Runs) -> list[str]:
    lines = [
        "| variant | sequential: client | server | broker | in flight: client | server | broker "
        "| in flight p50 / p99 latency us | client memory growth in flight, MiB |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name in runs.variants:
        cells = [
            f"{runs.median(name, mode, _cpu_of(side)):.0f}"
            for mode in (SEQUENTIAL, IN_FLIGHT) for side in ("client", "server", "broker")
        ]
        p50 = runs.median(name, IN_FLIGHT, _p50)
        p99 = runs.median(name, IN_FLIGHT, _latency("p99"))
        growth = runs.median(name, IN_FLIGHT, lambda phase: phase.rss_growth_mib)
        lines.append(f"| {VARIANTS[name].label} | {' | '.join(cells)} | {p50:,.0f} / {p99:,.0f} | {growth:.1f} |")
    return lines


def _threads(runs: _Runs) -> list[str]:
    """In flight: CPU us and context switches per call, by thread role, of each variant's server and client."""
    lines = ["| variant | side | CPU us per call by thread (context switches per call) |", "|---|---|---|"]
    for name in runs.variants:
        phases = runs.of(name, IN_FLIGHT)
        for side in ("server", "client"):
            samples = [(getattr(phase, f"{side}_threads"), phase.calls) for phase in phases]
            roles = sorted({role for threads, _ in samples for role in threads})
            cells = []
            for role in roles:
                cpu = _median([threads[role][0] / calls * 1e6 for threads, calls in samples if role in threads])
                switches = _median([threads[role][1] / calls for threads, calls in samples if role in threads])
                if cpu >= 0.05 or switches >= 0.005:
                    cells.append(f"{role} {cpu:.1f} ({switches:.2f})")
            if cells:
                lines.append(f"| {VARIANTS[name].label} | {side} | {', '.join(cells)} |")
    return lines if len(lines) > 2 else []


def _verdict(ok: bool) -> str:
    return "met" if ok else "**NOT met**"


def _spread(values: Sequence[float]) -> str:
    return f"{min(values):.2f}x - {max(values):.2f}x" if values else "-"


def _targets(runs: _Runs) -> list[str]:
    if not (runs.of("host", SEQUENTIAL) and runs.of("raw", SEQUENTIAL)):
        return []
    latency = runs.median("host", SEQUENTIAL, _p50) / runs.median("raw", SEQUENTIAL, _p50)
    throughput = runs.median("host", IN_FLIGHT, _rate) / runs.median("raw", IN_FLIGHT, _rate)
    flat = runs.median("host", IN_FLIGHT, _flatness)
    flat_rounds = [_flatness(phase) for phase in runs.of("host", IN_FLIGHT)]
    growth = runs.median("host", IN_FLIGHT, _cpu_growth)
    growth_rounds = [_cpu_growth(phase) for phase in runs.of("host", IN_FLIGHT)]
    return [
        "| target (openmodule-host vs raw pyzmq) | measured (ratio of medians) | per round | verdict |",
        "|---|---:|---:|---|",
        f"| sequential p50 at most {LATENCY_TARGET:g}x raw | {latency:.2f}x "
        f"| {_spread(runs.paired('host', 'raw', SEQUENTIAL, _p50))} | {_verdict(latency <= LATENCY_TARGET)} |",
        f"| 16 in flight calls/s at least {THROUGHPUT_TARGET:g}x raw | {throughput:.2f}x "
        f"| {_spread(runs.paired('host', 'raw', IN_FLIGHT, _rate))} | {_verdict(throughput >= THROUGHPUT_TARGET)} |",
        f"| flat: last tenth at least {FLAT_TARGET:g}x the first | {flat:.2f}x | {_spread(flat_rounds)} "
        f"| {_verdict(flat >= FLAT_TARGET)} |",
        f"| flat: last tenth's client CPU per call at most {CPU_FLAT_TARGET:g}x the first | {growth:.2f}x "
        f"| {_spread(growth_rounds)} | {_verdict(growth <= CPU_FLAT_TARGET)} |",
    ]


def _shared(runs: _Runs) -> list[str]:
    """Each shared-channel variant's cost against one plugin's (``host``), as ratios of medians: above 1 costs more."""
    rows = [name for name in SHARED_VARIANTS if runs.of(name, SEQUENTIAL) and runs.of("host", SEQUENTIAL)]
    if not rows:
        return []
    lines = [
        f"A (channel, type) shared by 10 plugins, against one plugin serving it (target: each cost at most "
        f"{SHARED_TARGET:g}x):",
        "",
        "| variant | sequential p50 | per round | 1 / (16 in flight calls/s) | per round "
        "| server CPU per call, in flight | verdict |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    server_cpu = _cpu_of("server")
    for name in rows:
        latency = runs.median(name, SEQUENTIAL, _p50) / runs.median("host", SEQUENTIAL, _p50)
        slowdown = runs.median("host", IN_FLIGHT, _rate) / runs.median(name, IN_FLIGHT, _rate)
        cpu = runs.median(name, IN_FLIGHT, server_cpu) / runs.median("host", IN_FLIGHT, server_cpu)
        ok = max(latency, slowdown, cpu) <= SHARED_TARGET
        lines.append(
            f"| {VARIANTS[name].label} | {latency:.2f}x | {_spread(runs.paired(name, 'host', SEQUENTIAL, _p50))} "
            f"| {slowdown:.2f}x | {_spread([1 / ratio for ratio in runs.paired(name, 'host', IN_FLIGHT, _rate)])} "
            f"| {cpu:.2f}x | {_verdict(ok)} |"
        )
    return lines


def _versus_openmodule(runs: _Runs) -> list[str]:
    if not (runs.of("host", SEQUENTIAL) and runs.of("openmodule", SEQUENTIAL)):
        return []
    latency = runs.median("openmodule", SEQUENTIAL, _p50) / runs.median("host", SEQUENTIAL, _p50)
    seq = runs.median("host", SEQUENTIAL, _rate) / runs.median("openmodule", SEQUENTIAL, _rate)
    flight = runs.median("host", IN_FLIGHT, _rate) / runs.median("openmodule", IN_FLIGHT, _rate)
    last = runs.median("host", IN_FLIGHT, lambda p: p.tenths[-1]) / runs.median(
        "openmodule", IN_FLIGHT, lambda p: p.tenths[-1])
    return [
        f"openmodule-host against openmodule 18.5.0: sequential p50 {latency:.1f}x lower, sequential calls/s "
        f"{seq:.1f}x, 16 in flight calls/s {flight:.1f}x overall and {last:.1f}x in the last tenth (the runs "
        "have different lengths, and openmodule's rate depends on its length).",
    ]


def _tenths(runs: _Runs) -> list[str]:
    lines = [
        "| variant, figure | " + " | ".join(f"{tenth}" for tenth in range(1, 11)) + " |",
        "|---|" + "---:|" * 10,
    ]
    for name in runs.variants:
        phases = [phase for phase in runs.of(name, IN_FLIGHT) if len(phase.tenths) == 10]
        if phases:
            cells = [f"{_median([phase.tenths[index] for phase in phases]):,.0f}" for index in range(10)]
            lines.append(f"| {VARIANTS[name].label}, calls/s | {' | '.join(cells)} |")
            cells = [f"{_median([phase.cpu_tenths[index] for phase in phases]):.0f}" for index in range(10)]
            lines.append(f"| {VARIANTS[name].label}, client CPU us/call | {' | '.join(cells)} |")
    return lines


def _per_round(phases: Sequence[Phase]) -> list[str]:
    lines = [
        "| round | variant | mode | calls | calls/s | p50 us | p99 us | first / last tenth calls/s "
        "| CPU us/call client / server / broker |",
        "|---:|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    order = list(VARIANTS)
    for phase in sorted(phases, key=lambda p: (p.round, order.index(p.variant), p.mode != SEQUENTIAL)):
        tenths = f"{phase.tenths[0]:,.0f} / {phase.tenths[-1]:,.0f}" if phase.tenths else "-"
        lines.append(
            f"| {phase.round} | {VARIANTS[phase.variant].label} | {phase.mode} | {phase.calls:,} "
            f"| {phase.rate:,.0f} | {phase.latency_us['p50']:,.0f} | {phase.latency_us['p99']:,.0f} | {tenths} "
            f"| {phase.cpu_us('client'):.0f} / {phase.cpu_us('server'):.0f} / {phase.cpu_us('broker'):.0f} |"
        )
    return lines


def _counts(settings: Settings) -> str:
    parts = [
        f"{VARIANTS[name].label} {counts.sequential:,} sequential / {counts.in_flight:,} in flight"
        for name, counts in settings.counts.items() if name in settings.variants
    ]
    first = next(iter(settings.counts.values()))
    return (f"calls per round: {'; '.join(parts)}; {first.window} calls in flight; each phase alternates "
            f"between the variants in {first.chunks} parts")


def render(phases: Sequence[Phase], settings: Settings, started: datetime, machine: MachineState) -> str:
    runs = _Runs(phases)
    lines = [
        "# RPC: round trips and calls in flight",
        "",
        f"Run {started.astimezone(UTC):%Y-%m-%d %H:%M} UTC on {os.cpu_count()} cores ({platform.machine()}), "
        f"Python {platform.python_version()}, pyzmq {zmq.__version__}, libzmq {zmq.zmq_version()}. "
        f"{settings.rounds} interleaved rounds; {_counts(settings)}. Medians over rounds. The machine is "
        "shared and noisy: absolute figures drift 15-25 % between runs, compare the ratios.",
        "",
        machine.describe(),
        "",
        *_summary(runs),
        "",
        "Sequential: one call at a time, each timed from the call to its validated result. 16 in flight: the "
        "client keeps 16 calls outstanding, waits for the oldest and sends the next; calls/s over the whole "
        "run and over the first and last tenth of its calls.",
        "",
        *_targets(runs),
        "",
        *_shared(runs),
        "",
        *_versus_openmodule(runs),
        "",
        "CPU per call in us (each process, all threads, user + sys, over the measured phase), and the latency "
        "of a call with 16 in flight:",
        "",
        *_cpu(runs),
        "",
        "16 in flight, where the CPU goes: each thread's CPU per call (user + sys, from /proc) and its context "
        "switches per call (each a sleep and a wake-up). A host hands every request from its intake thread to "
        "the plugin's worker, and every reply from its intake thread to the waiting caller:",
        "",
        *_threads(runs),
        "",
        "16 in flight, by tenth of the run (medians over rounds): calls/s, and the client's CPU per call (less "
        "disturbed by other load on the machine than calls/s):",
        "",
        *_tenths(runs),
        "",
        "Per round:",
        "",
        *_per_round(phases),
        "",
    ]
    return "\n".join(lines)
