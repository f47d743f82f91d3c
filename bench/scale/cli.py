"""``python -m bench scale``: one host with 1, 10, 50 and 100 plugins (threads): start-up, memory, and the
pub/sub messages per second delivered to the plugins' handlers.

Plugin ``i`` counts the messages of topic ``scale_<i>``; this process publishes the flood round-robin
over the N topics (the same 100-byte bodies as the pub/sub benchmark), on a fresh broker per measurement.
Start-up: from starting the host process to ``start()`` returned. Memory: RSS and PSS after the settle
time, before the flood. Throughput: delivered messages from the first counted to the last, over that
wall time; receiver CPU per message is the host process's CPU time in that window.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil
import zmq

from ..machine import observe
from ..processes import ROOT, Child, ChildFailed, compile_bytecode, publish_report
from ..protocol import END, PROBE, make_bodies, make_body
from . import TOPIC_PREFIX

DEFAULT_OUTPUT = ROOT / "bench" / "results" / "scale.md"
_READY_TIMEOUT = 300.0
_MIB = 2**20


@dataclass(frozen=True)
class Measurement:
    plugins: int
    round: int
    startup_ms: float
    startup_cpu_ms: float
    rss_mib: float
    pss_mib: float
    sent: int
    delivered: int
    wall: float
    cpu: float
    dropped: int

    @property
    def rate(self) -> float:
        return self.delivered / self.wall if self.wall > 0 else 0.0

    @property
    def cpu_us(self) -> float:
        return self.cpu / self.delivered * 1e6 if self.delivered else float("nan")


def _send_all(pub: zmq.Socket[bytes], topics: Sequence[bytes], body: bytes) -> None:
    for topic in topics:
        pub.send(topic, zmq.SNDMORE)
        pub.send(body)


def _await(host: Child, kind: str, pub: zmq.Socket[bytes], topics: Sequence[bytes], body: bytes,
           interval: float, timeout: float) -> dict[str, Any]:
    """Publish ``body`` on every topic each ``interval`` s until the host answers with ``kind``."""
    deadline = time.monotonic() + timeout
    while True:
        _send_all(pub, topics, body)
        if (answer := host.expect(kind, interval)) is not None:
            return answer
        if time.monotonic() > deadline:
            raise ChildFailed(f"host: no {kind!r} within {timeout:g} s\n{host.stderr_tail()}")


def measure(plugins: int, round_: int, messages: int, settle: float) -> Measurement:
    broker = Child("broker", [sys.executable, "-m", "bench.broker"])
    host: Child | None = None
    context = zmq.Context()
    try:
        addresses = broker.require("ready", 30)
        with tempfile.TemporaryDirectory(prefix="omh-scale-") as data_dir:
            started = time.perf_counter()
            host = Child(f"host-{plugins}", [sys.executable, "-m", "bench.scale.host", "--sub", addresses["sub"],
                                             "--pub", addresses["pub"], "--count", str(plugins),
                                             "--data-dir", data_dir], stdin=True)
            host.require("ready", _READY_TIMEOUT)
            startup = time.perf_counter() - started
            process = psutil.Process(host.pid)
            startup_cpu = process.cpu_times().user + process.cpu_times().system
            time.sleep(settle)
            info = process.memory_full_info()
            pub = context.socket(zmq.PUB)
            pub.setsockopt(zmq.LINGER, 0)
            pub.setsockopt(zmq.SNDHWM, 0)
            pub.connect(addresses["sub"])
            topics = [f"{TOPIC_PREFIX}{index}".encode() for index in range(plugins)]
            _await(host, "subscribed", pub, topics, make_body(PROBE), 0.05, 60)
            send, more = pub.send, zmq.SNDMORE
            for seq, body in enumerate(make_bodies(messages)):
                send(topics[seq % plugins], more)
                send(body)
            result = _await(host, "result", pub, topics, make_body(END), 0.1, 120 + messages / 500)
            pub.close()
            host.stop()
    finally:
        if host is not None:
            host.kill()
        broker.kill()
        context.destroy(linger=0)
    return Measurement(plugins, round_, startup * 1000, startup_cpu * 1000, info.rss / _MIB,
                       getattr(info, "pss", info.rss) / _MIB,
                       messages, int(result["delivered"]), float(result["wall"]), float(result["cpu"]),
                       int(result["dropped"]))


def _median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


@dataclass(frozen=True)
class Row:
    plugins: int
    startup_ms: float
    startup_cpu_ms: float
    rss_mib: float
    pss_mib: float
    rate: float
    cpu_us: float
    delivered: int
    sent: int


def summarise(measurements: Sequence[Measurement]) -> list[Row]:
    rows = []
    for count in sorted({m.plugins for m in measurements}):
        runs = [m for m in measurements if m.plugins == count]
        rows.append(Row(count, _median([m.startup_ms for m in runs]), _median([m.startup_cpu_ms for m in runs]),
                        _median([m.rss_mib for m in runs]),
                        _median([m.pss_mib for m in runs]), _median([m.rate for m in runs]),
                        _median([m.cpu_us for m in runs]), sum(m.delivered for m in runs), sum(m.sent for m in runs)))
    return rows


def render(measurements: Sequence[Measurement], rounds: int, messages: int, started: datetime, machine: str) -> str:
    rows = summarise(measurements)
    base = rows[0]
    lines = [
        "# Scale: one host with N plugins",
        "",
        f"Run {started.astimezone(UTC):%Y-%m-%d %H:%M} UTC; {rounds} rounds, medians; {messages:,} messages per "
        "measurement, round-robin over the N plugins' topics. Start-up: process start to `start()` returned (and "
        "the host process's CPU time until then). "
        "Memory: the host process after the settle time, before the flood.",
        "",
        machine,
        "",
        f"| plugins | start-up ms | start-up CPU ms | RSS MiB | PSS MiB | RSS added per plugin KiB (vs {base.plugins}) "
        "| msg/s delivered | host CPU us/msg | delivered / sent |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        per_plugin = ((row.rss_mib - base.rss_mib) * 1024 / (row.plugins - base.plugins)
                      if row.plugins != base.plugins else float("nan"))
        lines.append(f"| {row.plugins} | {row.startup_ms:,.0f} | {row.startup_cpu_ms:,.0f} | {row.rss_mib:,.1f} "
                     f"| {row.pss_mib:,.1f} "
                     f"| {'-' if per_plugin != per_plugin else f'{per_plugin:,.0f}'} | {row.rate:,.0f} "
                     f"| {row.cpu_us:,.1f} | {row.delivered:,} / {row.sent:,} |")
    lines += ["", "Per round:", "", "| round | plugins | start-up ms | RSS MiB | msg/s | host CPU us/msg | dropped |",
              "|---:|---:|---:|---:|---:|---:|---:|"]
    lines += [f"| {m.round} | {m.plugins} | {m.startup_ms:,.0f} | {m.rss_mib:,.1f} | {m.rate:,.0f} | {m.cpu_us:,.1f} "
              f"| {m.dropped} |" for m in measurements]
    return "\n".join(lines) + "\n"


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench scale", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--plugins", default="1,10,50,100", help="comma-separated plugin counts (default 1,10,50,100)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds (default 3)")
    parser.add_argument("--messages", type=int, default=50_000, help="messages per measurement (default 50,000)")
    parser.add_argument("--settle", type=float, default=2.0, help="seconds between ready and reading memory")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 1 round, 10,000 messages, settle 1 s")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="markdown report (default: %(default)s)")
    parser.add_argument("--no-write", action="store_true", help="print the report only")
    parser.add_argument("--busy-neighbours", type=int, default=0, metavar="N",
                        help="run N CPU-bound processes alongside")
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.messages, args.settle = 1, 10_000, 1.0
    return args


def run(plugin_counts: Sequence[int], rounds: int, messages: int, settle: float) -> list[Measurement]:
    """Every count once per round (the order rotates between rounds); progress on stderr."""
    measurements = []
    for round_ in range(1, rounds + 1):
        shift = (round_ - 1) % len(plugin_counts)
        for count in [*plugin_counts[shift:], *plugin_counts[:shift]]:
            measurement = measure(count, round_, messages, settle)
            measurements.append(measurement)
            print(f"round {round_}/{rounds} x{count:>3}: start-up {measurement.startup_ms:7,.0f} ms, RSS "
                  f"{measurement.rss_mib:6,.1f} MiB, {measurement.rate:9,.0f} msg/s, "
                  f"{measurement.delivered:,}/{measurement.sent:,} delivered", file=sys.stderr, flush=True)
    return measurements


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    try:
        counts = sorted({int(count) for count in args.plugins.split(",")})
    except ValueError:
        counts = []
    if not counts or counts[0] < 1 or args.rounds < 1 or args.messages < 1 or args.busy_neighbours < 0:
        print("nothing to measure: need plugin counts of at least 1, a round and a message", file=sys.stderr)
        return 2
    compile_bytecode()
    started = datetime.now().astimezone()
    with observe(args.busy_neighbours) as machine:
        measurements = run(counts, args.rounds, args.messages, args.settle)
    assert machine.state is not None
    publish_report(render(measurements, args.rounds, args.messages, started, machine.state.describe()),
                   args.output, args.no_write)
    return 0
