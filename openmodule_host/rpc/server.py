"""The host's one RPC server, and each plugin's view of it (``core.rpc_server``).

:class:`RPCRouter` subscribes ``rpc-req-<channel>`` once for every channel any plugin serves, reads the
request envelope on the intake thread and routes (channel, type) to the plugin that owns it. The call
then runs on that plugin's worker (:meth:`PluginRPCServer.serve`), so a slow or hung handler delays only
its own plugin's RPCs. Replies go out on ``rpc-rep-<channel>`` exactly as openmodule 18.5.0 sends them
(wire-protocol.md 5.3).
"""

from __future__ import annotations

import inspect
import logging
import threading
import time
from collections.abc import Callable
from typing import Any, NamedTuple
from uuid import UUID

from openmodule_hookspecs import RPCErrorStatus, RPCFilter, RPCRequest, dumps, request_topic, response_topic
from pydantic import BaseModel, ValidationError

from ..isolation import Mailbox
from ..observability.sentry import add_trace_headers, continued_trace
from ..stats import PluginStats
from ..throttle import LogThrottle
from ..wire import Intake, Publisher, Route

__all__ = ["PluginRPCServer", "RPCRouter"]


class _Handler(NamedTuple):
    server: PluginRPCServer
    request_class: type[BaseModel]
    response_class: type[BaseModel]
    handler: Callable[..., Any]


class _Filter(NamedTuple):
    check: RPCFilter
    channel: str | None
    type: str | None


class RPCRouter:
    """Routes every RPC request the host receives to the plugin that serves its (channel, type)."""

    def __init__(self, intake: Intake, log: logging.Logger) -> None:
        self._intake = intake
        self._log = log
        self._handlers: dict[tuple[str, str], _Handler] = {}
        self._routes: dict[str, Route] = {}
        self._lock = threading.Lock()
        self._unknown_log = LogThrottle(5.0)
        #: requests for a (channel, type) nobody serves: no reply, as openmodule.
        self.unknown = 0

    def register(self, channel: str, type: str, handler: _Handler) -> None:
        with self._lock:
            existing = self._handlers.get((channel, type))
            if existing is not None:
                raise ValueError(
                    f"RPC {channel}/{type} is already served by plugin {existing.server.plugin!r}; plugin "
                    f"{handler.server.plugin!r} cannot register it too"
                )
            self._handlers = {**self._handlers, (channel, type): handler}
            if channel not in self._routes:
                route = Route(type=None, post=lambda body: self._on_request(channel, body))
                self._routes[channel] = route
                self._intake.add(request_topic(channel), route)

    def unregister_all(self, server: PluginRPCServer) -> None:
        with self._lock:
            self._handlers = {key: entry for key, entry in self._handlers.items() if entry.server is not server}
            served = {channel for channel, _ in self._handlers}
            for channel in [channel for channel in self._routes if channel not in served]:
                self._intake.remove(request_topic(channel), self._routes.pop(channel))

    def _servers_of(self, channel: str) -> list[PluginRPCServer]:
        servers: dict[int, PluginRPCServer] = {}
        for (handler_channel, _), entry in self._handlers.items():
            if handler_channel == channel:
                servers.setdefault(id(entry.server), entry.server)
        return list(servers.values())

    def _on_request(self, channel: str, body: dict[str, Any]) -> None:
        """On the intake thread: read the envelope, find the owner, hand the call to its worker."""
        try:
            message = RPCRequest.model_validate(body)
        except ValidationError as error:
            # Every standalone server on the channel would answer this; so does every plugin serving it.
            for server in self._servers_of(channel):
                server.reply(channel, "unknown", None, RPCErrorStatus.validation_error, exception=error.json())
            return
        entry = self._handlers.get((channel, message.type))
        if entry is None:
            self.unknown += 1
            if (quiet := self._unknown_log.allow()) is not None:
                self._log.warning("no handler found for %s:%s (%d more unknown RPCs not logged)",
                                  channel, message.type, quiet)
            return
        entry.server.mailbox.offer((entry.server.handle, (channel, message, entry)))


