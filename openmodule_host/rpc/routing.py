"""Routing RPC requests to the plugins that serve them: the host's one RPC server (see :class:`RPCRouter`).

:class:`RPCRouter` subscribes ``rpc-req-<channel>`` once for every channel any plugin serves and routes
(channel, type) to the plugins that serve it: a channel one plugin serves straight into that plugin's
mailbox (the worker reads the envelope), a shared one through the intake thread, which reads the envelope
(see the class). Any number of plugins may serve one (channel, type), as several openmodule services may: a
request reaches each of them (or, when all are keyed by one request field, only the one its value names),
and each decides on its own worker whether it answers. The call itself is served on each plugin's worker by
its :class:`~.server.PluginRPCServer`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any, NamedTuple, Protocol
from uuid import UUID

from openmodule_hookspecs import GatewayFilter, RegistrationError, RPCFilter, RPCRequest, request_topic
from pydantic import BaseModel

from ..isolation import Mailbox
from ..throttle import KeyedLogThrottle
from ..wire import Intake, Route
from ..wire.listener import has_own_model_validate
from ..wire.raw import decoded_as_the_intake, raw_or_decoded
from .gates import GateIndex, intake_gates

__all__ = ["Call", "Handler", "RPCRouter", "RPCServing", "validator_of"]


class RPCServing(Protocol):
    """What the router needs of a plugin's RPC server (:class:`~.server.PluginRPCServer` is one): routing
    sits below serving and does not import it."""

    @property
    def plugin(self) -> str: ...

    @property
    def mailbox(self) -> Mailbox: ...

    #: requests naming another resource get no reply (openmodule's resource filter); "": any resource.
    @property
    def resource(self) -> str: ...

    #: serves a call on the plugin's worker (traced when sentry is on).
    handle: Callable[[Call], None]

    def filters_apply(self, channel: str, type: str) -> bool: ...

    def filters_for(self, channel: str, type: str) -> list[RPCFilter]: ...

    def reply_invalid(self, channel: str, type: str, rpc_id: UUID | None, error: BaseException) -> str: ...


class Handler(NamedTuple):
    server: RPCServing
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


class _Gated(NamedTuple):
    """The handlers of one request class whose filters on a (channel, type) the intake applies itself."""

    handlers: tuple[Handler, ...]
    gates: GateIndex[Handler]


class _Shared(NamedTuple):
    """A (channel, type) several plugins serve (each with one handler).

    When every handler is keyed by the same request field, the intake routes each request by that field's
    value, as sent, to the handlers keyed by it (usually one): no fan-out. Otherwise a request goes to every
    handler, and each plugin's worker decides (its key, its resource and its filters) whether it answers, as
    that many standalone services would; but the intake leaves out the plugins it can tell will not answer
    (see :meth:`pick`): those whose resource the request does not name, and those whose filters on the
    (channel, type) are all gateway filters that the request's gateway does not pass (see
    :mod:`~.gates`).
    """

    handlers: tuple[Handler, ...]
    #: the field (as sent) every handler is keyed by; None: fan out.
    wire_key: str | None
    by_value: dict[str, tuple[Handler, ...]]
    #: keyed: takes the requests that name none of the values. It answers an invalid one with
    #: ``validation_error`` (once, not once per plugin) and drops a valid one, as every standalone service
    #: would (the caller uses the first reply anyway).
    first: tuple[Handler]
    #: fanned out: the handlers whose worker applies the filters (plugin code), or that have none.
    worker_filtered: tuple[Handler, ...] = ()
    #: fanned out: the handlers whose filters the intake applies, by request class.
    gated: tuple[_Gated, ...] = ()
    #: fanned out: whether a handler's plugin has a resource (else no request's resource leaves one out).
    resources: bool = False

    @classmethod
    def of(cls, channel: str, rpc_type: str, handlers: tuple[Handler, ...]) -> _Shared:
        wire_keys = {handler.wire_key for handler in handlers}
        wire_key = wire_keys.pop() if len(wire_keys) == 1 else None
        by_value: dict[str, tuple[Handler, ...]] = {}
        if wire_key is not None:
            for handler in handlers:
                assert handler.value is not None
                by_value[handler.value] = (*by_value.get(handler.value, ()), handler)
            return cls(handlers, wire_key, by_value, (handlers[0],))
        worker_filtered: list[Handler] = []
        gated: dict[type[BaseModel], list[tuple[Handler, tuple[GatewayFilter, ...]]]] = {}
        for handler in handlers:
            gates = intake_gates(handler.request_class, handler.server.filters_for(channel, rpc_type))
            if gates is None:
                worker_filtered.append(handler)
            else:
                gated.setdefault(handler.request_class, []).append((handler, gates))
        return cls(handlers, None, by_value, (handlers[0],), tuple(worker_filtered),
                   tuple(_Gated(tuple(handler for handler, _ in group), GateIndex(group)) for group in gated.values()),
                   any(handler.server.resource for handler in handlers))

    def pick(self, message: RPCRequest) -> tuple[Handler, ...] | list[Handler]:
        """The handlers to bring ``message`` to (on the intake: no plugin code runs here)."""
        if self.wire_key is not None:
            request = message.request
            value = request.get(self.wire_key) if isinstance(request, dict) else None
            return self.by_value.get(value, self.first) if isinstance(value, str) else self.first
        resource = message.resource if self.resources else None
        if not self.gated and not resource:
            return self.handlers
        gateway = message.request.get("gateway") if message.request is not None else None
        if not isinstance(gateway, dict):
            gateway = None
        if resource:
            return self._pick_for(resource, gateway)
        picked = list(self.worker_filtered)
        for group in self.gated:
            # A request none of a group wants still goes to one of them, which validates it and answers
            # validation_error if it is invalid (as each of them would), or drops it.
            picked += (gateway is not None and group.gates.passing(gateway)) or group.handlers[:1]
        return picked

    def _pick_for(self, resource: str, gateway: dict[str, Any] | None) -> list[Handler]:
        """:meth:`pick` for a request naming a resource: only the plugins of that resource (or of none)."""
        picked = [handler for handler in self.worker_filtered if _serves_resource(handler, resource)]
        for group in self.gated:
            passed = group.gates.passing(gateway) if gateway is not None else ()
            chosen = [handler for handler in passed if _serves_resource(handler, resource)]
            picked += chosen or [handler for handler in group.handlers if _serves_resource(handler, resource)][:1]
        return picked


def _serves_resource(handler: Handler, resource: str | None) -> bool:
    """The worker's resource check (:meth:`~.server.PluginRPCServer.serve`), before anything else."""
    return not resource or not handler.server.resource or handler.server.resource == resource


