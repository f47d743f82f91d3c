"""Turning frames into message dicts and back, once per message, never raising on bad input."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

import orjson

__all__ = ["DEFAULT_MAX_DEPTH", "DecodeError", "decode", "too_deep"]

FRAME_COUNT: Final = "frame_count"
TOPIC_ENCODING: Final = "topic_encoding"
TOO_LARGE: Final = "too_large"
TOO_DEEP: Final = "too_deep"
INVALID_JSON: Final = "invalid_json"
NOT_OBJECT: Final = "not_object"

#: objects and arrays nested deeper than this are dropped before they are parsed (the host's ``max_depth``).
DEFAULT_MAX_DEPTH: Final = 64

#: keeps only the brackets, as ``[`` and ``]``: ``bytes.translate(_AS_SQUARE, _NOT_BRACKETS)``.
_AS_SQUARE = bytes.maketrans(b"{}", b"[]")
_NOT_BRACKETS = bytes(byte for byte in range(256) if byte not in b"[]{}")


class DecodeError(Exception):
    """A frame set that is not an openmodule message; ``reason`` is one of the constants above."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def too_deep(raw: bytes, max_depth: int) -> bool:
    """Whether the JSON ``raw`` nests objects and arrays deeper than ``max_depth``, found before parsing.

    Parsers and validators recurse once per level (validating a decoded body 1,000 levels deep raised
    ``RecursionError``; orjson accepts up to 1,024), so depth is bounded before any of them runs. The count
    of opening brackets is an upper bound of the depth at C speed; only a body with more of them than
    ``max_depth`` is measured, with
    bytes methods only: its strings removed (escaped backslashes and quotes first, then every other piece
    between quotes), its brackets kept; then each pass of ``replace(b"[]", b"")`` removes one level, and
    more than ``max_depth`` opening brackets in a row are too deep at once. A body whose brackets do not
    balance is no JSON: unless it opens more than ``max_depth`` in a row, it counts as not too deep, and
    the parser rejects it.
    """
    if raw.count(b"[") + raw.count(b"{") <= max_depth:
        return False
    outside_strings = b"".join(raw.replace(b"\\\\", b"").replace(b'\\"', b"").split(b'"')[::2])
    brackets = outside_strings.translate(_AS_SQUARE, _NOT_BRACKETS)
    run = b"[" * (max_depth + 1)
    for _ in range(max_depth):
        if run in brackets:
            return True
        shorter = brackets.replace(b"[]", b"")
        if len(shorter) == len(brackets):  # empty (at most max_depth levels), or unbalanced
            return False
        brackets = shorter
    return bool(brackets)


def decode(
    frames: Sequence[bytes], max_body_bytes: int, max_depth: int = DEFAULT_MAX_DEPTH
) -> tuple[str, dict[str, Any]]:
    """Return ``(topic, body)`` of a two-frame message or raise :class:`DecodeError`."""
    if len(frames) != 2:
        raise DecodeError(FRAME_COUNT, f"expected 2 frames, got {len(frames)}")
    raw_topic, raw_body = frames
    try:
        topic = raw_topic.decode()
    except UnicodeDecodeError as error:
        raise DecodeError(TOPIC_ENCODING, f"topic is not UTF-8 ({error})") from None
    if len(raw_body) > max_body_bytes:
        raise DecodeError(TOO_LARGE, f"body of {len(raw_body)} bytes exceeds {max_body_bytes} on {topic!r}")
    if too_deep(raw_body, max_depth):
        raise DecodeError(TOO_DEEP, f"body nested deeper than {max_depth} levels on {topic!r}")
    try:
        body = orjson.loads(raw_body)
    except orjson.JSONDecodeError as error:
        raise DecodeError(INVALID_JSON, f"invalid JSON on {topic!r}: {error}") from None
    if not isinstance(body, dict):
        raise DecodeError(NOT_OBJECT, f"JSON {type(body).__name__} instead of an object on {topic!r}")
    return topic, body
