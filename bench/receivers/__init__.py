"""One receiver per variant, each run as its own process (``python -m bench.receivers.<variant>``).

This package's ``__init__`` imports only the standard library: the openmodule receiver runs under
``.venv-openmodule``, where neither ``openmodule_host`` nor the project's other dependencies exist.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

__all__ = ["parse_args"]


def parse_args(description: str, argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The options every receiver takes: the broker's addresses (and, for the host, its mailbox size)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--sub", required=True, help="the broker's XSUB address (publishers connect here)")
    parser.add_argument("--pub", required=True, help="the broker's XPUB address (subscribers connect here)")
    parser.add_argument("--mailbox-size", type=int, default=10_000, help="host only: the plugin's mailbox size")
    parser.add_argument("--cpu-placement", default="auto", help="host only: its cpu_placement (host-unplaced: off)")
    return parser.parse_args(argv)
