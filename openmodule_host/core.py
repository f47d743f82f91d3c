"""The scoped core each plugin is handed (it satisfies ``openmodule_hookspecs.PluginCore``).

A core carries the plugin's own name, config, logger, message dispatch, RPC server and client, health,
alerts, connection listener and database, over infrastructure that the host shares: the single intake
(subscriptions), the single publisher, the RPC router and call table. Handlers registered through it run
on the plugin's worker.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from openmodule_hookspecs import MessageFilter, RegistrationError, Subscription, ZMQMessage, dumps

from .alerts import PluginAlerts
from .budget import PublishBudget
from .config import PluginConfig
from .connection_status import ConnectionStatusListener
from .database import PluginDatabase
from .health import PluginHealth
from .isolation import Mailbox
from .limits import Limits
from .observability.sentry import IGNORED_TOPICS, add_trace_headers, continued_trace
from .registration import check_callable, check_name
from .rpc import PluginRPCClient, PluginRPCServer
from .scheduling import PluginJob, PluginScheduler
from .stats import PluginStats
from .throttle import KeyedLogThrottle
from .wire import Intake, Listener, Publisher, Route, field_filter
from .wire.body import compiled_body

__all__ = ["HostedCore", "PluginMessages", "message_body"]

M = TypeVar("M", bound=ZMQMessage)

#: read on every call, so that a test can take the Python way (None)
_compiled_body = compiled_body


def message_body(message: ZMQMessage, name: str, trace: bool = False) -> bytes:
    """The wire body of ``message`` sent by the service ``name``; ``trace`` (sentry on) adds the current span's
    ``sentry-trace`` and ``baggage``. The usual message is encoded in C where the speedups are built (see
    :mod:`.wire.body`)."""
    compiled = _compiled_body
    if compiled is not None and not trace:
        body = compiled(message, name)
        if body is not None:
            return body
    if not isinstance(message, ZMQMessage):
        raise TypeError(f"message must be a ZMQMessage, got {type(message).__name__}")
    data = message.model_dump()
    data["name"] = name
    if trace:
        add_trace_headers(data)
    return dumps(data)


def _traced(deliver: Callable[[dict[str, Any]], None], topic: str) -> Callable[[dict[str, Any]], None]:
    """``deliver`` in a sentry transaction per message that continues the sender's trace."""

    def deliver_traced(body: dict[str, Any]) -> None:
        with continued_trace(body, f"{topic}/{body.get('type', '')}"):
            deliver(body)

    return deliver_traced


class PluginMessages:
    """``core.messages``: register and unregister message handlers of one plugin."""

    def __init__(
        self,
        plugin: str,
        service_name: str,
        intake: Intake,
        mailbox: Mailbox,
        stats: PluginStats,
        log: logging.Logger,
        *,
        tracing: bool = False,
        throttle: KeyedLogThrottle | None = None,
    ) -> None:
        self._plugin = plugin
        self._service_name = service_name
        self._throttle = throttle if throttle is not None else KeyedLogThrottle()
        self._intake = intake
        self._mailbox = mailbox
        self._stats = stats
        self._log = log
        self._tracing = tracing
        self._routes: dict[Listener, Route] = {}
        self._lock = threading.Lock()

    def register_handler(
        self,
        topic: str,
        message_class: type[M],
        handler: Callable[[M], Any],
        *,
        filter_: MessageFilter | Mapping[str, Any] | None = None,
        match_type: bool = True,
        filter: MessageFilter | Mapping[str, Any] | None = None,
    ) -> Listener:
        """Deliver ``topic``'s messages of ``message_class``'s type (any type without ``match_type``) that pass
        the filter to ``handler``, on the plugin's worker.

        The filter (``filter_``, or ``filter``: another name for it, as ported code may spell it) is a callable
        taking the raw message dict, or a dict of field values (openmodule's documented form): a message passes
        when it has each field with that value. An empty dict filters nothing, as in openmodule.
        """
        filter_ = _message_filter(self._plugin, filter_, filter)
        check_name(self._plugin, "topic", topic)
        if not (isinstance(message_class, type) and issubclass(message_class, ZMQMessage)):
            raise RegistrationError(self._plugin, f"message_class must be a ZMQMessage subclass, got {message_class!r}")
        check_callable(self._plugin, "handler", handler, "handler(message)", (message_class,))
        listener = Listener(
            self._plugin, self._service_name, topic, message_class, handler, filter_, match_type,
            self._stats, self._log, drops=self._intake.drops, throttle=self._throttle,
        )
        offer, deliver, deliver_raw = self._mailbox.offer, listener.deliver, listener.deliver_raw
        if self._tracing and topic not in IGNORED_TOPICS:
            # The trace is continued from the decoded body's headers, so a traced listener gets decoded bodies.
            deliver, deliver_raw = _traced(deliver, topic), None
        route = Route(type=listener.type, post=lambda body: offer((deliver, body)), mailbox=self._mailbox,
                      deliver=deliver, deliver_raw=deliver_raw)
        with self._lock:
            self._routes[listener] = route
        self._intake.add(topic, route)
        return listener

    def unregister_handler(self, subscription: Subscription) -> None:
        """Stop delivering to the handler ``register_handler`` returned ``subscription`` for."""
        with self._lock:
            route = self._routes.pop(subscription, None) if isinstance(subscription, Listener) else None
        if route is None:
            raise RegistrationError(self._plugin, f"handler {subscription!r} is not registered")
        self._intake.remove(subscription.topic, route)

    def unregister_all(self) -> None:
        """Remove every handler of the plugin (when it fails or stops)."""
        with self._lock:
            routes, self._routes = self._routes, {}
        for listener, route in routes.items():
            self._intake.remove(listener.topic, route)

    @property
    def topics(self) -> list[str]:
        with self._lock:
            return sorted({listener.topic for listener in self._routes})


