"""``python -m bench rpc-trace``: where the time of one sequential RPC goes, raw pyzmq against the host.

``bench rpc`` gives a call's latency whole; this one follows each call through its client, the broker and its
server, with stamps on one clock that every process shares (see :mod:`bench.rpc.peers.traced` for the
points), and gives the median of every stretch between two points, and each thread's CPU per call. Each
round runs every variant behind a fresh broker (the order rotates); medians are over all calls of all rounds.

Options: ``--calls N`` (3,000 per round), ``--rounds R`` (3), ``--variants raw,host,host-unplaced``, ``--output``,
``--no-write``, ``--busy-neighbours N``. The report goes to ``bench/results/rpc-trace.md``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path

from ..machine import MachineState, observe
from ..processes import ROOT, Child, chosen_variants, publish_report
from ..threads import by_role, sample

__all__ = ["main"]

VARIANTS = ("raw", "host", "host-unplaced")
NAMES = {"raw": "raw pyzmq", "host": "openmodule-host", "host-unplaced": "host, cpu_placement off"}
#: the stretches reported, in the order a call passes them; a variant without a point skips its stretches
POINTS = ("t0", "sent", "s_in", "offered", "woke", "s_work", "s_sent", "c_in", "t1")
DEFAULT_OUTPUT = ROOT / "bench" / "results" / "rpc-trace.md"
_START_TIMEOUT = 120.0
_PEER = "bench.rpc.peers.traced"


@dataclass
class _Traced:
    """What the rounds of one variant gave: each call's points, and each side's thread CPU by role."""

    calls: list[dict[str, int]] = field(default_factory=list)
    threads: dict[str, dict[str, tuple[float, int]]] = field(default_factory=lambda: {"client": {}, "server": {}})

    def add_threads(self, side: str, roles: dict[str, tuple[float, int]]) -> None:
        total = self.threads[side]
        for role, (cpu, switches) in roles.items():
            old_cpu, old_switches = total.get(role, (0.0, 0))
            total[role] = (old_cpu + cpu, old_switches + switches)


def _round(variant: str, calls: int, traced: _Traced) -> None:
    """One variant's broker, server and client; ``calls`` sequential calls, stamped and added to ``traced``."""
    python = sys.executable
    broker = Child(f"{variant}-broker", [python, "-m", "bench.broker"])
    server: Child | None = None
    client: Child | None = None
    try:
        addresses = broker.require("ready", 30)
        wire = ["--variant", variant, "--sub", addresses["sub"], "--pub", addresses["pub"]]
        server = Child(f"{variant}-server", [python, "-m", _PEER, "server", *wire], stdin=True)
        server_names = server.require("ready", _START_TIMEOUT).get("threads", {})
        client = Child(f"{variant}-client", [python, "-m", _PEER, "client", *wire, "--calls", str(calls)], stdin=True)
        client_names = client.require("begin", _START_TIMEOUT).get("threads", {})
        server_before, client_before = sample(server.pid), sample(client.pid)
        client.tell("go")
        client_points = client.require("points", _START_TIMEOUT + calls / 50)["stamps"]
        traced.add_threads("server", by_role(server_before, sample(server.pid), server_names))
        traced.add_threads("client", by_role(client_before, sample(client.pid), client_names))
        server.tell("report")
        server_points = server.require("points", 30)["stamps"]
    finally:
        for child in (client, server, broker):
            if child is not None:
                child.kill()
    for seq, points in client_points.items():
        if seq in server_points:
            traced.calls.append({**points, **server_points[seq]})


def _median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def _stretches(calls: list[dict[str, int]]) -> list[tuple[str, str, float]]:
    """(from, to, median us) for each stretch between two points the variant has."""
    if not calls:
        return []
    points = [point for point in POINTS if point in calls[0]]
    return [(start, end, _median([(call[end] - call[start]) / 1000 for call in calls]))
            for start, end in pairwise(points)]


def _render(results: dict[str, _Traced], rounds: int, calls: int, state: MachineState | None) -> str:
    names = list(results)
    lines = [
        "# One sequential RPC, stretch by stretch",
        "",
        f"Run on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC: `python -m bench rpc-trace`, {rounds} round(s) of "
        f"{calls:,} sequential calls per variant. Medians over all calls, in us; a stretch runs from one point "
        "to the next the variant has (points: `bench/rpc/peers/traced.py`).",
        "",
        state.describe() if state is not None else "",
        "",
        "| stretch | " + " | ".join(NAMES[name] for name in names) + " |",
        "|---|" + "---:|" * len(names),
    ]
    stretches = {name: {(start, end): us for start, end, us in _stretches(results[name].calls)} for name in names}
    order = [(start, end) for name in reversed(names) for start, end in stretches[name]]
    for start, end in sorted(set(order), key=lambda pair: (POINTS.index(pair[0]), POINTS.index(pair[1]))):
        cells = [f"{stretches[name][start, end]:,.1f}" if (start, end) in stretches[name] else "" for name in names]
        lines.append(f"| `{start}` -> `{end}` | " + " | ".join(cells) + " |")
    totals = {name: _median([(call["t1"] - call["t0"]) / 1000 for call in results[name].calls]) for name in names}
    lines.append("| **whole call** (`t0` -> `t1`) | " + " | ".join(f"**{totals[name]:,.1f}**" for name in names) + " |")
    if "raw" in totals:
        lines += [""] + [f"Whole call, {NAMES[variant]} / raw: {totals[variant] / totals['raw']:.2f}x."
                         for variant in ("host", "host-unplaced") if variant in totals]
    lines += [
        "",
        "CPU per call of each thread (user + system, from /proc, over the measured calls) and its context "
        "switches per call:",
        "",
        "| variant | side | CPU us per call by thread (context switches per call) |",
        "|---|---|---|",
    ]
    for name in names:
        count = max(1, len(results[name].calls))
        for side in ("client", "server"):
            roles = sorted(results[name].threads[side].items(), key=lambda item: -item[1][0])
            shown = [(role, cpu / count * 1e6, switches / count) for role, (cpu, switches) in roles]
            cells = ", ".join(f"{role} {us:.1f} ({per_call:.2f})" for role, us, per_call in shown
                              if us >= 0.05 or per_call >= 0.005)  # threads idle meanwhile are left out
            lines.append(f"| {NAMES[name]} | {side} | {cells} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench rpc-trace", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=3_000, help="sequential calls per variant and round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds (the order of the variants rotates)")
    parser.add_argument("--variants", default=",".join(VARIANTS),
                        help=f"comma-separated subset of {', '.join(VARIANTS)}")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="markdown report (default: %(default)s)")
    parser.add_argument("--no-write", action="store_true", help="print the report only")
    parser.add_argument("--busy-neighbours", type=int, default=0, metavar="N",
                        help="run N CPU-bound processes alongside, to see how the stretches depend on load")
    args = parser.parse_args(argv)
    variants = chosen_variants(args.variants, VARIANTS)
    if not variants or args.calls < 10 or args.rounds < 1:
        print("need a known variant, at least 10 calls and 1 round", file=sys.stderr)
        return 2
    results = {name: _Traced() for name in variants}
    with observe(args.busy_neighbours) as observation:
        for round_ in range(args.rounds):
            shift = round_ % len(variants)
            for name in variants[shift:] + variants[:shift]:
                _round(name, args.calls, results[name])
    publish_report(_render(results, args.rounds, args.calls, observation.state), args.output, args.no_write)
    return 0
