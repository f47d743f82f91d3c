"""What the sender and the receivers agree on: the topic, the bodies, and the control lines.

Every body is a valid openmodule envelope of exactly :data:`BODY_BYTES` bytes with an integer ``seq``:
``seq >= 0`` is a counted flood message, :data:`PROBE` asks the receiver to say it is subscribed, and
:data:`END` (sent after the flood, repeatedly, until answered) asks for the result. Receivers talk back
on stdout with lines ``@@bench <json>``; anything else on stdout (logging) is ignored.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any, Final

TOPIC: Final = "bench"
TYPE: Final = "bench"
BODY_BYTES: Final = 100
PROBE: Final = -1
END: Final = -2
SENDER_NAME: Final = "om_bench_sender_1"

_LINE_PREFIX: Final = "@@bench "


def make_body(seq: int, timestamp: float | None = None) -> bytes:
    """A ``BODY_BYTES``-byte openmodule message of type :data:`TYPE`, padded through its ``data`` field."""
    envelope = {
        "timestamp": round(time.time() if timestamp is None else timestamp, 3),
        "name": SENDER_NAME,
        "type": TYPE,
        "seq": seq,
        "data": "",
    }
    bare = len(json.dumps(envelope, separators=(",", ":")))
    if bare > BODY_BYTES:
        raise ValueError(f"envelope of seq {seq} is already {bare} bytes")
    envelope["data"] = "x" * (BODY_BYTES - bare)
    body = json.dumps(envelope, separators=(",", ":")).encode()
    assert len(body) == BODY_BYTES
    return body


def make_bodies(count: int) -> list[bytes]:
    timestamp = time.time()
    return [make_body(seq, timestamp) for seq in range(count)]


def emit(kind: str, **data: Any) -> None:
    """Send one control line to the orchestrator (receiver side)."""
    sys.stdout.write(_LINE_PREFIX + json.dumps({"kind": kind, **data}) + "\n")
    sys.stdout.flush()


def parse_line(line: str) -> dict[str, Any] | None:
    """The control message of a stdout line, or None for any other output (orchestrator side)."""
    if not line.startswith(_LINE_PREFIX):
        return None
    try:
        data = json.loads(line[len(_LINE_PREFIX):])
    except json.JSONDecodeError:
        return None
    return data if isinstance(data, dict) else None
