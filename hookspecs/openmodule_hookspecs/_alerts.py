"""Alerts on the wire (wire-protocol.md 5.2): topic ``alert``, published on a status change."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import ValidationInfo, field_validator

from ._models import ZMQMessage

__all__ = ["AlertHandleType", "AlertMessage", "AlertStatus"]


class AlertStatus(StrEnum):
    ok = "ok"
    error = "error"
    offline = "offline"


class AlertHandleType(StrEnum):
    state = "state"
    state_change = "state_change"
    # openmodule's member name (plugins write AlertHandleType.count); it shadows str.count for mypy only.
    count = "count"  # type: ignore[assignment]


class AlertMessage(ZMQMessage):
    type: str = "alert"
    status: AlertStatus
    alert_meta: dict[str, Any]
    package: str
    alert_type: str
    source: str | None = None
    handle_type: AlertHandleType
    value: float | None = None

    @field_validator("value")
    @classmethod
    def _value_for_state(cls, value: float | None, info: ValidationInfo) -> float | None:
        if info.data.get("handle_type") == AlertHandleType.state and value is None:
            raise ValueError("value must not be None for alerts with handle_type='state'")
        return value
