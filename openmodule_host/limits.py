"""Bounds on what plugins make the host send, and the rule for cutting text to a bound.

Every limit has a host setting (see :class:`~openmodule_host.config.HostConfig` and docs/operations.md,
"Limits"). Text is cut to at most its limit in UTF-8 bytes, marker included:
``"<head> ... (truncated, 8388608 bytes)"`` names the original size. Each cut and each refusal is counted
per plugin in :class:`LimitHits`, under the name of the limit (``openmodule_host_limit_hits_total``).
"""

from __future__ import annotations

import threading
from collections import Counter
from contextlib import suppress
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson
from pydantic import ValidationError

from .masking import mask_secrets

if TYPE_CHECKING:
    from .config import HostConfig

__all__ = ["LimitHits", "Limits", "bounded_error_json", "public_text", "truncate"]

#: what a single ``input`` (or location part) of an RPC ``validation_error`` may take, JSON bytes.
_ERROR_INPUT_BYTES = 256


@dataclass(frozen=True)
class Limits:
    """The limits of one host (its settings of the same names, without ``max_``)."""

    #: a message a plugin publishes, an RPC reply, a pong: at most this many bytes (``max_message_bytes``).
    message_bytes: int = 4 * 1024 * 1024
    #: a health or check message, a failure reason (``max_health_message_bytes``).
    health_message_bytes: int = 1024
    #: an alert's ``alert_meta`` as JSON (``max_alert_meta_bytes``).
    alert_meta_bytes: int = 16 * 1024
    #: distinct label sets per health metric of a plugin (``max_metric_label_sets``).
    metric_label_sets: int = 100
    #: the ``exception`` text of an RPC error reply (``max_error_bytes``).
    error_bytes: int = 4 * 1024

    @classmethod
    def of(cls, config: HostConfig) -> Limits:
        return cls(config.max_message_bytes, config.max_health_message_bytes, config.max_alert_meta_bytes,
                   config.max_metric_label_sets, config.max_error_bytes)


class LimitHits:
    """How often each limit cut or refused something of one plugin; any thread may count."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._hits: Counter[str] = Counter()

    def hit(self, limit: str) -> None:
        with self._lock:
            self._hits[limit] += 1

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self._hits)

    def __getitem__(self, limit: str) -> int:
        with self._lock:
            return self._hits[limit]


def truncate(text: str, limit: int) -> str:
    """``text`` if it fits in ``limit`` UTF-8 bytes, else its head and the truncation marker, together at most
    ``limit`` bytes (the very same object when nothing was cut)."""
    if len(text) <= limit // 4:  # at most 4 bytes a character: fits, no need to encode
        return text
    data = text.encode("utf-8", "surrogatepass")
    if len(data) <= limit:
        return text
    marker = f" ... (truncated, {len(data)} bytes)"
    head = data[:max(0, limit - len(marker))].decode("utf-8", "ignore")
    return head + marker


def public_text(text: str, limit: int, hits: LimitHits | None = None, limit_name: str = "") -> str:
    """What of a failure reason or health message may leave the process: secrets masked (before cutting,
    so no half secret survives the cut), then cut to ``limit`` bytes; a cut is counted as ``limit_name``."""
    masked = mask_secrets(text)
    cut = truncate(masked, limit)
    if cut is not masked and hits is not None:
        hits.hit(limit_name)
    return cut


def _bounded_input(value: Any) -> Any:
    """An ``input`` of a validation error: itself (as JSON data) when its JSON is short, else that JSON cut short."""
    try:
        data = orjson.dumps(value, default=repr)
    except Exception:  # nested too deep, or an int beyond 64 bits
        try:
            return truncate(repr(value), _ERROR_INPUT_BYTES)
        except Exception:  # RecursionError
            return "(not shown)"
    if len(data) <= _ERROR_INPUT_BYTES:
        return orjson.loads(data)
    return truncate(data.decode("utf-8", "replace"), _ERROR_INPUT_BYTES)


def bounded_error_json(error: BaseException, limit: int) -> tuple[str, bool]:
    """The ``exception`` of a ``validation_error`` reply, and whether anything was cut.

    pydantic's ``e.json()``, as openmodule sends it, when that fits in ``limit`` bytes; otherwise the same kind
    of JSON array with each ``input`` and location part cut short, messages cut, and as many errors as fit, the
    last entry saying how many were left out. Any other exception (a model validator that raised something
    else) is one error of type ``value_error`` whose message names it.
    """
    if not isinstance(error, ValidationError):
        message = f"{type(error).__name__}: {error}"
        cut = truncate(message, limit - 64)
        return orjson.dumps([{"type": "value_error", "loc": [], "msg": cut}]).decode(), cut is not message
    text = ""
    if error.error_count() <= limit // 64:  # each error takes more than 64 bytes: more cannot fit
        with suppress(Exception):  # an input pydantic cannot serialise: take the bounded way
            text = error.json()
    if text and truncate(text, limit) is text:
        return text, False
    items = error.errors(include_url=False)
    budget = limit - 64  # room for the closing entry
    entries: list[bytes] = []
    used = 2
    for index, item in enumerate(items):
        entry: dict[str, Any] = {
            "type": item["type"],
            "loc": [part if isinstance(part, int) else truncate(str(part), _ERROR_INPUT_BYTES)
                    for part in item["loc"]],
            "msg": truncate(str(item["msg"]), min(1024, budget // 2)),
        }
        if "input" in item:
            entry["input"] = _bounded_input(item["input"])
        data = orjson.dumps(entry)
        if used + len(data) + 1 > budget:
            entries.append(orjson.dumps({"type": "too_many_errors", "loc": [],
                                         "msg": f"{len(items) - index} more error(s) not shown"}))
            break
        entries.append(data)
        used += len(data) + 1
    return "[" + ",".join(entry.decode() for entry in entries) + "]", True
