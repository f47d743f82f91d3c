"""Medians, ratios and the markdown report of a set of measurements."""

from __future__ import annotations

import os
import platform
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import zmq

from .machine import MachineState
from .runner import VARIANTS, Measurement

__all__ = ["Settings", "render"]

TARGET = 0.6  # the goal: host >= 0.6x raw pyzmq msg/s

_THREAD_LABELS = {"omh-intake": "intake thread", "omh-plugin-bench": "plugin worker", "other": "libzmq I/O threads"}


@dataclass(frozen=True)
class Settings:
    rounds: int
    messages: int
    om_messages: int
    mailbox_size: int
    variants: tuple[str, ...]


def _median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def _by_variant(measurements: Sequence[Measurement]) -> dict[str, list[Measurement]]:
    grouped: dict[str, list[Measurement]] = {}
    for measurement in measurements:
        grouped.setdefault(measurement.variant, []).append(measurement)
    return grouped


def _summary(grouped: dict[str, list[Measurement]]) -> list[str]:
    lines = [
        "| variant | msg/s delivered (median) | msg/s min - max | receiver CPU us/msg | flood msg/s (sender) "
        "| sender CPU us/msg | broker CPU us/msg | delivered / sent |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, runs in grouped.items():
        rates = [run.rate for run in runs]
        lines.append(
            f"| {VARIANTS[name].label} | {_median(rates):,.0f} | {min(rates):,.0f} - {max(rates):,.0f} "
            f"| {_median([run.receiver_us for run in runs]):.1f} | {_median([run.send_rate for run in runs]):,.0f} "
            f"| {_median([run.sender_us for run in runs]):.1f} "
            f"| {_median([run.broker_us for run in runs]):.1f} "
            f"| {sum(run.delivered for run in runs):,} / {sum(run.sent for run in runs):,} |"
        )
    return lines


def _paired(
    grouped: dict[str, list[Measurement]], top: str, bottom: str, key: Callable[[Measurement], float]
) -> list[float]:
    """Per-round ratios ``key(top) / key(bottom)`` for rounds where both ran."""
    bottoms = {run.round: key(run) for run in grouped[bottom]}
    return [key(run) / bottoms[run.round] for run in grouped[top] if bottoms.get(run.round)]


def _ratios(grouped: dict[str, list[Measurement]]) -> list[str]:
    lines = [
        "| ratio | msg/s (ratio of medians) | msg/s per-round min - max | receiver CPU/msg (ratio of medians) |",
        "|---|---:|---:|---:|",
    ]
    for bottom in ("raw", "openmodule"):
        if "host" not in grouped or bottom not in grouped:
            continue
        rate = _median([r.rate for r in grouped["host"]]) / _median([r.rate for r in grouped[bottom]])
        cpu = _median([r.receiver_us for r in grouped["host"]]) / _median([r.receiver_us for r in grouped[bottom]])
        per_round = _paired(grouped, "host", bottom, lambda run: run.rate)
        lines.append(
            f"| host / {VARIANTS[bottom].label} | {rate:.2f}x | {min(per_round):.2f}x - {max(per_round):.2f}x "
            f"| {cpu:.2f}x |"
        )
    return lines


def _host_threads(runs: Sequence[Measurement]) -> list[str]:
    per_thread: dict[str, list[float]] = {}
    for run in runs:
        for name, seconds in (run.extras.get("thread_cpu") or {}).items():
            per_thread.setdefault(name, []).append(seconds / run.delivered * 1e6 if run.delivered else 0.0)
    if not per_thread:
        return []
    parts = [
        f"{_THREAD_LABELS.get(name, name)} {_median(values):.1f}"
        for name, values in sorted(per_thread.items(), key=lambda item: -_median(item[1]))
    ]
    dropped = sum(int(run.extras.get("mailbox_dropped", 0)) for run in runs)
    return [
        f"Host receiver CPU by thread, median us/msg: {', '.join(parts)}. Mailbox drops: {dropped}.",
    ]


def _per_round(measurements: Sequence[Measurement]) -> list[str]:
    lines = [
        "| round | variant | sent | delivered | msg/s | receiver us/msg | sender msg/s |",
        "|---:|---|---:|---:|---:|---:|---:|",
    ]
    for run in sorted(measurements, key=lambda run: (run.round, list(VARIANTS).index(run.variant))):
        lines.append(
            f"| {run.round} | {VARIANTS[run.variant].label} | {run.sent:,} | {run.delivered:,} | {run.rate:,.0f} "
            f"| {run.receiver_us:.1f} | {run.send_rate:,.0f} |"
        )
    return lines


def render(measurements: Sequence[Measurement], settings: Settings, started: datetime, machine: MachineState) -> str:
    grouped = {name: runs for name, runs in _by_variant(measurements).items() if runs}
    grouped = {name: grouped[name] for name in VARIANTS if name in grouped}
    lines = [
        "# Pub/sub flood: messages delivered to a handler",
        "",
        f"Run {started.astimezone(UTC):%Y-%m-%d %H:%M} UTC on {os.cpu_count()} cores ({platform.machine()}), "
        f"Python {platform.python_version()}, pyzmq {zmq.__version__}, libzmq {zmq.zmq_version()}. "
        f"{settings.rounds} interleaved rounds; per round {settings.messages:,} messages for raw pyzmq and "
        f"openmodule-host, {settings.om_messages:,} for openmodule 18.5.0; 100-byte bodies; "
        f"host mailbox {settings.mailbox_size:,}. Medians over rounds. The machine is shared and noisy: "
        "absolute figures drift 15-25 % between runs, compare the ratios.",
        "",
        machine.describe(),
        "",
        *_summary(grouped),
        "",
        "msg/s: messages delivered to the handler per second, first to last message. Receiver CPU: the "
        "receiver process's CPU time (all threads, user + sys) in that window, per message. Flood msg/s: how "
        "fast the sender published; where it is far above msg/s, the receiver was the limit.",
        "",
        *_ratios(grouped),
        "",
    ]
    if "host" in grouped and "raw" in grouped:
        ratio = _median([r.rate for r in grouped["host"]]) / _median([r.rate for r in grouped["raw"]])
        verdict = "met" if ratio >= TARGET else "NOT met"
        lines += [f"Target host >= {TARGET}x raw pyzmq msg/s: **{verdict}** ({ratio:.3f}x).", ""]
    if "host" in grouped:
        lines += [*_host_threads(grouped["host"]), ""]
    lines += ["Per round:", "", *_per_round(measurements), ""]
    return "\n".join(lines)
