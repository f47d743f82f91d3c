"""``python -m tests.soak [--minutes M] [--interval S]``: run the soak, print the series and the growth.

Exit status 1 when RSS, threads, open fds or RPC latency grew beyond the tolerance (first against last
quarter), or an RPC went unanswered. ``OMH_SOAK_MINUTES`` sets the default duration (5 minutes).
"""

from __future__ import annotations

import argparse
import os
import sys

from tests.soak.soak import run, verdict


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.soak", description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=float(os.environ.get("OMH_SOAK_MINUTES", "5")))
    parser.add_argument("--interval", type=float, default=5.0, help="seconds between samples (default 5)")
    args = parser.parse_args()
    soak = run(args.minutes * 60, args.interval)
    print("\n".join(soak.lines()[len(soak.samples) + 1:]))
    problems = verdict(soak)
    print("verdict: " + ("flat" if not problems else "; ".join(problems)))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
