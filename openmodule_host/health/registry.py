"""``core.health``: a plugin's checks and metrics, with openmodule's rules (wire-protocol.md 5.1).

Checks are kept under ``(id, package)`` and sent sorted by that key; a check's ``message`` is set only
while it fails. Metric values are keyed by the JSON text of their labels (sorted, values as strings,
always with ``compute_id``). Misuse (an unknown metric, wrong labels, a count decreased, a gauge set to
text) raises ``ValueError`` under DEBUG/TESTING and is logged otherwise, as in openmodule.

Limits (docs/operations.md, "Limits"): a check message and a ``str`` metric value are masked and cut to
``Limits.health_message_bytes``; a metric keeps at most ``Limits.metric_label_sets`` label sets, and a value
for a further one is refused (counted, one log line per 5 s) in every mode: it is the plugin's load, not a
misuse of the API.

The plugin's worker writes and the health responder reads, so every access takes the registry's lock.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import orjson
from openmodule_hookspecs import HealthCheck, HealthCheckState, HealthMetric, HealthMetricType

from ..limits import LimitHits, Limits, public_text
from ..throttle import LogThrottle

__all__ = ["PluginHealth"]

Key = tuple[str, str]


class PluginHealth:
    def __init__(self, name: str, compute_id: int, strict: bool, log: logging.Logger,
                 parent: str | None = None, *, limits: Limits | None = None, hits: LimitHits | None = None) -> None:
        self.name = name
        self._limits = limits or Limits()
        self._hits = hits or LimitHits()
        self._refused_log = LogThrottle(5.0)
        self.parent = parent
        self._compute_id = str(compute_id)
        self._strict = strict
        self._log = log
        self._lock = threading.RLock()
        self._checks: dict[Key, HealthCheck] = {}
        self._metrics: dict[Key, HealthMetric] = {}
        self._templates: dict[str, tuple[str, str | None]] = {}

    def _key(self, item_id: str, parent: bool, package: str | None) -> Key:
        if parent and package:
            raise ValueError("give either parent=True or a package, not both")
        if parent:
            if not self.parent:
                raise ValueError("this plugin has no PARENT configured")
            return item_id, self.parent
        return item_id, package or self.name

    def _misuse(self, message: str, *args: Any) -> None:
        if self._strict:
            raise ValueError(message % args)
        self._log.error(message, *args)

    # -- checks ---------------------------------------------------------------------------------------

    def add_check(self, check_id: str, name: str, description: str | None = None, *, parent: bool = False,
                  package: str | None = None) -> None:
        key = self._key(check_id, parent, package)
        with self._lock:
            self._checks[key] = HealthCheck(id=check_id, package=key[1], name=name, description=description)

    def add_check_template(self, check_id: str, name: str, description: str | None = None) -> None:
        with self._lock:
            self._templates[check_id] = (name, description)

    def update_template_packages(self, check_id: str, packages: list[str] | set[str]) -> None:
        """Keep one check from the template ``check_id`` for each of ``packages`` (and no others)."""
        with self._lock:
            name, description = self._templates[check_id]
            existing = {package for item_id, package in self._checks if item_id == check_id}
            for package in existing - set(packages):
                del self._checks[(check_id, package)]
            for package in set(packages) - existing:
                self._checks[(check_id, package)] = HealthCheck(
                    id=check_id, package=package, name=name, description=description)

    def remove_check(self, check_id: str, *, parent: bool = False, package: str | None = None) -> None:
        with self._lock:
            self._checks.pop(self._key(check_id, parent, package), None)

    def set_check_state(self, check_id: str, state: HealthCheckState, *, parent: bool = False,
                        package: str | None = None, message: str | None = None) -> None:
        key = self._key(check_id, parent, package)
        with self._lock:
            check = self._checks.get(key)
            if check is None:
                self._misuse("check %s is not registered: add_check() it first", key)
                return
            state = HealthCheckState(state)
            if state is not HealthCheckState.fail or message is None:
                message = None
            else:
                message = public_text(str(message), self._limits.health_message_bytes, self._hits, "health_message")
            self._checks[key] = check.model_copy(update={"state": state, "message": message})

    def check_fail(self, check_id: str, *, parent: bool = False, package: str | None = None,
                   message: str | None = None) -> None:
        self.set_check_state(check_id, HealthCheckState.fail, parent=parent, package=package, message=message)

    def check_success(self, check_id: str, *, parent: bool = False, package: str | None = None,
                      message: str | None = None) -> None:
        self.set_check_state(check_id, HealthCheckState.ok, parent=parent, package=package, message=message)

    # -- metrics --------------------------------------------------------------------------------------

    def add_metric(self, metric_id: str, metric_type: HealthMetricType | str, name: str, description: str, *,
                   labels: list[str] | None = None, parent: bool = False, package: str | None = None) -> None:
        key = self._key(metric_id, parent, package)
        metric = HealthMetric(id=metric_id, name=name, description=description, type=HealthMetricType(metric_type),
                              labels=sorted(set(labels or ())), package=key[1])
        with self._lock:
            self._metrics[key] = metric

    def remove_metric(self, metric_id: str, *, parent: bool = False, package: str | None = None) -> None:
        with self._lock:
            self._metrics.pop(self._key(metric_id, parent, package), None)

    def _labels_key(self, labels: dict[str, Any]) -> str:
        values = {name: str(value) for name, value in labels.items()}
        values["compute_id"] = self._compute_id
        return orjson.dumps(values, option=orjson.OPT_SORT_KEYS).decode()

    def _metric(self, key: Key, labels: dict[str, Any], action: str) -> HealthMetric | None:
        metric = self._metrics.get(key)
        if metric is None:
            self._misuse("metric %s is not registered, it cannot be %s", key, action)
            return None
        if set(labels) != set(metric.labels):
            self._misuse("metric %s labels do not match its definition: expected %s, got %s",
                         key, metric.labels, sorted(labels))
            if self._strict:
                return None
        return metric

    def metric_inc(self, metric_id: str, amount: int | float = 1, *, parent: bool = False,
                   package: str | None = None, **labels: Any) -> None:
        key = self._key(metric_id, parent, package)
        with self._lock:
            metric = self._metric(key, labels, "increased")
            if metric is None:
                return
            if metric.type is HealthMetricType.str:
                self._misuse("metric %s of type str cannot be increased, only set", key)
            elif isinstance(amount, bool) or not isinstance(amount, int | float):
                self._misuse("metric %s of type %s cannot change by a non-number", key, metric.type.value)
            elif metric.type is HealthMetricType.count and amount < 0:
                self._misuse("metric %s of type count cannot be decreased", key)
            else:
                label_key = self._labels_key(labels)
                if self._admits(key, metric, label_key):
                    metric.values[label_key] = metric.values.get(label_key, 0) + amount

    def metric_dec(self, metric_id: str, amount: int | float = 1, *, parent: bool = False,
                   package: str | None = None, **labels: Any) -> None:
        self.metric_inc(metric_id, -amount, parent=parent, package=package, **labels)

    def metric_set(self, metric_id: str, value: int | float | str | None, *, parent: bool = False,
                   package: str | None = None, **labels: Any) -> None:
        """Set a gauge or str metric; ``None`` removes that label set."""
        key = self._key(metric_id, parent, package)
        with self._lock:
            metric = self._metric(key, labels, "set")
            if metric is None:
                return
            if value is None:
                metric.values.pop(self._labels_key(labels), None)
            elif metric.type is HealthMetricType.count:
                self._misuse("metric %s of type count cannot be set, only increased", key)
            elif metric.type is HealthMetricType.str and not isinstance(value, str):
                self._misuse("metric %s of type str cannot be set to a non-string value", key)
            elif metric.type is HealthMetricType.gauge and (isinstance(value, bool)
                                                              or not isinstance(value, int | float)):
                self._misuse("metric %s of type gauge cannot be set to a non-numeric value", key)
            else:
                if isinstance(value, str):
                    value = public_text(value, self._limits.health_message_bytes, self._hits, "health_message")
                label_key = self._labels_key(labels)
                if self._admits(key, metric, label_key):
                    metric.values[label_key] = value

    def _admits(self, key: Key, metric: HealthMetric, label_key: str) -> bool:
        """Whether the metric may hold a value for ``label_key``: a known label set, or room for a new one."""
        if label_key in metric.values or len(metric.values) < self._limits.metric_label_sets:
            return True
        self._hits.hit("metric_label_sets")
        if (quiet := self._refused_log.allow()) is not None:
            self._log.error("metric %s already has %d label sets, the limit (max_metric_label_sets): labels %s "
                            "refused (%d more refused since the last such line)",
                            key, len(metric.values), label_key[:200], quiet)
        return False

    def metric_clear(self, metric_id: str, *, parent: bool = False, package: str | None = None,
                     values_to_keep: list[dict[str, Any]] | None = None) -> None:
        key = self._key(metric_id, parent, package)
        with self._lock:
            metric = self._metrics.get(key)
            if metric is None:
                self._misuse("metric %s is not registered, it cannot be cleared", key)
                return
            keep = {self._labels_key(labels) for labels in values_to_keep or ()}
            metric.values = {label_key: value for label_key, value in metric.values.items() if label_key in keep}

    # -- reading (the responder) ----------------------------------------------------------------------

    def snapshot(self) -> tuple[list[HealthCheck], list[HealthMetric]]:
        """Copies of the checks and metrics, sorted by (id, package)."""
        with self._lock:
            checks = [self._checks[key] for key in sorted(self._checks)]
            metrics = [metric.model_copy(update={"values": dict(metric.values)})
                       for _, metric in sorted(self._metrics.items())]
        return checks, metrics
