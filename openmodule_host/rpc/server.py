"""Serving RPC requests on a plugin's worker: ``core.rpc_server``, each plugin's view of the host's RPC server.

The :class:`~.routing.RPCRouter` brings each request to the plugins that serve its (channel, type); each
plugin's :class:`PluginRPCServer` registers its handlers there and serves the call on the plugin's worker
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
from ..wire import Publisher
from .routing import Call, Handler, RPCRouter, validator_of

__all__ = ["PluginRPCServer", "RPCRouter"]


class _Filter(NamedTuple):
    check: RPCFilter
    channel: str | None
    type: str | None


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
        asking the others (see :class:`~.routing._Shared`).
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
        self._router.register(channel, type, Handler(
            self, request_class, response_class, handler, validator_of(request_class), key, value, wire_key))

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
        self._router.filters_changed(self)  # the intake applies some filters itself (see .gates)

    def filters_apply(self, channel: str, type: str) -> bool:
        """Whether a filter of this plugin applies to (channel, type)'s requests."""
        return any(entry.channel in (None, channel) and entry.type in (None, type) for entry in self._filters)

    def filters_for(self, channel: str, type: str) -> list[RPCFilter]:
        """The filters that apply to (channel, type)'s requests, in the order they were added."""
        return [entry.check for entry in self._filters
                if entry.channel in (None, channel) and entry.type in (None, type)]

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
            # orjson writes a UUID as str() does (lowercase, hyphenated), in a fifth of the time: 0.5 us per reply
            envelope["rpc_id"] = rpc_id
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
