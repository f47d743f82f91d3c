"""Health on the wire (wire-protocol.md 5.1): a ``healthz``/``ping`` gets one ``healthpong`` per service.

The pong carries the service's status (``error`` while any check fails), version, start-up time, and
its registered metrics and checks. ``HealthResult`` with :func:`health_ok` / :func:`health_error` is
what a plugin's ``health(core)`` hook returns.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, NamedTuple

from pydantic import Field

from ._models import Datetime, OpenModuleModel, ZMQMessage

__all__ = [
    "HealthCheck",
    "HealthCheckState",
    "HealthMetric",
    "HealthMetricType",
    "HealthPingMessage",
    "HealthPongMessage",
    "HealthPongPayload",
    "HealthResult",
    "health_error",
    "health_ok",
]


class HealthPongPayload(OpenModuleModel):
    status: str = "ok"
    version: str
    name: str
    #: sent as a naive ISO string, as openmodule 18.5.0 does; a float (older releases) is accepted too.
    startup: Datetime
    message: str | None = None


class HealthMetricType(StrEnum):
    # openmodule's member name (plugins write HealthMetricType.count); it shadows str.count for mypy only.
    count = "count"  # type: ignore[assignment]
    gauge = "gauge"
    str = "str"


class HealthMetric(OpenModuleModel):
    id: str
    name: str
    description: str
    type: HealthMetricType
    labels: list[str]
    #: keyed by the JSON text of the label dict (sorted keys, values as strings, always ``compute_id``).
    values: dict[str, Any] = Field(default_factory=dict)
    package: str
    source: str | None = None


class HealthCheckState(StrEnum):
    ok = "ok"
    fail = "fail"
    no_data = "no-data"


class HealthCheck(OpenModuleModel):
    id: str
    package: str
    state: HealthCheckState = HealthCheckState.no_data
    name: str
    description: str | None = None
    message: str | None = None
    source: str | None = None


class HealthPongMessage(ZMQMessage):
    type: str = "healthz"
    pong: HealthPongPayload
    metrics: list[HealthMetric] | None = None
    checks: list[HealthCheck] | None = None


class HealthPingMessage(ZMQMessage):
    type: str = "ping"


class HealthResult(NamedTuple):
    """What a plugin's ``health(core)`` hook returns."""

    status: str
    message: str | None = None
    meta: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def health_ok(meta: dict[str, Any] | None = None) -> HealthResult:
    return HealthResult("ok", None, meta or {})


def health_error(message: str, meta: dict[str, Any] | None = None) -> HealthResult:
    return HealthResult("error", message, meta or {})
