"""``python -m tests.faults [--out FILE] [--dependencies with|only|none] [CASE ...]``: run the fault matrix,
print and write the table; then the toolkit's dependency faults (:mod:`tests.faults.dependencies`) and their
table, under the heading :data:`DEPENDENCIES` (``only``: just those, replacing that section of FILE).

A CASE is ``fault@place@mode`` (e.g. ``hang@health@thread``); none: every case. Exit status 1 when a case
departs from the documented behaviour.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from tests.faults import dependencies
from tests.faults.matrix import CaseResult, cases, expected, install_plugins, problems, run_case, stop_bound

HEADER = ("| fault | place | isolation | healthy: failed calls / sent | healthy p99 (ms) | faulty: /healthz state "
          "| faulty: pongs | alert | stop (s) | exit | as documented |")


def row(result: CaseResult) -> str:
    expectation = expected(result.fault, result.place, result.mode)
    found = problems(result, expectation)
    verdict = "yes" if not found else "; ".join(found)
    pongs = ",".join(sorted(set(result.pongs))) or "-"
    p99 = f"{result.p99_ms:.1f}" if result.p99_ms is not None else "-"
    stop = f"{result.stop_seconds:.1f}" if result.stop_seconds is not None else f"> {stop_bound(result.mode) + 10:.0f}"
    exit_code = result.exit_code if result.exit_code is not None else "killed"
    return (f"| {result.fault} | {result.place} | {result.mode} | {result.failed_calls} / {result.calls_sent} | {p99} "
            f"| {result.state or '-'} | {pongs} | {'yes' if result.alert else 'no'} | {stop} | {exit_code} "
            f"| {verdict} |")


DEPENDENCIES = "## Dependencies of the toolkit failing"


def dependency_section() -> tuple[str, int]:
    """The dependency faults' section (heading and table) and how many departed from the documentation."""
    lines = [DEPENDENCIES, "", dependencies.HEADER, "|" + "---|" * (dependencies.HEADER.count("|") - 1)]
    unexpected = 0
    for case in dependencies.CASES:
        started = time.monotonic()
        result = dependencies.run_case(case)
        lines.append(dependencies.row(result))
        print(lines[-1], f"({time.monotonic() - started:.0f} s)", flush=True)
        unexpected += bool(dependencies.problems(result))
    return "\n".join([*lines, ""]), unexpected


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.faults", description=__doc__.split("\n")[0])
    parser.add_argument("--out", default="bench/results/faults.md", help="the markdown table (default %(default)s)")
    parser.add_argument("--dependencies", choices=("with", "only", "none"), default="with",
                        help="the toolkit's dependency faults too (default), only them, or not")
    parser.add_argument("case", nargs="*", help="fault@place@mode; default: every case")
    args = parser.parse_args()
    out = Path(args.out)
    if args.dependencies == "only":
        section, unexpected = dependency_section()
        kept = out.read_text().split(DEPENDENCIES)[0].rstrip("\n") if out.exists() else ""
        out.write_text(f"{kept}\n\n{section}" if kept else section)
        print(f"\nwrote {out}; {unexpected} case(s) departed from the documentation")
        return 1 if unexpected else 0
    chosen = [tuple(case.split("@")) for case in args.case] or cases()
    lines = [HEADER, "|" + "---|" * (HEADER.count("|") - 1)]
    not_applicable, unexpected = [], 0
    with tempfile.TemporaryDirectory(prefix="omh-fault-site-") as site:
        env = install_plugins(Path(site))
        for fault, place, mode in chosen:
            expectation = expected(fault, place, mode)
            if expectation.not_applicable:
                not_applicable.append(f"- {fault} in {place}, {mode} isolation: {expectation.not_applicable}")
                continue
            started = time.monotonic()
            result = run_case(fault, place, mode, env)
            lines.append(row(result))
            print(lines[-1], f"({time.monotonic() - started:.0f} s)", flush=True)
            if problems(result, expectation):
                unexpected += 1
    text = "\n".join([*lines, "", "Not applicable:", "", *not_applicable, ""])
    if args.dependencies == "with":
        section, failed = dependency_section()
        text += "\n" + section
        unexpected += failed
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    print(f"\nwrote {out}; {unexpected} case(s) departed from the documentation")
    return 1 if unexpected else 0


if __name__ == "__main__":
    sys.exit(main())
