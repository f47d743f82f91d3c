"""Answers ``healthz``/``ping``: one ``healthpong`` per running plugin, then one for the host itself.

Pings are served on the host's own health thread, never on a plugin's worker, so a stuck handler does
not stop the answers (as in openmodule, where pings have their own socket and thread). A plugin's
``health(core)`` hook runs on a health thread of that plugin, bounded by ``hook_timeout``; a hook that
raises, returns an error or is still running from an earlier ping marks that plugin's ``health`` check
as failed, and the other plugins' pongs go out on time regardless. Whatever one answer raises is counted
in the responder's heartbeat and logged at most once per 5 s; the next ping is answered.

Limits: the hook's message is masked and cut like a check message (``Limits.health_message_bytes``); a pong
larger than ``Limits.message_bytes`` goes out without its checks and metrics, with status ``error`` and a
message that says so (still the pong shape openmodule peers expect), and is counted as ``pong``.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from openmodule_hookspecs import (
    HealthCheck,
    HealthCheckState,
    HealthMetric,
    dumps,
    utcnow,
)

from ..limits import LimitHits, Limits
from ..states import PluginState
from ..throttle import LogThrottle
from ..watchdog import Heartbeat
from ..wire import Publisher, Route
from .hooks import hook_check
from .view import PluginView

__all__ = ["HealthResponder"]

_PING_QUEUE = 16
#: the responder beats its heartbeat at least this often (s), even when no ping comes.
_IDLE_BEAT = 1.0


class HealthResponder:
    def __init__(
        self,
        host_name: str,
        host_version: str,
        plugins: Callable[[], Sequence[PluginView]],
        host_checks: Callable[[], list[HealthCheck]],
        host_metrics: Callable[[], list[HealthMetric]],
        publisher: Publisher,
        log: logging.Logger,
        hook_timeout: float = 1.0,
        *,
        host_pong: bool = True,
        limits: Limits | None = None,
    ) -> None:
        self.host_name = host_name
        #: answer with the host's own pong too (a plugin's child process does not: its parent does).
        self.host_pong = host_pong
        self.host_version = host_version
        self.startup = utcnow()
        self._plugins = plugins
        self._host_checks = host_checks
        self._host_metrics = host_metrics
        self._publisher = publisher
        self._log = log
        self.hook_timeout = hook_timeout
        self._limits = limits or Limits()
        self._oversized_log = LogThrottle(5.0)
        self._pings: queue.Queue[dict[str, Any] | None] = queue.Queue(_PING_QUEUE)
        self._thread = threading.Thread(target=self._run, name="omh-health", daemon=True)
        self._stopping = False
        #: beaten every round (a round answers one ping: up to ``hook_timeout``); counts what it caught.
        self.heartbeat = Heartbeat("health", _IDLE_BEAT + hook_timeout, log)
        #: pings answered; pings dropped because the responder was behind.
        self.answered = 0
        self.dropped = 0
        self.route = Route(type="ping", post=self._on_ping)

    def start(self) -> None:
        self._thread.start()

    @property
    def thread(self) -> threading.Thread | None:
        """The responder thread while it is meant to run (None once stopping)."""
        return None if self._stopping else self._thread

    def restart(self) -> None:
        """A new responder thread on the same ping queue, in place of one that ended."""
        if not self._thread.is_alive() and not self._stopping:
            self._thread = threading.Thread(target=self._run, name="omh-health", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 2.0) -> None:
        """End the responder thread; returns within ``timeout`` (the wake-up and the join share it)."""
        self._stopping = True
        if self._thread.is_alive():
            deadline = time.monotonic() + timeout
            try:
                self._pings.put(None, timeout=timeout)
            except queue.Full:
                return
            self._thread.join(max(deadline - time.monotonic(), 0.0))

    def _on_ping(self, body: dict[str, Any]) -> None:
        """On the intake thread: queue the ping, never block."""
        try:
            self._pings.put_nowait(body)
        except queue.Full:
            self.dropped += 1

    def _run(self) -> None:
        while True:
            self.heartbeat.beat()
            try:
                ping = self._pings.get(timeout=_IDLE_BEAT)
            except queue.Empty:
                continue
            if ping is None:
                return
            try:
                self.answer()
            except Exception as error:
                self.heartbeat.failed("answering a health ping", error)

    def answer(self) -> None:
        """Send one pong per running plugin, then the host's."""
        # (a plugin in a child process answers there, as the host it runs in)
        running = [plugin for plugin in self._plugins() if plugin.state is PluginState.RUNNING and plugin.core]
        started = {plugin.name: plugin.hook_health.start() for plugin in running if plugin.hook_health}
        deadline = time.monotonic() + self.hook_timeout
        for plugin in running:
            if plugin.hook_health is not None:
                plugin.hook_health.finish(started[plugin.name], deadline - time.monotonic())
            self._send_pong(plugin)
        if self.host_pong:
            checks, metrics = self._host_checks(), self._host_metrics()
            self._send(self.host_name, self.host_version, self.startup, checks, metrics)
        self.answered += 1

    def _send_pong(self, plugin: PluginView) -> None:
        assert plugin.core is not None
        checks, metrics = plugin.core.health.snapshot()
        if plugin.hook_health is not None and plugin.hook_health.last is not None:
            checks.append(hook_check(plugin.core.name, plugin.hook_health.last))
        config = plugin.core.config
        self._send(config.NAME, config.VERSION, plugin.started_at, checks, metrics, plugin.stats.limits)

    def _send(self, name: str, version: str, startup: datetime, checks: list[HealthCheck],
              metrics: list[HealthMetric], hits: LimitHits | None = None) -> None:
        status, message = "ok", None
        for check in checks:
            if check.state is HealthCheckState.fail:
                status, message = "error", check.message  # the last failing check's message, as openmodule
        pong: dict[str, Any] = {"status": status, "version": version, "name": name, "startup": startup}
        if message is not None:
            pong["message"] = message
        body = {
            "timestamp": time.time(),
            "name": name,
            "type": "healthz",
            "pong": pong,
            "metrics": [metric.model_dump() for metric in metrics],
            "checks": [check.model_dump() for check in checks],
        }
        data = dumps(body)
        if len(data) > self._limits.message_bytes:
            if hits is not None:
                hits.hit("pong")
            if (quiet := self._oversized_log.allow()) is not None:
                self._log.error("the pong of %s is %d bytes, more than max_message_bytes (%d): sent without its "
                                "checks and metrics (%d more such pongs not logged)", name, len(data),
                                self._limits.message_bytes, quiet)
            pong.update(status="error", message=f"the pong was {len(data)} bytes, more than the limit of "
                                                f"{self._limits.message_bytes}: its checks and metrics are left out")
            body.update(metrics=[], checks=[])
            data = dumps(body)
        self._publisher.send("healthpong", data)
