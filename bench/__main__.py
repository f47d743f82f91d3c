"""``python -m bench [pubsub]``: the pub/sub throughput benchmark (raw pyzmq vs openmodule-host vs openmodule 18.5.0).

Each variant's receiver is its own process behind a fresh XSUB/XPUB broker process; this process is the
sender. Variants run interleaved (the order rotates every round) and the report gives medians and ratios.
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime

from .machine import observe
from .processes import ROOT, add_report_options, publish_report
from .protocol import make_bodies
from .report import Settings, render
from .runner import VARIANTS, Measurement, run_one

DEFAULT_OUTPUT = ROOT / "bench" / "results" / "pubsub.md"


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench [pubsub]", description=__doc__,
                                     epilog="The RPC benchmark: python -m bench rpc --help")
    parser.add_argument("--messages", type=int, default=100_000, help="messages per round, raw and host")
    parser.add_argument("--om-messages", type=int, default=20_000, help="messages per round, openmodule (slower)")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 2 rounds, 20,000 / 4,000 messages")
    parser.add_argument(
        "--mailbox-size", type=int, default=10_000, help="host plugin mailbox (default: the host's own, %(default)s)"
    )
    add_report_options(
        parser, VARIANTS, DEFAULT_OUTPUT,
        "record each receiver with py-spy (--gil, raw format) into DIR/<variant>-r<round>.txt",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.messages, args.om_messages = 2, 20_000, 4_000
    return args


def main(argv: list[str] | None = None) -> int:
    """``rpc`` runs the RPC benchmark, ``rpc-trace`` follows sequential calls stretch by stretch, ``sender`` the
    sender's CPU per message, ``footprint`` the memory and start-up one, ``scale`` one host with 1 to 100
    plugins, ``channels`` what called RPC channels cost, ``all`` issue 16's figures in one run; ``pubsub`` (or
    nothing) the pub/sub flood."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["rpc"]:
        from .rpc.cli import main as rpc_main

        return rpc_main(argv[1:])
    if argv[:1] == ["rpc-trace"]:
        from .rpc.trace import main as trace_main

        return trace_main(argv[1:])
    if argv[:1] == ["sender"]:
        from .sender import main as sender_main

        return sender_main(argv[1:])
    if argv[:1] == ["channels"]:
        from .channels import main as channels_main

        return channels_main(argv[1:])
    if argv[:1] == ["all"]:
        from .summary import main as summary_main

        return summary_main(argv[1:])
    if argv[:1] == ["scale"]:
        from .scale.cli import main as scale_main

        return scale_main(argv[1:])
    if argv[:1] == ["footprint"]:
        from .footprint.cli import main as footprint_main

        return footprint_main(argv[1:])
    return pubsub(argv[1:] if argv[:1] == ["pubsub"] else argv)


def pubsub(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    names = [name.strip() for name in args.variants.split(",") if name.strip()]
    unknown = [name for name in names if name not in VARIANTS]
    if unknown:
        print(f"unknown variant(s): {', '.join(unknown)}", file=sys.stderr)
        return 2
    variants = []
    for name in names:
        if VARIANTS[name].available:
            variants.append(VARIANTS[name])
        else:
            print(f"skipping {name}: {VARIANTS[name].python} is missing (run `make openmodule-env`)", file=sys.stderr)
    if not variants or args.rounds < 1 or args.messages < 1 or args.om_messages < 1 or args.busy_neighbours < 0:
        print("nothing to measure: need a variant, rounds and message counts of at least 1, and no negative "
              "number of neighbours", file=sys.stderr)
        return 2
    mailbox_size = args.mailbox_size
    bodies = make_bodies(max(args.messages, args.om_messages))
    started = datetime.now().astimezone()
    measurements: list[Measurement] = []
    with observe(args.busy_neighbours) as machine:
        for round_ in range(1, args.rounds + 1):
            shift = (round_ - 1) % len(variants)
            for variant in variants[shift:] + variants[:shift]:
                count = args.om_messages if variant.name == "openmodule" else args.messages
                profile_to = args.py_spy / f"{variant.name}-r{round_}.txt" if args.py_spy else None
                measurement = run_one(variant, bodies[:count], round_, mailbox_size, profile_to)
                measurements.append(measurement)
                print(
                    f"round {round_}/{args.rounds} {variant.label:>17}: {measurement.rate:>9,.0f} msg/s, "
                    f"receiver {measurement.receiver_us:6.1f} us/msg, delivered {measurement.delivered:,}/"
                    f"{measurement.sent:,}",
                    file=sys.stderr,
                    flush=True,
                )
    assert machine.state is not None
    settings = Settings(args.rounds, args.messages, args.om_messages, mailbox_size, tuple(v.name for v in variants))
    report = render(measurements, settings, started, machine.state)
    publish_report(report, args.output, args.no_write)
    return 0


if __name__ == "__main__":
    sys.exit(main())