class PluginRPCServer:
    """``core.rpc_server``: the RPCs one plugin serves, with its own filters and resource."""

    def __init__(
        self,
        plugin: str,
        service_name: str,
        resource: str,
        router: RPCRouter,
        publisher: Publisher,
        mailbox: Mailbox,
        stats: PluginStats,
        log: logging.Logger,
        *,
        tracing: bool = False,
    ) -> None:
        self.plugin = plugin
        self.service_name = service_name
        #: requests naming another resource get no reply (openmodule's resource filter).
        self.resource = resource
        self.mailbox = mailbox
        self._router = router
        self._publisher = publisher
        self._stats = stats
        self._log = log
        self._filters: list[_Filter] = []
        self._tracing = tracing
        #: what the router queues on the plugin's worker for each request (traced when sentry is on).
        self.handle: Callable[[tuple[str, RPCRequest, _Handler]], None] = self._serve_traced if tracing else self.serve

    def register_handler(
        self,
        channel: str,
        type: str,
        request_class: type[BaseModel],
        response_class: type[BaseModel],
        handler: Callable[..., Any],
    ) -> None:
        for value, what in ((channel, "channel"), (type, "type")):
            if not isinstance(value, str) or not value:
                raise TypeError(f"RPC {what} must be a non-empty string, got {value!r}")
        for cls, what in ((request_class, "request_class"), (response_class, "response_class")):
            if not (inspect.isclass(cls) and issubclass(cls, BaseModel)):
                raise TypeError(f"{what} must be a pydantic model class, got {cls!r}")
        if not callable(handler):
            raise TypeError(f"handler must be callable, got {handler!r}")
        self._router.register(channel, type, _Handler(self, request_class, response_class, handler))

    def add_filter(self, filter: RPCFilter, channel: str | None = None, type: str | None = None) -> None:
        if not callable(filter):
            raise TypeError(f"filter must be callable, got {filter!r}")
        self._filters.append(_Filter(filter, channel, type))

    def unregister_all(self) -> None:
        self._router.unregister_all(self)

    def _passes_filters(self, request: BaseModel, message: RPCRequest, handler: Any, channel: str) -> bool:
        """openmodule's rule: served if no filter applies or any applicable filter passes."""
        result = True
        for entry in self._filters:
            if entry.channel not in (None, channel) or entry.type not in (None, message.type):
                continue  # does not apply
            if entry.check(request, message, handler):
                return True
            result = False
        return result

    def _serve_traced(self, call: tuple[str, RPCRequest, _Handler]) -> None:
        """:meth:`serve` in a sentry transaction that continues the caller's trace."""
        channel, message, _ = call
        fields = {"sentry-trace": message.sentry_trace, "baggage": message.baggage}
        with continued_trace(fields, f"{request_topic(channel)}/{message.type}"):
            self.serve(call)

    def serve(self, call: tuple[str, RPCRequest, _Handler]) -> None:
        """On the plugin's worker: validate, filter, handle, reply."""
        channel, message, entry = call
        if self.resource and message.resource and message.resource != self.resource:
            self._log.debug("RPC %s:%s for resource %r ignored (mine: %r)", channel, message.type,
                            message.resource, self.resource)
            return
        try:
            request = entry.request_class.model_validate(message.request)
        except ValidationError as error:
            self._log.error("plugin %s: invalid request for RPC %s:%s: %s", self.plugin, channel, message.type, error)
            self._fail(channel, message, RPCErrorStatus.validation_error, error.json())
            return
        try:
            if not self._passes_filters(request, message, entry.handler, channel):
                return
        except Exception as error:
            self._log.exception("plugin %s: RPC filter raised for %s:%s", self.plugin, channel, message.type)
            self._fail(channel, message, RPCErrorStatus.filter_error, str(error))
            return
        started = time.perf_counter()
        try:
            result = entry.handler(request, message)
            if not isinstance(result, entry.response_class):
                result = entry.response_class.model_validate(result or {})
            data = result.model_dump()
            if "status" in data:
                raise ValueError('"status" must not be a top-level field of an RPC response model')
        except Exception as error:
            self._log.exception("plugin %s: RPC handler %s:%s raised", self.plugin, channel, message.type)
            self._fail(channel, message, RPCErrorStatus.handler_error, str(error))
            return
        finally:
            self._stats.handler_seconds += time.perf_counter() - started
        self._stats.rpcs_served += 1
        data["status"] = "ok"
        self._send(channel, message.type, message.rpc_id, data)

    def _fail(self, channel: str, message: RPCRequest, status: RPCErrorStatus, exception: str) -> None:
        self._stats.rpcs_failed += 1
        self.reply(channel, message.type, message.rpc_id, status, exception=exception)

    def reply(
        self, channel: str, type: str, rpc_id: UUID | None, status: RPCErrorStatus, *, exception: str
    ) -> None:
        self._send(channel, type, rpc_id, {"status": status.value, "exception": exception})

    def _send(self, channel: str, type: str, rpc_id: UUID | None, response: dict[str, Any]) -> None:
        envelope: dict[str, Any] = {"timestamp": time.time(), "name": self.service_name, "type": type}
        if self._tracing:
            add_trace_headers(envelope)
        if rpc_id is not None:
            envelope["rpc_id"] = str(rpc_id)
        envelope["response"] = response
        try:
            self._publisher.send(response_topic(channel), dumps(envelope))
        except Exception:
            self._log.exception("plugin %s: could not send the reply to RPC %s:%s", self.plugin, channel, type)