def _message_filter(plugin: str, filter_: MessageFilter | Mapping[str, Any] | None,
                    filter: MessageFilter | Mapping[str, Any] | None) -> MessageFilter | None:
    """The message filter of ``register_handler`` from either spelling (a callable, a dict or None)."""
    if filter_ is not None and filter is not None:
        raise RegistrationError(plugin, "register_handler takes filter_ or filter (two names of the same argument), "
                                "not both")
    chosen = filter if filter is not None else filter_
    if isinstance(chosen, Mapping):
        return field_filter(chosen) if chosen else None
    if chosen is not None and not callable(chosen):
        raise RegistrationError(plugin, "filter_ must be a callable taking the raw message dict and returning a "
                                f"bool, or a dict of field values, got {chosen!r}")
    if chosen is not None:
        check_callable(plugin, "filter_", chosen, "filter_(message_dict)", ({},))
    return chosen


class HostedCore:
    """One plugin's core. Build it through the host; plugins only use its public attributes."""

    def __init__(
        self,
        plugin: str,
        config: PluginConfig,
        log: logging.Logger,
        messages: PluginMessages,
        rpc_server: PluginRPCServer,
        rpc_client: PluginRPCClient,
        health: PluginHealth,
        connection_listener: ConnectionStatusListener,
        database: PluginDatabase,
        publisher: Publisher,
        *,
        budget: PublishBudget,
        tracing: bool = False,
        limits: Limits | None = None,
        stats: PluginStats | None = None,
        scheduler: PluginScheduler,
    ) -> None:
        self._plugin = plugin
        self._config = config
        self._log = log
        self._messages = messages
        self._rpc_server = rpc_server
        self._rpc_client = rpc_client
        self._health = health
        self._connection_listener = connection_listener
        self._database = database
        self._tracing = tracing
        self._limits = limits or Limits()
        self._stats = stats or PluginStats()
        self._budget = budget
        self._scheduler = scheduler
        # What every publish reads, once (the config and the limits are read-only).
        self._name = config.NAME
        self._message_bytes = self._limits.message_bytes
        self._send = publisher.send
        self._alerts = PluginAlerts(config.NAME, config.VERSION, self.publish, log,
                                    meta_bytes=self._limits.alert_meta_bytes, hits=self._stats.limits)

    @property
    def plugin(self) -> str:
        """The plugin's name: its instance name (the entry point's name unless its table names another)."""
        return self._plugin

    @property
    def name(self) -> str:
        return self._config.NAME

    @property
    def config(self) -> PluginConfig:
        return self._config

    @property
    def log(self) -> logging.Logger:
        return self._log

    @property
    def messages(self) -> PluginMessages:
        return self._messages

    @property
    def rpc_server(self) -> PluginRPCServer:
        return self._rpc_server

    @property
    def rpc_client(self) -> PluginRPCClient:
        return self._rpc_client

    @property
    def health(self) -> PluginHealth:
        return self._health

    @property
    def alerts(self) -> PluginAlerts:
        return self._alerts

    @property
    def connection_listener(self) -> ConnectionStatusListener:
        return self._connection_listener

    @property
    def database(self) -> PluginDatabase:
        return self._database

    @property
    def scheduler(self) -> PluginScheduler:
        """The plugin's jobs, with the ``schedule`` library's API (``core.scheduler.every(5).seconds.do(fn)``);
        they run on the plugin's worker and stop with the plugin."""
        return self._scheduler

    def every(self, seconds: float, job: Callable[..., Any], *args: Any, **kwargs: Any) -> PluginJob:
        """Run ``job(*args, **kwargs)`` every ``seconds`` (a positive number, fractions allowed) on the plugin's
        worker, the first time ``seconds`` from now; returns the job (``core.scheduler.cancel_job(job)``)."""
        every: PluginJob = self._scheduler.every(seconds).seconds  # (``seconds`` is untyped in schedule)
        return every.do(job, *args, **kwargs)

    def detach(self) -> None:
        """Remove everything the plugin registered (handlers, RPCs, listeners, jobs) and close its database:
        when it fails or stops."""
        self._scheduler.close()
        self._messages.unregister_all()
        self._rpc_server.unregister_all()
        self._connection_listener.close()
        self._database.shutdown()

    def publish(self, message: ZMQMessage, topic: str) -> None:
        """Send ``message`` on ``topic``, within the plugin's publish budget: over it, this waits (at most the
        budget's ``wait``) or drops the message; a drop is counted and logged, never raised (as ZeroMQ's own).
        A body over ``max_message_bytes`` raises ``ValueError`` (and is counted): the other services would
        drop it anyway."""
        if not isinstance(topic, str) or not topic:
            raise TypeError(f"topic must be a non-empty string, got {topic!r}")
        body = message_body(message, self._name, self._tracing)
        if len(body) > self._message_bytes:
            self._stats.limits.hit("publish")
            raise ValueError(f"message for topic {topic!r} is {len(body)} bytes, more than the limit of "
                             f"{self._limits.message_bytes} (max_message_bytes): other services drop such bodies")
        budget = self._budget
        if budget.acquire() and not self._send(topic, body):
            budget.refused()
