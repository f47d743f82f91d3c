"""Health assertions after openmodule-test's ``HealthTestMixin``, and reading one pong's metrics and checks.

They ask a *pong source* for the ``healthpong`` of one service: a :class:`~.client.TestClient` (pings on the
broker: the real host), or anything else with the same ``get_health(name, timeout)`` method (an in-memory
core), or a plain function ``(name, timeout) -> pong dict``. The pong is openmodule's ``HealthPongMessage``
as a dict (wire-protocol.md 5.1): ``pong.status``, ``pong.message``, ``metrics``, ``checks``.

Unlike openmodule-test, where ``assertHealthOk`` takes a pong the test fetched first, these fetch the pong
themselves and return it, so one line asks and checks.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol, runtime_checkable

__all__ = [
    "HealthProbe",
    "PongSource",
    "assert_health_error",
    "assert_health_ok",
    "find_check",
    "find_metric",
    "metric_value",
    "wait_for_health",
]

Pong = dict[str, Any]


@runtime_checkable
class PongSource(Protocol):
    """Answers with the ``healthpong`` of the service called ``name``; ``AssertionError`` when none comes."""

    def get_health(self, name: str, timeout: float = ...) -> Pong: ...


Source = PongSource | Callable[[str, float], Pong]


def _ask(source: Source, name: str, timeout: float) -> Pong:
    if isinstance(source, PongSource):
        return source.get_health(name, timeout)
    return source(name, timeout)


def _describe(pong: Pong) -> str:
    """The parts of a pong that explain its status: status, message and the checks that are not ok."""
    status = pong.get("pong", {}).get("status")
    message = pong.get("pong", {}).get("message")
    failing = [f"{check.get('id')}={check.get('state')}" + (f" ({check['message']})" if check.get("message") else "")
               for check in pong.get("checks", []) if check.get("state") != "ok"]
    return f"status {status!r}, message {message!r}, checks not ok: {failing}"


def assert_health_ok(source: Source, name: str, *, timeout: float = 3.0) -> Pong:
    """Ping ``name`` and assert its pong says ``ok`` (openmodule-test's ``assertHealthOk``); returns the pong."""
    pong = _ask(source, name, timeout)
    if pong.get("pong", {}).get("status") != "ok":
        raise AssertionError(f"health of {name!r} is not ok: {_describe(pong)}")
    return pong


def assert_health_error(source: Source, name: str, message: str | None = None, *, timeout: float = 3.0) -> Pong:
    """Ping ``name`` and assert its pong says ``error`` (openmodule-test's ``assertHealthError``), with exactly
    ``message`` as ``pong.message`` (the message of the last failing check) when given; returns the pong."""
    pong = _ask(source, name, timeout)
    if pong.get("pong", {}).get("status") != "error":
        raise AssertionError(f"health of {name!r} is not error: {_describe(pong)}")
    if message is not None and pong["pong"].get("message") != message:
        raise AssertionError(f"health of {name!r} is error with another message, expected {message!r}: "
                             f"{_describe(pong)}")
    return pong


def wait_for_health(source: Source, name: str, *, status: str | None = None, timeout: float = 10.0,
                    interval: float = 0.2) -> Pong:
    """Ping ``name`` until it answers (openmodule-test's ``wait_for_health``: the service is up), or, with
    ``status`` (``"ok"`` / ``"error"``), until its pong says so; returns that pong. ``AssertionError`` after
    ``timeout`` saying what came instead (the last pong, or that none came)."""
    deadline = time.monotonic() + timeout
    last: str = "no pong at all"
    while True:
        remaining = deadline - time.monotonic()
        try:
            pong = _ask(source, name, max(0.05, min(1.0, remaining)))
        except AssertionError as error:
            last = f"no pong ({error})"
        else:
            if status is None or pong.get("pong", {}).get("status") == status:
                return pong
            last = f"last pong: {_describe(pong)}"
        if time.monotonic() + interval > deadline:
            wanted = f"a pong with status {status!r}" if status is not None else "a pong"
            raise AssertionError(f"{wanted} from {name!r} did not come within {timeout} s; {last}")
        time.sleep(interval)


def _owned(item: Mapping[str, Any], package: str | None) -> bool:
    return package is None or item.get("package") == package


def find_metric(pong: Pong, metric_id: str, *, package: str | None = None) -> dict[str, Any]:
    """The metric ``metric_id`` of a pong (of ``package`` when given), as sent: ``type``, ``labels``, ``values``."""
    for metric in pong.get("metrics", []):
        if metric.get("id") == metric_id and _owned(metric, package):
            return dict(metric)
    there = [(metric.get("id"), metric.get("package")) for metric in pong.get("metrics", [])]
    raise AssertionError(f"no metric {metric_id!r} in the pong of {pong.get('name')!r}; its metrics: {there}")


def metric_value(pong: Pong, metric_id: str, labels: Mapping[str, object] | None = None, *,
                 package: str | None = None) -> int | float | str:
    """The value of metric ``metric_id`` for ``labels`` (compared as strings, as they are sent; ``compute_id``
    only when given), e.g. ``metric_value(pong, "queue_len", {"gate": "entry1"})``."""
    metric = find_metric(pong, metric_id, package=package)
    wanted = {key: str(value) for key, value in (labels or {}).items()}
    for key, value in metric.get("values", {}).items():
        sent = json.loads(key)
        if "compute_id" not in wanted:
            sent.pop("compute_id", None)
        if sent == wanted:
            return value  # type: ignore[no-any-return]
    raise AssertionError(f"metric {metric_id!r} has no value for labels {wanted}; its values: {metric.get('values')}")


def find_check(pong: Pong, check_id: str, *, package: str | None = None) -> dict[str, Any]:
    """The check ``check_id`` of a pong (of ``package`` when given): ``state`` (``ok``, ``fail``, ``no-data``),
    ``message`` while it fails, ``name``, ``description``."""
    for check in pong.get("checks", []):
        if check.get("id") == check_id and _owned(check, package):
            return dict(check)
    there = [(check.get("id"), check.get("state")) for check in pong.get("checks", [])]
    raise AssertionError(f"no check {check_id!r} in the pong of {pong.get('name')!r}; its checks: {there}")


class HealthProbe:
    """The health assertions bound to one pong source (the ``om_health`` fixture binds ``om_client``)."""

    def __init__(self, source: Source) -> None:
        self.source = source

    def pong(self, name: str, timeout: float = 3.0) -> Pong:
        """The pong of ``name`` to a fresh ping."""
        return _ask(self.source, name, timeout)

    def assert_ok(self, name: str, *, timeout: float = 3.0) -> Pong:
        return assert_health_ok(self.source, name, timeout=timeout)

    def assert_error(self, name: str, message: str | None = None, *, timeout: float = 3.0) -> Pong:
        return assert_health_error(self.source, name, message, timeout=timeout)

    def wait(self, name: str, *, status: str | None = None, timeout: float = 10.0) -> Pong:
        return wait_for_health(self.source, name, status=status, timeout=timeout)

    def metric_value(self, name: str, metric_id: str, labels: Mapping[str, object] | None = None, *,
                     package: str | None = None) -> int | float | str:
        """The current value of one metric of ``name`` (from a fresh pong)."""
        return metric_value(self.pong(name), metric_id, labels, package=package)

    def check(self, name: str, check_id: str, *, package: str | None = None) -> dict[str, Any]:
        """One check of ``name`` (from a fresh pong)."""
        return find_check(self.pong(name), check_id, package=package)
