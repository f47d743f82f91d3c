"""The host's one RPC server, and each plugin's view of it (``core.rpc_server``).

:class:`RPCRouter` subscribes ``rpc-req-<channel>`` once for every channel any plugin serves and routes
(channel, type) to the plugins that serve it: a channel one plugin serves straight into that plugin's
mailbox (the worker reads the envelope), a shared one through the intake thread (see the class). Any
number of plugins may serve one (channel, type), as several openmodule services may: a request reaches
each of them (or, when all are keyed by one request field, only the one its value names), and each
decides on its own worker whether it answers. The call runs on each plugin's worker
(:meth:`PluginRPCServer.serve`), so a slow or hung handler delays only its own plugin's replies. Replies go
out on ``rpc-rep-<channel>`` exactly as openmodule 18.5.0 sends them (wire-protocol.md 5.3).

Every request that is answered at all gets an answer, within bounds (docs/operations.md, "Limits"): a request
model whose validator raises anything, not only a ``ValidationError``, gets ``validation_error``; the
``exception`` of an error reply is bounded by ``Limits.error_bytes`` (a ``validation_error`` keeps pydantic's
JSON array, with each ``input`` cut short); a response that cannot be serialised (an int beyond 64 bits) or
is larger than ``Limits.message_bytes`` becomes ``handler_error``, as a handler that raised.
"""

from __future__ import annotations

import inspect
import logging
import threading
import time
from collections.abc import Callable
from typing import Any, NamedTuple
from uuid import UUID

from openmodule_hookspecs import (
    RegistrationError,
    RPCErrorStatus,
    RPCFilter,
    RPCRequest,
    dumps,
    request_topic,
    response_topic,
)
from pydantic import BaseModel

from ..budget import PublishBudget
from ..isolation import Mailbox
from ..limits import Limits, bounded_error_json, public_text
from ..observability.sentry import add_trace_headers, continued_trace
from ..registration import check_callable, check_name
from ..stats import PluginStats
from ..throttle import KeyedLogThrottle
from ..wire import Intake, Publisher, Route
from ..wire.codec import DecodeError, decode
from ..wire.listener import has_own_model_validate

__all__ = ["PluginRPCServer", "RPCRouter"]


class _Handler(NamedTuple):
    server: PluginRPCServer
    request_class: type[BaseModel]
    response_class: type[BaseModel]
    handler: Callable[..., Any]
    #: ``request_class.model_validate``, without pydantic's Python wrapper unless the class has its own.
    validate_request: Callable[[Any], BaseModel]
    #: set for a keyed handler: it serves only the requests whose field ``key`` is ``value``.
    key: str | None = None
    value: str | None = None
    #: the key's name in the request as sent (the field's alias, if it has one): what the intake routes by.
    wire_key: str | None = None

    def describe(self) -> str:
        keyed = f" ({self.key}={self.value!r})" if self.key is not None else ""
        return f"{self.server.plugin!r}{keyed}"


class _Shared(NamedTuple):
    """A (channel, type) several plugins serve (each with one handler).

    When every handler is keyed by the same request field, the intake routes each request by that field's
    value, as sent, to the handlers keyed by it (usually one): no fan-out. Otherwise every request goes to
    every handler, and each plugin's worker decides (its key, its resource and its filters) whether it answers,
    as that many standalone services would.
    """

    handlers: tuple[_Handler, ...]
    #: the field (as sent) every handler is keyed by; None: fan out.
    wire_key: str | None
    by_value: dict[str, tuple[_Handler, ...]]
    #: keyed: takes the requests that name none of the values. It answers an invalid one with
    #: ``validation_error`` (once, not once per plugin) and drops a valid one, as every standalone service
    #: would (the caller uses the first reply anyway).
    first: tuple[_Handler]

    @classmethod
    def of(cls, handlers: tuple[_Handler, ...]) -> _Shared:
        wire_keys = {handler.wire_key for handler in handlers}
        wire_key = wire_keys.pop() if len(wire_keys) == 1 else None
        by_value: dict[str, tuple[_Handler, ...]] = {}
        if wire_key is not None:
            for handler in handlers:
                assert handler.value is not None
                by_value[handler.value] = (*by_value.get(handler.value, ()), handler)
        return cls(handlers, wire_key, by_value, (handlers[0],))

    def pick(self, request: Any) -> tuple[_Handler, ...]:
        if self.wire_key is None:
            return self.handlers
        value = request.get(self.wire_key) if isinstance(request, dict) else None
        return self.by_value.get(value, self.first) if isinstance(value, str) else self.first


