"""Turning frames into message dicts and back, once per message, never raising on bad input."""

from __future__ import annotations

from typing import Any, Final

import orjson

__all__ = ["DecodeError", "decode"]

FRAME_COUNT: Final = "frame_count"
TOPIC_ENCODING: Final = "topic_encoding"
TOO_LARGE: Final = "too_large"
INVALID_JSON: Final = "invalid_json"
NOT_OBJECT: Final = "not_object"


class DecodeError(Exception):
    """A frame set that is not an openmodule message; ``reason`` is one of the constants above."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def decode(frames: list[bytes], max_body_bytes: int) -> tuple[str, dict[str, Any]]:
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
    try:
        body = orjson.loads(raw_body)
    except orjson.JSONDecodeError as error:
        raise DecodeError(INVALID_JSON, f"invalid JSON on {topic!r}: {error}") from None
    if not isinstance(body, dict):
        raise DecodeError(NOT_OBJECT, f"JSON {type(body).__name__} instead of an object on {topic!r}")
    return topic, body

