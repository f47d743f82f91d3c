"""The host's one RPC server, and each plugin's view of it (``core.rpc_server``).

:class:`RPCRouter` subscribes ``rpc-req-<channel>`` once for every channel any plugin serves and routes
(channel, type) to the plugin that owns it: a channel one plugin serves straight into that plugin's
mailbox (the worker reads the envelope), a shared one through the intake thread (see the class). The
call runs on the owner's worker (:meth:`PluginRPCServer.serve`), so a slow or hung handler delays only
its own plugin's RPCs. Replies go out on ``rpc-rep-<channel>`` exactly as openmodule 18.5.0 sends them
(wire-protocol.md 5.3).

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

from openmodule_hookspecs import RPCErrorStatus, RPCFilter, RPCRequest, dumps, request_topic, response_topic
from pydantic import BaseModel

from ..budget import PublishBudget
from ..isolation import Mailbox
from ..limits import Limits, bounded_error_json, public_text
from ..observability.sentry import add_trace_headers, continued_trace
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
    #: set for a handler registered by name: it serves only requests whose ``name`` is this.
    name: str | None = None


class _Named(NamedTuple):
    """A (channel, type) several plugins serve by name (:meth:`PluginRPCServer.register_named_handler`)."""

    by_name: dict[str, _Handler]
    #: takes the requests that name none of them: it answers an invalid one with ``validation_error`` and
    #: drops a valid one, as every standalone service would (the caller uses the first reply anyway).
    first: _Handler

    def pick(self, request: Any) -> _Handler:
        name = request.get("name") if isinstance(request, dict) else None
        return self.by_name.get(name, self.first) if isinstance(name, str) else self.first

    @property
    def handlers(self) -> list[_Handler]:
        return list(self.by_name.values())


def _owners(entry: _Handler | _Named) -> str:
    if isinstance(entry, _Named):
        return "plugins " + ", ".join(repr(handler.server.plugin) for handler in entry.handlers) + " (by name)"
    return f"plugin {entry.server.plugin!r}"


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
    """Routes every RPC request the host receives to the plugin that serves its (channel, type).

    How a channel's requests reach the plugins depends on how many serve it:

    - **one plugin** (the common case): the intake passes each request on undecoded, straight into that
      plugin's mailbox; its worker validates the envelope from the JSON bytes in one pydantic pass, finds the
      handler and serves the call. The intake thread does no per-request work beyond reading the frames.
    - **several plugins**: the intake decodes the requests of a batch, the router (on the intake thread, as
      the route's "mailbox") reads each envelope and gives each plugin its share with one offer.

    Either way the outcome is the same: the owner serves the call on its worker; an invalid envelope gets a
    ``validation_error`` from every plugin on the channel, an unknown type no reply.
    """

    def __init__(self, intake: Intake, log: logging.Logger) -> None:
        self._intake = intake
        self._log = log
        self._handlers: dict[tuple[str, str], _Handler | _Named] = {}
        #: each served channel's route, and the only plugin serving it (None when several do).
        self._routes: dict[str, tuple[Route, PluginRPCServer | None]] = {}
        self._lock = threading.Lock()
        self._unknown_lock = threading.Lock()
        #: one line per channel per 5 s (the types are the sender's: any number of them).
        self._unknown_log = KeyedLogThrottle(5.0)
        #: requests for a (channel, type) nobody serves: no reply, as openmodule.
        self.unknown = 0

    def register(self, channel: str, type: str, handler: _Handler) -> None:
        """Serve (channel, type) with ``handler``: alone, or by name if it has one (see :class:`_Named`)."""
        with self._lock:
            key = (channel, type)
            self._handlers = {**self._handlers, key: _joined(self._handlers.get(key), handler, f"{channel}/{type}")}
            self._update_route(channel)

    def unregister_all(self, server: PluginRPCServer) -> None:
        with self._lock:
            table: dict[tuple[str, str], _Handler | _Named] = {}
            channels = set()
            for key, entry in self._handlers.items():
                handlers = _handlers_of(entry)
                kept = [handler for handler in handlers if handler.server is not server]
                if len(kept) < len(handlers):
                    channels.add(key[0])
                if not kept:
                    continue
                if isinstance(entry, _Named):
                    first = entry.first if entry.first.server is not server else kept[0]
                    entry = _Named({handler.name: handler for handler in kept if handler.name is not None}, first)
                table[key] = entry
            self._handlers = table
            for channel in channels:
                self._update_route(channel)

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
        def on_request(body: dict[str, Any]) -> Call | None:
            return self._on_request(channel, body)

        return Route(type=None, post=lambda body: self.offer_many([(on_request, body)]), mailbox=self,
                     deliver=on_request)

    def _sole_route(self, channel: str, server: PluginRPCServer) -> Route:
        """Requests go to ``server``'s worker as they come; it reads the envelope (see the class)."""
        topic = request_topic(channel).encode()
        validate_json = RPCRequest.__pydantic_validator__.validate_json

        def serve_decoded(body: dict[str, Any]) -> None:
            if (call := self._on_request(channel, body)) is not None:
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
            if (call := self._call_for(channel, message)) is not None:
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

    def offer_many(self, items: list[tuple[Callable[[dict[str, Any]], Call | None], Any]]) -> int:
        """On the intake thread, once per batch: route each request, then give each plugin its share at once."""
        calls: dict[PluginRPCServer, list[tuple[Callable[[Any], Any], Any]]] = {}
        for on_request, body in items:
            try:
                call = on_request(body)
            except Exception as error:  # costs this request only (counted and logged by the intake's heartbeat)
                self._intake.heartbeat.failed("routing an RPC request", error)
                continue
            if call is not None:
                server = call[2].server
                if (queued := calls.get(server)) is not None:
                    queued.append((server.handle, call))
                else:
                    calls[server] = [(server.handle, call)]
        for server, queued in calls.items():
            server.mailbox.offer_many(queued)
        return len(items)

    def _on_request(self, channel: str, body: dict[str, Any]) -> Call | None:
        """Read the envelope and find the owner; None if nobody is to serve it. Any thread."""
        try:
            message = RPCRequest.model_validate(body)
        except Exception as error:
            # Every standalone server on the channel would answer this; so does every plugin serving it.
            for server in self._servers_of(channel):
                server.reply_invalid(channel, "unknown", None, error)
            return None
        return self._call_for(channel, message)

    def _call_for(self, channel: str, message: RPCRequest) -> Call | None:
        entry = self._handlers.get((channel, message.type))
        if isinstance(entry, _Named):
            entry = entry.pick(message.request)
        if entry is None:
            with self._unknown_lock:  # counted by the intake thread and by workers
                self.unknown += 1
            self._unknown_log.log(self._log, logging.WARNING, channel, "no handler found for %s:%s", channel,
                                  message.type)
            return None
        return channel, message, entry


def _handlers_of(entry: _Handler | _Named) -> list[_Handler]:
    return entry.handlers if isinstance(entry, _Named) else [entry]


def _joined(existing: _Handler | _Named | None, handler: _Handler, rpc: str) -> _Handler | _Named:
    """What serves ``rpc`` once ``handler`` serves it too; raises ``ValueError`` naming both plugins if it cannot:
    a (channel, type) has one plain handler, or any number of handlers by name, one per name."""
    name = handler.name
    if existing is None:
        return handler if name is None else _Named({name: handler}, handler)
    if name is not None and isinstance(existing, _Named):
        if name not in existing.by_name:
            return _Named({**existing.by_name, name: handler}, existing.first)
        taken = f"for the name {name!r} is already served by plugin {existing.by_name[name].server.plugin!r}"
    else:
        taken = f"is already served by {_owners(existing)}"
    how = " by name" if name is not None else ""
    raise ValueError(f"RPC {rpc} {taken}; plugin {handler.server.plugin!r} cannot register it too{how}")


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
    ) -> None:
        self._check_registration(channel, type, request_class, response_class, handler)
        self._router.register(
            channel, type, _Handler(self, request_class, response_class, handler, _validator_of(request_class))
        )

    @staticmethod
    def _check_registration(channel: str, type: str, request_class: type[BaseModel], response_class: type[BaseModel],
                            handler: Callable[..., Any]) -> None:
        for value, what in ((channel, "channel"), (type, "type")):
            if not isinstance(value, str) or not value:
                raise TypeError(f"RPC {what} must be a non-empty string, got {value!r}")
        for cls, what in ((request_class, "request_class"), (response_class, "response_class")):
            if not (inspect.isclass(cls) and issubclass(cls, BaseModel)):
                raise TypeError(f"{what} must be a pydantic model class, got {cls!r}")
        if not callable(handler):
            raise TypeError(f"handler must be callable, got {handler!r}")

    def register_named_handler(
        self,
        channel: str,
        type: str,
        request_class: type[BaseModel],
        response_class: type[BaseModel],
        handler: Callable[..., Any],
    ) -> None:
        """Serve (channel, type) for the requests whose ``request.name`` is this plugin's NAME.

        Several plugins may serve the same (channel, type) this way, each for its own name, as several
        standalone services do with a name filter (openmodule's ``AccessService``). A request that names
        none of them gets what such services give it: no reply, or ``validation_error`` if it is invalid.
        ``request_class`` must have a ``name`` field.
        """
        self._check_registration(channel, type, request_class, response_class, handler)
        if "name" not in request_class.model_fields:
            raise TypeError(f"request_class {request_class.__name__} has no name field to route by")
        self._router.register(channel, type, _Handler(
            self, request_class, response_class, handler, _validator_of(request_class), self.service_name))

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
        if entry.name is not None and getattr(request, "name", None) != entry.name:
            self._log.debug("RPC %s:%s for %r ignored (this plugin serves it for %r)", channel, message.type,
                            getattr(request, "name", None), entry.name)
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
