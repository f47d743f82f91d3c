"""``python -m bench rpc``: RPC latency and throughput (raw pyzmq vs openmodule-host vs openmodule 18.5.0).

Each variant gets a fresh broker and server process per round, and one client process per mode:
sequential calls (round-trip p50/p99, calls/s), alternated between the variants in parts, then 16 calls in
flight (calls/s overall and per tenth of the run), variant after variant. The order rotates every round;
the report gives medians and ratios.
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime

from ..machine import observe
from ..processes import ROOT, add_report_options, publish_report
from .report import Settings, render
from .runner import VARIANTS, Counts, Phase, run_round

DEFAULT_OUTPUT = ROOT / "bench" / "results" / "rpc.md"


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench rpc", description=__doc__)
    parser.add_argument("--calls", type=int, default=5_000,
                        help="sequential calls per round, raw and the host variants")
    parser.add_argument("--flight-calls", type=int, default=25_000,
                        help="calls in flight per round, raw and the host variants")
    parser.add_argument("--om-calls", type=int, default=1_000, help="sequential calls per round, openmodule")
    parser.add_argument("--om-flight-calls", type=int, default=8_000, help="calls in flight per round, openmodule")
    parser.add_argument("--window", type=int, default=16, help="calls kept in flight")
    parser.add_argument("--warmup", type=int, default=200, help="unmeasured calls before the measured ones")
    parser.add_argument(
        "--chunks", type=int, default=10, help="parts of each phase, alternated between the variants"
    )
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 1 round, a tenth of the calls")
    add_report_options(
        parser, VARIANTS, DEFAULT_OUTPUT,
        "record server and client in flight with py-spy (--gil, raw format) into "
        "DIR/<variant>-in-flight-<side>-r<round>.txt",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds = 1
        for name in ("calls", "flight_calls", "om_calls", "om_flight_calls"):
            setattr(args, name, max(100, getattr(args, name) // 10))
    return args


def _variants(spec: str) -> list[str] | None:
    names = [name.strip() for name in spec.split(",") if name.strip()]
    if unknown := [name for name in names if name not in VARIANTS]:
        print(f"unknown variant(s): {', '.join(unknown)}", file=sys.stderr)
        return None
    available = []
    for name in names:
        if VARIANTS[name].available:
            available.append(name)
        else:
            print(f"skipping {name}: {VARIANTS[name].python} is missing (run `make openmodule-env`)", file=sys.stderr)
    return available


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    names = _variants(args.variants)
    if names is None:
        return 2
    sizes = (args.calls, args.flight_calls, args.om_calls, args.om_flight_calls)
    if (not names or args.rounds < 1 or min(sizes) < 10 or args.window < 1 or not 1 <= args.chunks <= min(sizes)
            or args.busy_neighbours < 0):
        print("nothing to measure: need a variant, a round, 10 calls per phase, a window of 1, at most as many "
              "chunks as calls and no negative number of neighbours", file=sys.stderr)
        return 2
    counts = {
        name: Counts(args.calls, args.flight_calls, args.window, args.warmup, args.chunks)
        if name != "openmodule" else Counts(args.om_calls, args.om_flight_calls, args.window, args.warmup, args.chunks)
        for name in names
    }
    started = datetime.now().astimezone()
    phases: list[Phase] = []
    with observe(args.busy_neighbours) as machine:
        for round_ in range(1, args.rounds + 1):
            shift = (round_ - 1) % len(names)
            order = [VARIANTS[name] for name in names[shift:] + names[:shift]]
            for phase in run_round(order, counts, round_, args.py_spy):
                phases.append(phase)
                tenths = f", tenths {phase.tenths[0]:,.0f} -> {phase.tenths[-1]:,.0f}" if phase.tenths else ""
                print(
                    f"round {round_}/{args.rounds} {VARIANTS[phase.variant].label:>17} {phase.mode:>10}: "
                    f"{phase.rate:>8,.0f} calls/s, p50 {phase.latency_us['p50']:8,.0f} us{tenths}",
                    file=sys.stderr,
                    flush=True,
                )
    assert machine.state is not None
    report = render(phases, Settings(args.rounds, counts, tuple(names)), started, machine.state)
    publish_report(report, args.output, args.no_write)
    return 0