def _validator_of(model_class: type[BaseModel]) -> Callable[[Any], BaseModel]:
    if has_own_model_validate(model_class):
        return model_class.model_validate

    def validate(data: Any) -> BaseModel:
        # Looked up per call: pydantic replaces the validator when a model is rebuilt.
        return model_class.__pydantic_validator__.validate_python(data)  # type: ignore[no-any-return]

    return validate


#: one request on its way to the owning plugin's worker: (channel, envelope, handler registration).
Call = tuple[str, RPCRequest, _Handler]


class _Filter(NamedTuple):
    check: RPCFilter
    channel: str | None
    type: str | None


class RPCRouter:
    """Routes every RPC request the host receives to the plugins that serve its (channel, type).

    How a channel's requests reach the plugins depends on how many serve it:

    - **one plugin** (the common case): the intake passes each request on undecoded, straight into that
      plugin's mailbox; its worker validates the envelope from the JSON bytes in one pydantic pass, finds the
      handler and serves the call. The intake thread does no per-request work beyond reading the frames.
    - **several plugins**: the intake decodes the requests of a batch, the router (on the intake thread, as
      the route's "mailbox") reads each envelope, picks the plugins to serve it (see :class:`_Shared`) and
      gives each plugin its share of the batch with one offer.

    Either way the outcome is the same: each plugin picked serves the call on its worker; an invalid envelope
    gets a ``validation_error`` from every plugin on the channel, an unknown type no reply.
    """

    def __init__(self, intake: Intake, log: logging.Logger) -> None:
        self._intake = intake
        self._log = log
        self._handlers: dict[tuple[str, str], _Handler | _Shared] = {}
        #: each served channel's route, and the only plugin serving it (None when several do).
        self._routes: dict[str, tuple[Route, PluginRPCServer | None]] = {}
        self._lock = threading.Lock()
        self._unknown_lock = threading.Lock()
        #: one line per channel per 5 s (the types are the sender's: any number of them).
        self._unknown_log = KeyedLogThrottle(5.0)
        #: requests for a (channel, type) nobody serves: no reply, as openmodule.
        self.unknown = 0

    def register(self, channel: str, type: str, handler: _Handler) -> None:
        """Serve (channel, type) with ``handler`` too. A plugin serves a (channel, type) once: its second
        registration raises ``ValueError``."""
        with self._lock:
            key = (channel, type)
            handlers = _handlers_of(self._handlers.get(key))
            for other in handlers:
                if other.server is handler.server:
                    raise RegistrationError(handler.server.plugin, f"RPC {channel}/{type} is already served by "
                                            f"plugin {other.describe()}; a plugin registers a (channel, type) once")
            self._handlers = {**self._handlers, key: _entry((*handlers, handler))}
            self._update_route(channel)

    def unregister_all(self, server: PluginRPCServer) -> None:
        """Remove ``server``'s handlers; the other plugins on its channels keep serving."""
        with self._lock:
            table: dict[tuple[str, str], _Handler | _Shared] = {}
            channels = set()
            for key, entry in self._handlers.items():
                handlers = _handlers_of(entry)
                kept = tuple(handler for handler in handlers if handler.server is not server)
                if len(kept) < len(handlers):
                    channels.add(key[0])
                if kept:
                    table[key] = entry if len(kept) == len(handlers) else _entry(kept)
            self._handlers = table
            for channel in channels:
                self._update_route(channel)

    def warn_unfiltered(self) -> list[str]:
        """Log (WARNING) each (channel, type) on which several plugins would all answer every request they
        get: unkeyed (or keyed by the same value) and without a filter that applies. Returns the lines.

        Allowed, as several openmodule services may do it (the caller takes the first reply), but usually a
        forgotten filter. The host calls this once, when every plugin has registered its handlers.
        """
        lines = []
        for (channel, type), entry in sorted(self._handlers.items()):
            groups: dict[tuple[str | None, str | None], list[_Handler]] = {}
            for handler in _handlers_of(entry):
                if not handler.server.filters_apply(channel, type):
                    groups.setdefault((handler.key, handler.value), []).append(handler)
            for handlers in groups.values():
                if len(handlers) > 1:
                    names = " and ".join(handler.describe() for handler in handlers)
                    lines.append(f"RPC {channel}/{type} is served by plugins {names}, with no key or filter that "
                                 "tells them apart: each of them answers every request (the caller takes the "
                                 "first reply)")
        for line in lines:
            self._log.warning("%s", line)
        return lines

    def _update_route(self, channel: str) -> None:
        """Give the channel the route its servers call for (see the class). Holds the lock."""
        servers = self._servers_of(channel)
        sole = servers[0] if len(servers) == 1 else None
        topic = request_topic(channel)
        current = self._routes.get(channel)
        if not servers:
            if current is not None:
                self._intake.remove(topic, self._routes.pop(channel)[0])
            return
        if current is not None and current[1] is sole:
            return
        route = self._sole_route(channel, sole) if sole is not None else self._shared_route(channel)
        self._routes[channel] = (route, sole)
        if current is None:
            self._intake.add(topic, route)
        else:
            self._intake.replace(topic, current[0], route)

    def _shared_route(self, channel: str) -> Route:
        # The router takes the intake's batches (it is the route's "mailbox"): the requests of a batch reach
        # each plugin's worker with one offer, after the intake has read them all. Offering each at once woke
        # the worker while the intake still read, and the two threads then traded the GIL at every ZeroMQ
        # call (pyzmq releases it in each send and recv).
        def on_request(body: dict[str, Any]) -> list[Call]:
            return self._on_request(channel, body)

        return Route(type=None, post=lambda body: self.offer_many([(on_request, body)]), mailbox=self,
                     deliver=on_request)

    def _sole_route(self, channel: str, server: PluginRPCServer) -> Route:
        """Requests go to ``server``'s worker as they come; it reads the envelope (see the class)."""
        topic = request_topic(channel).encode()
        validate_json = RPCRequest.__pydantic_validator__.validate_json

        def serve_decoded(body: dict[str, Any]) -> None:
            for call in self._on_request(channel, body):
                self._serve_here(call, server)

        def serve_raw(raw: bytes) -> None:
            try:
                message = validate_json(raw)
            except Exception:
                # Whatever is wrong, it is found and answered exactly as on the decoded way.
                try:
                    _topic, body = decode([topic, raw], len(raw), self._intake.drops.max_depth)
                except DecodeError as error:
                    self._intake.drops.malformed(error)
                    return
                serve_decoded(body)
                return
            entry = self._handlers.get((channel, message.type))
            if isinstance(entry, _Handler):  # the usual case, without building a list of calls
                self._serve_here((channel, message, entry), server)
                return
            for call in self._calls_for(channel, message):
                self._serve_here(call, server)

        return Route(type=None, post=lambda body: server.mailbox.offer((serve_decoded, body)),
                     mailbox=server.mailbox, deliver=serve_decoded, deliver_raw=serve_raw)

    @staticmethod
    def _serve_here(call: Call, worker_of: PluginRPCServer) -> None:
        """On ``worker_of``'s worker: serve the call, or pass it on if another plugin took the type since."""
        server = call[2].server
        if server is worker_of:
            server.handle(call)
        else:
            server.mailbox.offer((server.handle, call))

    def _servers_of(self, channel: str) -> list[PluginRPCServer]:
        servers: dict[int, PluginRPCServer] = {}
        for (handler_channel, _), entry in self._handlers.items():
            if handler_channel == channel:
                for handler in _handlers_of(entry):
                    servers.setdefault(id(handler.server), handler.server)
        return list(servers.values())

    def offer_many(self, items: list[tuple[Callable[[dict[str, Any]], list[Call]], Any]]) -> int:
        """On the intake thread, once per batch: route each request, then give each plugin its share at once."""
        calls: dict[PluginRPCServer, list[tuple[Callable[[Any], Any], Any]]] = {}
        for on_request, body in items:
            try:
                routed = on_request(body)
            except Exception as error:  # costs this request only (counted and logged by the intake's heartbeat)
                self._intake.heartbeat.failed("routing an RPC request", error)
                continue
            for call in routed:
                server = call[2].server
                if (queued := calls.get(server)) is not None:
                    queued.append((server.handle, call))
                else:
                    calls[server] = [(server.handle, call)]
        for server, queued in calls.items():
            server.mailbox.offer_many(queued)
        return len(items)

    def _on_request(self, channel: str, body: dict[str, Any]) -> list[Call]:
        """Read the envelope and find the plugins to serve it (none: an empty list). Any thread."""
        try:
            message = RPCRequest.model_validate(body)
        except Exception as error:
            # Every standalone server on the channel would answer this; so does every plugin serving it.
            for server in self._servers_of(channel):
                server.reply_invalid(channel, "unknown", None, error)
            return []
        return self._calls_for(channel, message)

    def _calls_for(self, channel: str, message: RPCRequest) -> list[Call]:
        entry = self._handlers.get((channel, message.type))
        if isinstance(entry, _Handler):
            return [(channel, message, entry)]
        if entry is not None:
            return [(channel, message, handler) for handler in entry.pick(message.request)]
        with self._unknown_lock:  # counted by the intake thread and by workers
            self.unknown += 1
        self._unknown_log.log(self._log, logging.WARNING, channel, "no handler found for %s:%s", channel,
                              message.type)
        return []