def validator_of(model_class: type[BaseModel]) -> Callable[[Any], BaseModel]:
    if has_own_model_validate(model_class):
        return model_class.model_validate

    def validate(data: Any) -> BaseModel:
        # Looked up per call: pydantic replaces the validator when a model is rebuilt.
        return model_class.__pydantic_validator__.validate_python(data)  # type: ignore[no-any-return]

    return validate


#: one request on its way to the owning plugin's worker: (channel, envelope, handler registration).
Call = tuple[str, RPCRequest, Handler]


class RPCRouter:
    """Routes every RPC request the host receives to the plugins that serve its (channel, type).

    How a channel's requests reach the plugins depends on how many serve it:

    - **one plugin** (the common case): the intake passes each request on undecoded, straight into that
      plugin's mailbox; its worker validates the envelope from the JSON bytes in one pydantic pass, finds the
      handler and serves the call. The intake thread does no per-request work beyond reading the frames.
    - **several plugins**: the intake passes the requests of a batch on undecoded to the router (on the intake
      thread, as the route's "mailbox"), which validates each envelope from the JSON bytes, picks the plugins
      to serve it (see :class:`_Shared`) and gives each plugin its share of the batch with one offer.

    Either way the outcome is the same: each plugin picked serves the call on its worker; an invalid envelope
    gets a ``validation_error`` from every plugin on the channel, an unknown type no reply.
    """

    def __init__(self, intake: Intake, log: logging.Logger) -> None:
        self._intake = intake
        self._log = log
        self._handlers: dict[tuple[str, str], Handler | _Shared] = {}
        #: each served channel's route, and the only plugin serving it (None when several do).
        self._routes: dict[str, tuple[Route, RPCServing | None]] = {}
        self._lock = threading.Lock()
        self._unknown_lock = threading.Lock()
        #: one line per channel per 5 s (the types are the sender's: any number of them).
        self._unknown_log = KeyedLogThrottle(5.0)
        #: requests for a (channel, type) nobody serves: no reply, as openmodule.
        self.unknown = 0
        self._crowded: list[Mailbox] = []

    def register(self, channel: str, type: str, handler: Handler) -> None:
        """Serve (channel, type) with ``handler`` too. A plugin serves a (channel, type) once: its second
        registration raises ``ValueError``."""
        with self._lock:
            key = (channel, type)
            handlers = _handlers_of(self._handlers.get(key))
            for other in handlers:
                if other.server is handler.server:
                    raise RegistrationError(handler.server.plugin, f"RPC {channel}/{type} is already served by "
                                            f"plugin {other.describe()}; a plugin registers a (channel, type) once")
            self._handlers = {**self._handlers, key: _entry(key, (*handlers, handler))}
            self._update_route(channel)

    def unregister_all(self, server: RPCServing) -> None:
        """Remove ``server``'s handlers; the other plugins on its channels keep serving."""
        with self._lock:
            table: dict[tuple[str, str], Handler | _Shared] = {}
            channels = set()
            for key, entry in self._handlers.items():
                handlers = _handlers_of(entry)
                kept = tuple(handler for handler in handlers if handler.server is not server)
                if len(kept) < len(handlers):
                    channels.add(key[0])
                if kept:
                    table[key] = entry if len(kept) == len(handlers) else _entry(key, kept)
            self._handlers = table
            for channel in channels:
                self._update_route(channel)

    def filters_changed(self, server: RPCServing) -> None:
        """``server`` added a filter: route its shared (channel, type)s' requests by its filters as they are now."""
        with self._lock:
            self._handlers = {key: _entry(key, _handlers_of(entry))
                              if isinstance(entry, _Shared) and any(h.server is server for h in entry.handlers)
                              else entry for key, entry in self._handlers.items()}

    def warn_unfiltered(self) -> list[str]:
        """Log (WARNING) each (channel, type) on which several plugins would all answer every request they
        get: unkeyed (or keyed by the same value) and without a filter that applies. Returns the lines.

        Allowed, as several openmodule services may do it (the caller takes the first reply), but usually a
        forgotten filter. The host calls this once, when every plugin has registered its handlers.
        """
        lines = []
        for (channel, type), entry in sorted(self._handlers.items()):
            groups: dict[tuple[str | None, str | None], list[Handler]] = {}
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

        # The intake passes the requests on undecoded, and the envelope is validated from the JSON bytes in
        # one pydantic pass: 1.9 us instead of 2.8 for orjson and the dict's validation, per request on the
        # intake. One that does not validate is decoded as the intake would have, and goes the decoded way
        # (answered or counted there, exactly as before: tests/test_rpc_routes.py).
        topic, drops = request_topic(channel).encode(), self._intake.drops

        def on_raw(raw: bytes) -> list[Call]:
            try:
                message: RPCRequest = RPCRequest.__pydantic_validator__.validate_json(raw)
            except Exception:  # found again (answered or counted) the decoded way
                body = decoded_as_the_intake(topic, raw, drops)
                return [] if body is None else on_request(body)
            return self._calls_for(channel, message)

        return Route(type=None, post=lambda body: self.offer_many([(on_request, body)]), mailbox=self,
                     deliver=on_request, deliver_raw=on_raw)

    def _sole_route(self, channel: str, server: RPCServing) -> Route:
        """Requests go to ``server``'s worker as they come; it reads the envelope (see the class)."""
        topic = request_topic(channel).encode()

        def serve_decoded(body: dict[str, Any]) -> None:
            for call in self._on_request(channel, body):
                self._serve_here(call, server)

        def serve(message: RPCRequest) -> bool:
            entry = self._handlers.get((channel, message.type))
            if isinstance(entry, Handler):  # the usual case, without building a list of calls
                self._serve_here((channel, message, entry), server)
                return True
            for call in self._calls_for(channel, message):
                self._serve_here(call, server)
            return True

        # an envelope that does not validate is found and answered exactly as on the decoded way
        serve_raw = raw_or_decoded(topic, RPCRequest, serve, serve_decoded, self._intake.drops)

        return Route(type=None, post=lambda body: server.mailbox.offer((serve_decoded, body)),
                     mailbox=server.mailbox, deliver=serve_decoded, deliver_raw=serve_raw)

    @staticmethod
    def _serve_here(call: Call, worker_of: RPCServing) -> None:
        """On ``worker_of``'s worker: serve the call, or pass it on if another plugin took the type since."""
        server = call[2].server
        if server is worker_of:
            server.handle(call)
        else:
            server.mailbox.offer((server.handle, call))

    def _servers_of(self, channel: str) -> list[RPCServing]:
        servers: dict[int, RPCServing] = {}
        for (handler_channel, _), entry in self._handlers.items():
            if handler_channel == channel:
                for handler in _handlers_of(entry):
                    servers.setdefault(id(handler.server), handler.server)
        return list(servers.values())

    def offer_many(self, items: list[tuple[Callable[[Any], list[Call]], Any]]) -> int:
        """On the intake thread, once per batch: route each request, then give each plugin its share at once."""
        calls: dict[RPCServing, list[tuple[Callable[[Any], Any], Any]]] = {}
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
        crowded = []
        for server, queued in calls.items():
            server.mailbox.offer_many(queued)
            if server.mailbox.crowded():
                crowded.append(server.mailbox)
        self._crowded = crowded
        return len(items)

    def crowded(self) -> bool:
        """Whether a plugin's mailbox that the last :meth:`offer_many` left crowded still is (intake thread only)."""
        return any(mailbox.crowded() for mailbox in self._crowded)

    def _on_request(self, channel: str, body: dict[str, Any]) -> list[Call]:
        """Read the envelope and find the plugins to serve it (none: an empty list). Any thread."""
        try:
            # What model_validate does, without its Python wrapper (0.5 us per request of a shared channel)
            message: RPCRequest = RPCRequest.__pydantic_validator__.validate_python(body)
        except Exception as error:
            # Every standalone server on the channel would answer this; so does every plugin serving it.
            for server in self._servers_of(channel):
                server.reply_invalid(channel, "unknown", None, error)
            return []
        return self._calls_for(channel, message)

    def _calls_for(self, channel: str, message: RPCRequest) -> list[Call]:
        entry = self._handlers.get((channel, message.type))
        if isinstance(entry, Handler):
            return [(channel, message, entry)]
        if entry is not None:
            return [(channel, message, handler) for handler in entry.pick(message)]
        with self._unknown_lock:  # counted by the intake thread and by workers
            self.unknown += 1
        self._unknown_log.log(self._log, logging.WARNING, channel, "no handler found for %s:%s", channel,
                              message.type)
        return []


def _handlers_of(entry: Handler | _Shared | None) -> tuple[Handler, ...]:
    if entry is None:
        return ()
    return (entry,) if isinstance(entry, Handler) else entry.handlers


def _entry(key: tuple[str, str], handlers: tuple[Handler, ...]) -> Handler | _Shared:
    """What serves (channel, type) ``key`` with these handlers (at least one)."""
    return handlers[0] if len(handlers) == 1 else _Shared.of(*key, handlers)
