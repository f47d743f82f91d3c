"""One sender per variant, each run as its own process (``python -m bench.senders.<variant>``).

Every sender publishes the same message (:func:`message_fields`) in the same loop (:func:`drive`); only
how one message goes out differs. This package's ``__init__`` imports only the standard library: the
openmodule sender runs under ``.venv-openmodule``, where ``openmodule_host`` does not exist.

Protocol with the orchestrator (``bench/sender.py``), over stdin and ``@@bench`` lines on stdout: the
sender says ``ready``, then publishes a probe every 20 ms until it reads ``go`` (the orchestrator's SUB
socket saw a probe: the subscription has reached the sender), floods ``--messages`` messages as fast as
it can, publishes an end marker every 50 ms until it reads ``done``, and reports ``result``: its process
CPU time during the flood (every thread, libzmq's I/O thread included), the publishing thread's share,
and the flood's wall time.
"""

from __future__ import annotations

import argparse
import select
import sys
import time
from collections.abc import Callable, Sequence

from ..protocol import END, PROBE, emit

__all__ = ["DATA", "drive", "parse_args"]

#: the ``data`` field of every message: its body is about 100 bytes, as the pub/sub flood's.
DATA = "x" * 36


def parse_args(description: str, argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--sub", required=True, help="the broker's XSUB address (publishers connect here)")
    parser.add_argument("--pub", required=True, help="the broker's XPUB address (the host's intake connects here)")
    parser.add_argument("--messages", type=int, required=True, help="messages to flood")
    return parser.parse_args(argv)


def _told(timeout: float) -> bool:
    """Whether the orchestrator wrote a line within ``timeout`` s (the line is consumed)."""
    if select.select([sys.stdin], [], [], timeout)[0]:
        sys.stdin.readline()
        return True
    return False


def drive(publish: Callable[[int], object], messages: int) -> None:
    """Probe, flood ``messages`` (``publish(seq)`` for seq 0..messages-1), end, report."""
    emit("ready")
    while not _told(0.02):
        publish(PROBE)
    process_time, thread_time, perf_counter = time.process_time, time.thread_time, time.perf_counter
    cpu, thread, wall = process_time(), thread_time(), perf_counter()
    for seq in range(messages):
        publish(seq)
    cpu, thread, wall = process_time() - cpu, thread_time() - thread, perf_counter() - wall
    while not _told(0.05):
        publish(END)
    emit("result", cpu=cpu, thread=thread, wall=wall, sent=messages)
