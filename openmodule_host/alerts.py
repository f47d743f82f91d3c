"""``core.alerts``: openmodule's alert handler, scoped to one plugin (wire-protocol.md 5.2).

An alert is identified by (source, alert type, handle type, package); its id is an index into this
plugin's own list and never goes on the wire. It is published on ``alert`` only when its status differs
from the last one sent (the first send always goes out), unless ``always_send_alert``. ``alert_meta``
always carries ``sender`` = the plugin's NAME; ``state`` alerts need a ``value``.

A meta larger than ``meta_bytes`` as JSON (the host's ``max_alert_meta_bytes``) is refused with a
``ValueError`` to the plugin that sends it, before anything changes: what goes in an alert is the plugin's
call, and a cut meta could mislead whoever reads the alert.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from openmodule_hookspecs import AlertHandleType, AlertMessage, AlertStatus, dumps

from .limits import LimitHits, Limits

__all__ = ["PluginAlerts"]


class _Alert:
    __slots__ = ("always_send", "fields", "version")

    def __init__(self, fields: dict[str, Any], always_send: bool, version: str) -> None:
        self.fields = fields
        self.always_send = always_send
        self.version = version


class PluginAlerts:
    def __init__(self, name: str, version: str, publish: Callable[[AlertMessage, str], object],
                 log: logging.Logger, *, meta_bytes: int = Limits.alert_meta_bytes,
                 hits: LimitHits | None = None) -> None:
        self.name = name
        self._meta_bytes = meta_bytes
        self._hits = hits
        self.version = version
        self._publish = publish
        self._log = log
        self._alerts: list[_Alert] = []
        self._lock = threading.RLock()

    def get_or_add_alert_id(self, alert_type: str, handle_type: AlertHandleType | str, *,
                            package_name: str | None = None, version: str | None = None,
                            always_send_alert: bool | None = None, source: str = "") -> int:
        """The id of the alert (source, alert_type, handle_type, package), created on first use."""
        if "-" in alert_type:
            raise ValueError(f"alert types are lower_snake_case: {alert_type!r} contains '-'")
        key = {"source": source, "alert_type": alert_type, "handle_type": AlertHandleType(handle_type),
               "package": package_name or self.name}
        with self._lock:
            for alert_id, alert in enumerate(self._alerts):
                if key.items() <= alert.fields.items():
                    if always_send_alert is not None:
                        alert.always_send = always_send_alert
                    if version is not None:
                        alert.version = version
                    return alert_id
            self._alerts.append(_Alert(key, bool(always_send_alert), version or self.version))
            return len(self._alerts) - 1

    def has_alert(self, alert_type: str, handle_type: AlertHandleType | str, *, package_name: str | None = None,
                  source: str = "") -> bool:
        """Whether this alert was defined (sent or looked up) before."""
        key = {"source": source, "alert_type": alert_type, "handle_type": AlertHandleType(handle_type),
               "package": package_name or self.name}
        with self._lock:
            return any(key.items() <= alert.fields.items() for alert in self._alerts)

    def send_with_alert_id(self, alert_id: int, status: AlertStatus | str, meta: dict[str, Any] | None = None,
                           value: float | None = None) -> bool:
        """Send ``status`` for the alert; returns whether a message was published."""
        status = AlertStatus(status)
        meta = {**(meta or {}), "sender": self.name}
        if len(encoded := dumps(meta)) > self._meta_bytes:
            if self._hits is not None:
                self._hits.hit("alert_meta")
            raise ValueError(f"alert meta is {len(encoded)} bytes as JSON, more than the limit of {self._meta_bytes} "
                             "(max_alert_meta_bytes): send less, e.g. an id to look the details up by")
        with self._lock:
            alert = self._alerts[alert_id]
            if alert.fields["handle_type"] is AlertHandleType.state and value is None:
                raise ValueError("value must not be None for alerts with handle_type=state")
            previous = alert.fields.get("status")
            alert.fields.update(status=status, alert_meta=meta)
            if value is not None:
                alert.fields["value"] = value
            if not alert.always_send and previous == status:
                return False
            message = AlertMessage(name=self.name, **alert.fields)
        where = "/".join(part for part in (message.package if message.package != self.name else "",
                                           message.source or "") if part)
        self._log.info("send alert%s %s - %s", f" from {where}:" if where else "", message.alert_type,
                       message.status)
        self._publish(message, "alert")
        return True

    def send(self, alert_type: str, handle_type: AlertHandleType | str, *, package_name: str | None = None,
             version: str | None = None, always_send_alert: bool | None = None,
             status: AlertStatus | str = AlertStatus.error, meta: dict[str, Any] | None = None,
             value: float | None = None, source: str = "") -> bool:
        """Define (or find) the alert and send ``status`` for it in one call."""
        alert_id = self.get_or_add_alert_id(alert_type, handle_type, package_name=package_name, version=version,
                                            always_send_alert=always_send_alert, source=source)
        return self.send_with_alert_id(alert_id, status, meta, value)
