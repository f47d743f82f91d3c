"""``python -m bench all``: every figure of issue 16's table in one run, as ratios against raw pyzmq and
openmodule 18.5.0, with what the machine did meanwhile (``make bench``).

One run measures, in interleaved rounds (the order of the variants rotates):
- the footprint of one idle service and of ten (``bench/footprint``): RSS and start-up to ready;
- the imports alone: a fresh interpreter importing what the service needs;
- the pub/sub flood (``bench/runner.py``): messages per second delivered;
- the variant as the sender (``bench/sender.py``): its process's CPU per message it publishes;
- RPC (``bench/rpc``): sequential p50 round trip and calls per second with 16 in flight.
Each part is the same code as its own benchmark, with fewer rounds; their own reports say more.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from .footprint.cli import measure as measure_footprint
from .machine import observe
from .processes import OPENMODULE_PYTHON, ROOT, chosen_variants, compile_bytecode, publish_report
from .protocol import make_bodies
from .rpc.protocol import IN_FLIGHT, SEQUENTIAL
from .rpc.runner import VARIANTS as RPC_VARIANTS
from .rpc.runner import Counts, run_round
from .runner import VARIANTS as PUBSUB_VARIANTS
from .runner import run_one
from .sender import run_sender

DEFAULT_OUTPUT = ROOT / "bench" / "results" / "summary.md"
VARIANTS = ("raw", "openmodule", "host")
LABELS = {"raw": "raw pyzmq", "openmodule": "openmodule 18.5.0", "host": "host"}

#: what each variant imports before it does anything (a fresh interpreter each time).
_IMPORTS = {
    "raw": "import zmq, orjson",
    "openmodule": "from openmodule.core import init_openmodule\nfrom openmodule.models.base import ZMQMessage\n"
                  "from openmodule.rpc import RPCServer",
    "host": "from openmodule_host import Host, HostConfig, PluginCandidate\n"
            "from openmodule_hookspecs import ZMQMessage, hookimpl",
}
_TIMED = "import time\n_started = time.perf_counter()\n{imports}\nprint(time.perf_counter() - _started)"


@dataclass(frozen=True)
class Figure:
    """One row of the table: its values per variant are medians over the rounds."""

    key: str
    label: str
    unit: str
    higher_is_better: bool
    target: str = ""
    values: dict[str, list[float]] = field(default_factory=dict)

    def add(self, variant: str, value: float) -> None:
        self.values.setdefault(variant, []).append(value)

    def median(self, variant: str) -> float | None:
        values = self.values.get(variant)
        return statistics.median(values) if values else None


def _figures() -> dict[str, Figure]:
    figures = [
        Figure("rss1", "one idle service, RSS", "MiB", False, "host <= 0.85x openmodule"),
        Figure("start1", "start-up of one service to ready", "ms", False, "host <= 0.5x openmodule"),
        Figure("cpu1", "start-up CPU of one service to ready", "ms", False, "(less load-dependent than wall time)"),
        Figure("imports", "imports of one service", "ms", False),
        Figure("start10", "ten services ready", "ms", False),
        Figure("rss10", "ten services, RSS", "MiB", False, "host <= 48 MiB"),
        Figure("pubsub", "pub/sub delivered", "msg/s", True, "host >= 0.85x raw"),
        # The variant's own sender (python -m bench sender): raw pyzmq a dict -> orjson -> two sends, the host a
        # plugin's core.publish of its model, openmodule core().publish; the sending process's CPU, all threads.
        Figure("sender", "sender CPU per message (the variant publishes: dict / core.publish / core().publish)",
               "us", False, "host <= 1.3x raw"),
        Figure("p50", "RPC sequential p50", "us", False, "host <= 1.3x raw"),
        Figure("flight", "RPC 16 in flight", "calls/s", True, "host >= 0.8x raw"),
    ]
    return {figure.key: figure for figure in figures}


def _python(variant: str) -> str:
    return str(OPENMODULE_PYTHON) if variant == "openmodule" else sys.executable


def measure_imports(variant: str) -> float:
    """Milliseconds a fresh interpreter of ``variant`` takes for the imports of one service."""
    result = subprocess.run([_python(variant), "-c", _TIMED.format(imports=_IMPORTS[variant])], cwd=ROOT,
                            capture_output=True, text=True, timeout=120, check=True)
    return float(result.stdout.strip().splitlines()[-1]) * 1000


@dataclass(frozen=True)
class Sizes:
    messages: int
    om_messages: int
    calls: Counts
    om_calls: Counts
    settle: float


def run_round_all(figures: dict[str, Figure], variants: Sequence[str], round_: int, sizes: Sizes,
                  progress: Callable[[str], None]) -> None:
    """Every part once for every variant, in the given order."""
    for variant in variants:
        figures["imports"].add(variant, measure_imports(variant))
        one = measure_footprint(variant, 1, round_, sizes.settle)
        figures["rss1"].add(variant, one.rss_mib)
        figures["start1"].add(variant, one.startup_ms)
        figures["cpu1"].add(variant, one.startup_cpu_ms)
        ten = measure_footprint(variant, 10, round_, sizes.settle)
        figures["start10"].add(variant, ten.startup_ms)
        figures["rss10"].add(variant, ten.rss_mib)
        progress(f"round {round_} {LABELS[variant]:>17} footprint: one {one.rss_mib:.1f} MiB {one.startup_ms:,.0f} ms,"
                 f" ten {ten.rss_mib:.1f} MiB {ten.startup_ms:,.0f} ms")
        bodies = make_bodies(sizes.om_messages if variant == "openmodule" else sizes.messages)
        flood = run_one(PUBSUB_VARIANTS[variant], bodies, round_, 10_000)
        figures["pubsub"].add(variant, flood.rate)
        sender = run_sender(variant, sizes.om_messages if variant == "openmodule" else sizes.messages)
        figures["sender"].add(variant, sender.cpu_us)
        progress(f"round {round_} {LABELS[variant]:>17} pub/sub: {flood.rate:,.0f} msg/s; as the sender: "
                 f"{sender.cpu_us:.1f} us CPU per message")
    counts = {variant: sizes.om_calls if variant == "openmodule" else sizes.calls for variant in variants}
    for phase in run_round([RPC_VARIANTS[variant] for variant in variants], counts, round_):
        if phase.mode == SEQUENTIAL:
            figures["p50"].add(phase.variant, phase.latency_us["p50"])
        elif phase.mode == IN_FLIGHT:
            figures["flight"].add(phase.variant, phase.rate)
        progress(f"round {round_} {LABELS[phase.variant]:>17} RPC {phase.mode}: {phase.rate:,.0f} calls/s, "
                 f"p50 {phase.latency_us['p50']:,.0f} us")


def _value(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:,.1f}" if value < 100 else f"{value:,.0f}"


def _ratio(top: float | None, bottom: float | None) -> str:
    return f"{top / bottom:.2f}x" if top is not None and bottom else "-"


def render(figures: dict[str, Figure], rounds: int, sizes: Sizes, started: datetime, machine: str) -> str:
    lines = [
        "# Issue 16's figures in one run",
        "",
        f"Run {started.astimezone(UTC):%Y-%m-%d %H:%M} UTC; {rounds} interleaved round(s), medians. Pub/sub: "
        f"{sizes.messages:,} messages per round ({sizes.om_messages:,} for openmodule); RPC: "
        f"{sizes.calls.sequential:,} sequential and {sizes.calls.in_flight:,} calls in flight "
        f"({sizes.om_calls.sequential:,} / {sizes.om_calls.in_flight:,} for openmodule). Footprint: one and ten "
        "idle services (a host: one process with 1 or 10 plugins), memory read "
        f"{sizes.settle:g} s after ready.",
        "",
        machine,
        "",
        "| figure | raw pyzmq | openmodule 18.5.0 | host | host/raw | host/openmodule | target |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for figure in figures.values():
        raw, om, host = (figure.median(variant) for variant in VARIANTS)
        lines.append(f"| {figure.label}, {figure.unit} | {_value(raw)} | {_value(om)} | {_value(host)} "
                     f"| {_ratio(host, raw)} | {_ratio(host, om)} | {figure.target} |")
    return "\n".join(lines) + "\n"


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench all", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default 3)")
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run: 1 round, 20,000 / 4,000 messages, a tenth of the RPC calls")
    parser.add_argument("--variants", default=",".join(VARIANTS), help=f"subset of {', '.join(VARIANTS)}")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="markdown report (default: %(default)s)")
    parser.add_argument("--no-write", action="store_true", help="print the report only")
    parser.add_argument("--busy-neighbours", type=int, default=0, metavar="N",
                        help="run N CPU-bound processes alongside")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    names = chosen_variants(args.variants, VARIANTS)
    if names is None:
        return 2
    if args.quick:
        args.rounds = 1
        sizes = Sizes(20_000, 4_000, Counts(500, 2_500), Counts(100, 800), 1.0)
    else:
        sizes = Sizes(100_000, 20_000, Counts(5_000, 25_000), Counts(1_000, 8_000), 2.0)
    if not names or args.rounds < 1 or args.busy_neighbours < 0:
        print("nothing to measure: need a variant and a round", file=sys.stderr)
        return 2
    compile_bytecode()
    figures = _figures()
    started = datetime.now().astimezone()

    def progress(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    with observe(args.busy_neighbours) as machine:
        for round_ in range(1, args.rounds + 1):
            shift = (round_ - 1) % len(names)
            run_round_all(figures, names[shift:] + names[:shift], round_, sizes, progress)
    assert machine.state is not None
    publish_report(render(figures, args.rounds, sizes, started, machine.state.describe()), args.output, args.no_write)
    return 0
