"""``python -m bench footprint``: what N idle services cost in memory and start-up time.

Four ways to run N services, each with one message handler and one RPC, on a fresh broker per round:

- **raw pyzmq**: N processes, each with a PUB and a SUB socket and nothing else (the floor);
- **openmodule 18.5.0**: N standalone services (``init_openmodule``, a handler, an ``RPCServer``);
- **openmodule-host, threads**: one host process with N plugins (the default isolation);
- **openmodule-host, processes**: one host with N plugins, each in its own child process
  (``isolation = "process"``).

Start-up is the time from starting the process(es) to the last one saying it is ready (for openmodule:
``init_openmodule`` returned; for a host: ``start()`` returned, its connection check included). Memory
is summed over every process of the variant (a host's children included) after a settle time: RSS, and
PSS (shared pages divided among the processes that share them, the fairer sum).
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

import psutil

from ..machine import observe
from ..processes import OPENMODULE_PYTHON, ROOT, Child, compile_bytecode, publish_report

DEFAULT_OUTPUT = ROOT / "bench" / "results" / "footprint.md"
_READY_TIMEOUT = 180.0
_MIB = 2**20


@dataclass(frozen=True)
class Variant:
    name: str
    label: str

    @property
    def available(self) -> bool:
        return self.name != "openmodule" or OPENMODULE_PYTHON.exists()


VARIANTS = {variant.name: variant for variant in (
    Variant("raw", "raw pyzmq (N processes)"),
    Variant("openmodule", "openmodule 18.5.0 (N processes)"),
    Variant("host", "openmodule-host, threads (1 process)"),
    Variant("host-process", "openmodule-host, processes (1 + N)"),
)}


@dataclass(frozen=True)
class Measurement:
    variant: str
    services: int
    round: int
    startup_ms: float
    rss_mib: float
    pss_mib: float
    processes: int
    #: CPU time (user + system) the processes spent until ready: start-up without the machine's other load.
    startup_cpu_ms: float = 0.0


def _argvs(variant: str, count: int, sub: str, pub: str, data_dir: str) -> list[list[str]]:
    broker = ["--sub", sub, "--pub", pub]
    if variant == "raw":
        return [[sys.executable, "-m", "bench.footprint.raw_service", *broker] for _ in range(count)]
    if variant == "openmodule":
        return [[str(OPENMODULE_PYTHON), "-m", "bench.footprint.om_service", *broker, "--name", f"om_idle_{index}"]
                for index in range(count)]
    isolation = "process" if variant == "host-process" else "thread"
    return [[sys.executable, "-m", "bench.footprint.host_service", *broker, "--count", str(count),
             "--isolation", isolation, "--data-dir", data_dir]]


def _memory(pids: Sequence[int]) -> tuple[float, float, int]:
    """RSS and PSS in MiB, summed over the processes and all their descendants, and how many there are."""
    processes: dict[int, psutil.Process] = {}
    for pid in pids:
        process = psutil.Process(pid)
        processes[pid] = process
        processes.update((child.pid, child) for child in process.children(recursive=True))
    rss = pss = 0
    for process in processes.values():
        info = process.memory_full_info()
        rss += info.rss
        pss += getattr(info, "pss", info.rss)
    return rss / _MIB, pss / _MIB, len(processes)


def measure(variant: str, count: int, round_: int, settle: float) -> Measurement:
    broker = Child("broker", [sys.executable, "-m", "bench.broker"])
    children: list[Child] = []
    try:
        addresses = broker.require("ready", 10)
        with tempfile.TemporaryDirectory(prefix="omh-footprint-") as data_dir:
            started = time.perf_counter()
            children = [Child(f"{variant}-{index}", argv, stdin=True)
                        for index, argv in enumerate(_argvs(variant, count, addresses["sub"], addresses["pub"],
                                                            data_dir))]
            for child in children:
                child.require("ready", _READY_TIMEOUT)
            startup = time.perf_counter() - started
            startup_cpu = _cpu([child.pid for child in children])
            time.sleep(settle)
            rss, pss, processes = _memory([child.pid for child in children])
            for child in children:
                child.stop()
    finally:
        for child in children:
            child.kill()
        broker.kill()
    return Measurement(variant, count, round_, startup * 1000, rss, pss, processes, startup_cpu * 1000)


def _cpu(pids: Sequence[int]) -> float:
    """CPU seconds (user + system) of the processes and all their descendants so far."""
    total = 0.0
    for pid in pids:
        process = psutil.Process(pid)
        for member in (process, *process.children(recursive=True)):
            times = member.cpu_times()
            total += times.user + times.system
    return total


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench footprint", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--services", default="1,10", help="comma-separated counts of services (default 1,10)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds; the order of the variants rotates")
    parser.add_argument("--settle", type=float, default=2.0, help="seconds between ready and reading memory")
    parser.add_argument("--variants", default=",".join(VARIANTS), help=f"subset of {', '.join(VARIANTS)}")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="markdown report (default: %(default)s)")
    parser.add_argument("--no-write", action="store_true", help="print the report only")
    parser.add_argument("--busy-neighbours", type=int, default=0, metavar="N",
                        help="run N CPU-bound processes alongside")
    return parser.parse_args(argv)


def _median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def render(measurements: Sequence[Measurement], rounds: int, started: datetime, machine: str) -> str:
    counts = sorted({m.services for m in measurements})
    lines = [
        "# Footprint: memory and start-up of N idle services",
        "",
        f"Run {started.astimezone(UTC):%Y-%m-%d %H:%M} UTC; {rounds} rounds, medians. Every service has one "
        "message handler and one RPC. Start-up: from starting the process(es) to the last one ready. Memory: "
        "summed over every process of the variant after the settle time (a host's child processes included).",
        "",
        machine,
        "",
        "| variant | services | processes | start-up ms | RSS MiB | PSS MiB | RSS per service MiB |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for count in counts:
        for name, variant in VARIANTS.items():
            runs = [m for m in measurements if m.variant == name and m.services == count]
            if not runs:
                continue
            rss = _median([m.rss_mib for m in runs])
            lines.append(
                f"| {variant.label} | {count} | {runs[0].processes} | {_median([m.startup_ms for m in runs]):,.0f} "
                f"| {rss:,.1f} | {_median([m.pss_mib for m in runs]):,.1f} | {rss / count:,.1f} |"
            )
    lines += ["", "Ratios against openmodule 18.5.0 (same run, same number of services):", "",
              "| variant | services | start-up | RSS | PSS |", "|---|---:|---:|---:|---:|"]
    for count in counts:
        om = [m for m in measurements if m.variant == "openmodule" and m.services == count]
        if not om:
            continue
        for name in ("host", "host-process", "raw"):
            runs = [m for m in measurements if m.variant == name and m.services == count]
            if runs:
                lines.append(
                    f"| {VARIANTS[name].label} | {count} "
                    f"| {_median([m.startup_ms for m in runs]) / _median([m.startup_ms for m in om]):.2f}x "
                    f"| {_median([m.rss_mib for m in runs]) / _median([m.rss_mib for m in om]):.2f}x "
                    f"| {_median([m.pss_mib for m in runs]) / _median([m.pss_mib for m in om]):.2f}x |"
                )
    lines += ["", "Per round:", "", "| round | variant | services | start-up ms | RSS MiB | PSS MiB |",
              "|---:|---|---:|---:|---:|---:|"]
    lines += [f"| {m.round} | {VARIANTS[m.variant].label} | {m.services} | {m.startup_ms:,.0f} | {m.rss_mib:,.1f} "
              f"| {m.pss_mib:,.1f} |" for m in measurements]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    names = [name.strip() for name in args.variants.split(",") if name.strip()]
    if unknown := [name for name in names if name not in VARIANTS]:
        print(f"unknown variant(s): {', '.join(unknown)}", file=sys.stderr)
        return 2
    for name in [name for name in names if not VARIANTS[name].available]:
        print(f"skipping {name}: {OPENMODULE_PYTHON} is missing (run `make openmodule-env`)", file=sys.stderr)
        names.remove(name)
    try:
        counts = [int(count) for count in args.services.split(",")]
    except ValueError:
        counts = []
    if not names or not counts or min(counts) < 1 or args.rounds < 1 or args.busy_neighbours < 0:
        print("nothing to measure: need a variant, service counts of at least 1 and a round", file=sys.stderr)
        return 2
    compile_bytecode()
    started = datetime.now().astimezone()
    measurements = []
    with observe(args.busy_neighbours) as machine:
        for round_ in range(1, args.rounds + 1):
            shift = (round_ - 1) % len(names)
            for count in counts:
                for name in names[shift:] + names[:shift]:
                    measurement = measure(name, count, round_, args.settle)
                    measurements.append(measurement)
                    print(f"round {round_}/{args.rounds} {VARIANTS[name].label:>36} x{count}: "
                          f"start-up {measurement.startup_ms:7,.0f} ms, RSS {measurement.rss_mib:7,.1f} MiB, "
                          f"PSS {measurement.pss_mib:7,.1f} MiB", file=sys.stderr, flush=True)
    assert machine.state is not None
    report = render(measurements, args.rounds, started, machine.state.describe())
    publish_report(report, args.output, args.no_write)
    return 0
