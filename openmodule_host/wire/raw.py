"""The raw-or-decoded delivery of a route's undecoded bodies, written once for the pub/sub listeners and the
RPC routing.

The intake hands a topic's only route the JSON bytes as they came (see ``RawRoute`` in :mod:`.intake`). Its
``deliver_raw`` validates the model straight from the bytes (pydantic parses and validates in one pass); a
body that does not validate, or that the route does not take as it is, is decoded exactly as the intake
would have decoded it (a malformed one counted and logged as the intake's drop) and goes the route's decoded
way, so the outcome is the same either way, counters and log lines included.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from .codec import DecodeError, decode

__all__ = ["MalformedCounter", "raw_or_decoded"]

M = TypeVar("M")


class MalformedCounter(Protocol):
    """Where a body decoded off the intake thread reports itself malformed (the intake's ``Drops``)."""

    #: the nesting limit the intake applies (a body decoded on a worker is held to the same).
    max_depth: int

    def malformed(self, error: DecodeError) -> None: ...


def raw_or_decoded(
    topic: bytes,
    validate_json: Callable[[bytes], M],
    take: Callable[[M], None],
    decoded: Callable[[dict[str, Any]], None],
    drops: MalformedCounter,
    *,
    accept: Callable[[M], bool] | None = None,
) -> Callable[[bytes], None]:
    """The ``deliver_raw`` of a route: ``take(message)`` when ``validate_json`` validates the bytes (and
    ``accept`` takes the message as it is), else ``decoded(body)`` with the body decoded as the intake does."""

    def deliver_raw(raw: bytes) -> None:
        try:
            message: M | None = validate_json(raw)
        except Exception:  # whatever is wrong, it is found again (counted, logged, answered) the decoded way
            message = None
        if message is None or (accept is not None and not accept(message)):
            try:
                _topic, body = decode([topic, raw], len(raw), drops.max_depth)
            except DecodeError as error:
                drops.malformed(error)
                return
            decoded(body)
            return
        take(message)

    return deliver_raw