def _handlers_of(entry: _Handler | _Shared | None) -> tuple[_Handler, ...]:
    if entry is None:
        return ()
    return (entry,) if isinstance(entry, _Handler) else entry.handlers


def _entry(handlers: tuple[_Handler, ...]) -> _Handler | _Shared:
    """What serves a (channel, type) with these handlers (at least one)."""
    return handlers[0] if len(handlers) == 1 else _Shared.of(handlers)


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
        limits: Limits | None = None,
        throttle: KeyedLogThrottle | None = None,
        budget: PublishBudget | None = None,
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
        #: one error line per (plugin, channel, type, reason) per interval; the plugin's own.
        self._throttle = throttle if throttle is not None else KeyedLogThrottle()
        self._filters: list[_Filter] = []
        self._reply_topics: dict[str, str] = {}
        self._tracing = tracing
        self._limits = limits or Limits()
        #: replies take from the plugin's publish budget but are never delayed or dropped by it.
        self._budget = budget
        #: what the router queues on the plugin's worker for each request (traced when sentry is on).
        self.handle: Callable[[Call], None] = self._serve_traced if tracing else self.serve

    def register_handler(
        self,
        channel: str,
        type: str,
        request_class: type[BaseModel],
        response_class: type[BaseModel],
        handler: Callable[..., Any],
        *,
        key: str | None = None,
        value: str | None = None,
    ) -> None:
        """Serve (channel, type); with ``key`` (a field of ``request_class``), only the requests whose
        ``request.<key>`` is ``value`` (default: this plugin's NAME).

        Any number of plugins may serve the same (channel, type): a request reaches each of them, and each
        whose key, resource and filters pass answers, as that many standalone services would. When all of
        them are keyed by the same field, the host routes each request to the plugin its value names, without
        asking the others (see :class:`_Shared`).
        """
        self._check_registration(channel, type, request_class, response_class, handler)
        wire_key = None
        if key is None:
            if value is not None:
                raise RegistrationError(self.plugin, f"value={value!r} needs a key (the request field it is "
                                        "compared with)")
        else:
            if not isinstance(key, str) or (field := request_class.model_fields.get(key)) is None:
                raise RegistrationError(self.plugin, f"request_class {request_class.__name__} has no {key} field "
                                        "to route by")
            value = self.service_name if value is None else value
            if not isinstance(value, str):
                raise RegistrationError(self.plugin, f"value must be a string (compared with request.{key}), "
                                        f"got {value!r}")
            wire_key = field.alias or key
        self._router.register(channel, type, _Handler(
            self, request_class, response_class, handler, _validator_of(request_class), key, value, wire_key))

    def _check_registration(self, channel: str, type: str, request_class: type[BaseModel],
                            response_class: type[BaseModel], handler: Callable[..., Any]) -> None:
        check_name(self.plugin, "RPC channel", channel)
        check_name(self.plugin, "RPC type", type)
        for cls, what in ((request_class, "request_class"), (response_class, "response_class")):
            if not (inspect.isclass(cls) and issubclass(cls, BaseModel)):
                raise RegistrationError(self.plugin, f"{what} must be a pydantic model class, got {cls!r}")
        check_callable(self.plugin, "RPC handler", handler, "handler(request, message)", (request_class, RPCRequest))

    def register_named_handler(
        self,
        channel: str,
        type: str,
        request_class: type[BaseModel],
        response_class: type[BaseModel],
        handler: Callable[..., Any],
    ) -> None:
        """``register_handler(..., key="name")``: serve the requests whose ``request.name`` is this plugin's NAME,
        as openmodule's ``AccessService`` does with its name filter."""
        self.register_handler(channel, type, request_class, response_class, handler, key="name")

    def add_filter(self, filter: RPCFilter, channel: str | None = None, type: str | None = None) -> None:
        check_callable(self.plugin, "RPC filter", filter, "filter(request, message, handler)", (None, None, None))
        self._filters.append(_Filter(filter, channel, type))

    def filters_apply(self, channel: str, type: str) -> bool:
        """Whether a filter of this plugin applies to (channel, type)'s requests."""
        return any(entry.channel in (None, channel) and entry.type in (None, type) for entry in self._filters)

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

    def _serve_traced(self, call: Call) -> None:
        """:meth:`serve` in a sentry transaction that continues the caller's trace."""
        channel, message, _ = call
        fields = {"sentry-trace": message.sentry_trace, "baggage": message.baggage}
        with continued_trace(fields, f"{request_topic(channel)}/{message.type}"):
            self.serve(call)

    def serve(self, call: Call) -> None:
        """On the plugin's worker: validate, filter, handle, reply."""
        channel, message, entry = call
        if self.resource and message.resource and message.resource != self.resource:
            self._log.debug("RPC %s:%s for resource %r ignored (mine: %r)", channel, message.type,
                            message.resource, self.resource)
            return
        try:
            request = entry.validate_request(message.request)
        except Exception as error:  # a model validator may raise anything: still the caller's bad request
            self._stats.rpcs_failed += 1
            exception = self.reply_invalid(channel, message.type, message.rpc_id, error)
            # bounded: str(error) of a huge request is megabytes
            self._throttle.log(self._log, logging.ERROR, (self.plugin, channel, message.type, "invalid request"),
                               "plugin %s: invalid request for RPC %s:%s: %s", self.plugin, channel, message.type,
                               exception)
            return
        if entry.key is not None and getattr(request, entry.key, None) != entry.value:
            self._log.debug("RPC %s:%s for %s=%r ignored (this plugin serves it for %r)", channel, message.type,
                            entry.key, getattr(request, entry.key, None), entry.value)
            return
        try:
            if self._filters and not self._passes_filters(request, message, entry.handler, channel):
                return
        except Exception as error:
            self._log_raised(channel, message.type, "filter raised", "plugin %s: RPC filter raised for %s:%s")
            self._fail(channel, message, RPCErrorStatus.filter_error, str(error))
            return
        try:
            result = entry.handler(request, message)
            if not isinstance(result, entry.response_class):
                result = entry.response_class.model_validate(result or {})
            data = result.model_dump()
            if "status" in data:
                raise ValueError('"status" must not be a top-level field of an RPC response model')
            data["status"] = "ok"
            body = self._body(message.type, message.rpc_id, data)  # raises for what JSON cannot hold
            if len(body) > self._limits.message_bytes:
                self._stats.limits.hit("rpc_reply")
                raise ValueError(f"the response is {len(body)} bytes, more than the limit of "
                                 f"{self._limits.message_bytes} (max_message_bytes)")
        except Exception as error:
            self._log_raised(channel, message.type, "handler raised", "plugin %s: RPC handler %s:%s raised")
            self._fail(channel, message, RPCErrorStatus.handler_error, str(error))
            return
        self._stats.rpcs_served += 1
        self._send(channel, message.type, body)

    def _fail(self, channel: str, message: RPCRequest, status: RPCErrorStatus, exception: str) -> None:
        self._stats.rpcs_failed += 1
        self.reply(channel, message.type, message.rpc_id, status, exception=exception)

    def reply(
        self, channel: str, type: str, rpc_id: UUID | None, status: RPCErrorStatus, *, exception: str
    ) -> None:
        """An error reply; ``exception`` is masked and cut to ``Limits.error_bytes``."""
        exception = public_text(exception, self._limits.error_bytes, self._stats.limits, "rpc_error")
        self._send(channel, type, self._body(type, rpc_id, {"status": status.value, "exception": exception}))

    def reply_invalid(self, channel: str, type: str, rpc_id: UUID | None, error: BaseException) -> str:
        """A ``validation_error`` reply: pydantic's error JSON, bounded (see :func:`bounded_error_json`), which
        is returned."""
        exception, cut = bounded_error_json(error, self._limits.error_bytes)
        if cut:
            self._stats.limits.hit("rpc_error")
        response = {"status": RPCErrorStatus.validation_error.value, "exception": exception}
        self._send(channel, type, self._body(type, rpc_id, response))
        return exception

    def _body(self, type: str, rpc_id: UUID | None, response: dict[str, Any]) -> bytes:
        envelope: dict[str, Any] = {"timestamp": time.time(), "name": self.service_name, "type": type}
        if self._tracing:
            add_trace_headers(envelope)
        if rpc_id is not None:
            envelope["rpc_id"] = str(rpc_id)
        envelope["response"] = response
        return dumps(envelope)

    def _send(self, channel: str, type: str, body: bytes) -> None:
        try:
            if (topic := self._reply_topics.get(channel)) is None:
                topic = self._reply_topics[channel] = response_topic(channel)
            if self._budget is not None:
                self._budget.charge()
            if not self._publisher.send(topic, body) and self._budget is not None:
                self._budget.refused()
        except Exception:
            self._log_raised(channel, type, "reply not sent", "plugin %s: could not send the reply to RPC %s:%s")

    def _log_raised(self, channel: str, type: str, reason: str, message: str) -> None:
        """In an ``except``: the traceback of the first such error per interval (every one reaches sentry)."""
        self._throttle.log(self._log, logging.ERROR, (self.plugin, channel, type, reason), message, self.plugin,
                           channel, type, exc_info=True)
