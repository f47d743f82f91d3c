"""The injected fault: ``OMH_FAULT=<fault>@<place>`` in the environment picks one fault and one place.

Faults: ``raise``, ``hang`` (waits forever), ``exit`` (``os._exit(7)``), ``segfault`` (reads address 0),
``memory`` (grows by 200 MB in 1 MB steps, once, then goes on), ``spin`` (a busy loop that never ends), ``flood``
(publishes as fast as it can for ``FLOOD_SECONDS``, then goes on). Places: ``import``,
``register_handlers``, ``handler``, ``rpc``, ``health``, ``check_access``, ``migration``, ``shutdown``.
"""

from __future__ import annotations

import ctypes
import os
import threading
import time
from typing import Any

FAULTS = ("raise", "hang", "exit", "segfault", "memory", "spin", "flood")
PLACES = ("import", "register_handlers", "handler", "rpc", "health", "check_access", "migration", "shutdown")
FLOOD_SECONDS = 1.5
MEMORY_BYTES = 200 * 1024 * 1024

FAULT, _, PLACE = os.environ.get("OMH_FAULT", "none@none").partition("@")

_hoard: list[bytes] = []


def inject(place: str, core: Any = None) -> None:
    """Do the configured fault if ``place`` is the configured place; otherwise nothing."""
    if place != PLACE:
        return
    if FAULT == "raise":
        raise RuntimeError(f"injected fault in {place}")
    if FAULT == "hang":
        threading.Event().wait()
    if FAULT == "exit":
        os._exit(7)
    if FAULT == "segfault":
        ctypes.string_at(0)
    if FAULT == "memory" and not _hoard:
        for _ in range(MEMORY_BYTES // 2**20):  # a leak grows in steps; written, so really resident
            _hoard.append(b"\x01" * 2**20)
    if FAULT == "spin":
        while True:
            pass
    if FAULT == "flood" and core is not None:
        flood(core)


def flood(core: Any) -> None:
    from openmodule_hookspecs import ZMQMessage

    class Flood(ZMQMessage):
        type: str = "flood"
        seq: int = 0

    until = time.monotonic() + FLOOD_SECONDS
    seq = 0
    while time.monotonic() < until:
        for _ in range(100):
            seq += 1
            core.publish(Flood(seq=seq), "faulty_flood")
