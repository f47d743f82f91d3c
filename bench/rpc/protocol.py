"""What the orchestrator and the RPC peers agree on: channel, type, payload, options and the start handshake.

A client process connects, waits until the server answers, makes its warm-up calls, then reports ``begin``
and waits for a ``go`` line on stdin: meanwhile the orchestrator reads the server's and the broker's CPU
time (and may attach py-spy). After the measured phase it reports ``result``. Both modes come in parts
(``--chunks``): one ``go`` line starts each, and the client answers ``chunk`` after it. The client
exits once its stdin is closed. Control lines are
``bench.protocol``'s ``@@bench <json>`` lines on stdout.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Final

CHANNEL: Final = "bench"
TYPE: Final = "echo"
REQUEST_TOPIC: Final = "rpc-req-" + CHANNEL
REPLY_TOPIC: Final = "rpc-rep-" + CHANNEL
#: the ``text`` field of every request (and of its echo): a small payload, as most RPCs carry.
TEXT: Final = "G ARIVO1 entry gate 1"
#: the ``request.gateway.gate`` of the ``host-gateway`` variant's requests (direction ``in``).
GATE: Final = "gate 9"
SERVER_NAME: Final = "om_bench_rpc_server_1"
CLIENT_NAME: Final = "om_bench_rpc_client_1"

SEQUENTIAL: Final = "sequential"
IN_FLIGHT: Final = "in-flight"
MODES: Final = (SEQUENTIAL, IN_FLIGHT)

__all__ = [
    "CHANNEL",
    "CLIENT_NAME",
    "GATE",
    "IN_FLIGHT",
    "MODES",
    "REPLY_TOPIC",
    "REQUEST_TOPIC",
    "SEQUENTIAL",
    "SERVER_NAME",
    "TEXT",
    "TYPE",
    "parse_client_args",
    "parse_server_args",
    "wait_for_go",
]


def _broker_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--sub", required=True, help="the broker's XSUB address (publishers connect here)")
    parser.add_argument("--pub", required=True, help="the broker's XPUB address (subscribers connect here)")


def parse_server_args(description: str, argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    _broker_options(parser)
    _placement_option(parser)
    return parser.parse_args(argv)


def _placement_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--cpu-placement", default="auto",
                        help="openmodule-host peers only: the host's cpu_placement (off for host-unplaced)")


def parse_client_args(description: str, argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    _broker_options(parser)
    parser.add_argument("--mode", choices=MODES, required=True)
    parser.add_argument("--calls", type=int, required=True, help="measured calls")
    parser.add_argument("--window", type=int, default=16, help="in-flight: calls kept outstanding")
    parser.add_argument("--warmup", type=int, default=200, help="unmeasured calls before the phase")
    parser.add_argument("--chunks", type=int, default=1, help="parts, each started by its own go line")
    parser.add_argument("--gateway", action="store_true",
                        help="openmodule-host client only: requests carry gateway (GATE, in), for host-gateway")
    _placement_option(parser)
    return parser.parse_args(argv)


def wait_for_go() -> None:
    """Block until the orchestrator writes a line on stdin (after it has read the other processes' CPU)."""
    if not sys.stdin.readline():
        raise SystemExit("orchestrator went away before the measured phase")
