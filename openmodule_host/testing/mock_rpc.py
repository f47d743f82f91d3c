"""Scripted RPC answers with openmodule-test 18.5.0's ``MockRPCClient`` / ``MockRPCEntry`` semantics.

Scripts are keyed by ``(channel, type)``, looked up in openmodule-test's order:

- ``callbacks``: ``callback(request, None)`` runs on a thread of its own; what it returns (a model or a
  dict) is the answer, an exception it raises answers ``handler_error``. A callback that sleeps is a
  delayed answer, one that sleeps past the caller's timeout a timeout.
- ``immediate_callbacks``: ``callback(request, None)`` runs at once, in the caller's call.
- ``responses``: a fixed answer (a model or a dict).
- anything else is never answered: the call times out (after ``default_timeout``, 1 s as in openmodule-test).

One addition: an answer (a response, or what a callback returns) that is an exception class or instance
answers with the error the caller should see: :class:`~openmodule_hookspecs.ServerValidationError` as
``validation_error``, ``ServerFilterError`` as ``filter_error``, ``RPCServerError`` as ``error``,
``RPCTimeoutError`` (or a builtin ``TimeoutError``) by no answer at all, any other as ``handler_error``.

Used on its own (``rpc``/``rpc_non_blocking`` as the code under test calls them) or given to
:class:`~openmodule_host.testing.FakeCore`, where it answers the calls the plugin makes through its real
``core.rpc_client``.
"""

from __future__ import annotations

import threading
import time
import warnings
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from openmodule_hookspecs import (
    OpenModuleModel,
    RPCCancelError,
    RPCErrorStatus,
    RPCServerError,
    RPCTimeoutError,
    ServerFilterError,
    ServerValidationError,
)
from pydantic import BaseModel

from ..rpc.client import RPCErrorNames, _parse, _response_class

__all__ = ["MockRPCClient", "MockRPCEntry", "RPCCallback", "WireRequest"]

Res = TypeVar("Res", bound=BaseModel)

#: a scripted answer: ``callback(request, None)`` (openmodule-test passes None where a server gets the envelope).
RPCCallback = Callable[[Any, None], Any]
#: what a script answers: the ``response`` of the reply (``status`` included), or None for no reply.
Reply = dict[str, Any] | None

_ERROR_STATUSES: tuple[tuple[type[BaseException], RPCErrorStatus], ...] = (
    (ServerValidationError, RPCErrorStatus.validation_error),
    (ServerFilterError, RPCErrorStatus.filter_error),
    (RPCServerError, RPCErrorStatus.error),
)


def reply_for(answer: Any) -> Reply:
    """The reply ``response`` for a script's answer: a model or dict answers ``ok``; an exception (class or
    instance) answers the status the caller maps back to it, a timeout error nothing."""
    if isinstance(answer, type) and issubclass(answer, BaseException):
        answer = answer()
    if isinstance(answer, BaseException):
        if isinstance(answer, TimeoutError):
            return None
        for error_class, status in _ERROR_STATUSES:
            if isinstance(answer, error_class):
                text = {"error": str(answer)} if status is RPCErrorStatus.error else {"exception": str(answer)}
                return {"status": status.value, **text}
        return {"status": RPCErrorStatus.handler_error.value, "exception": str(answer)}
    if isinstance(answer, OpenModuleModel):
        data = answer.model_dump()
    elif isinstance(answer, BaseModel):
        data = answer.model_dump(by_alias=True)
    elif isinstance(answer, dict) or answer is None:
        data = dict(answer or {})
    else:
        return {"status": RPCErrorStatus.handler_error.value,
                "exception": f"the script answered {answer!r}, not a model, a dict or an exception"}
    return {"status": "ok", **data}


class WireRequest(dict[str, Any]):
    """A request as it went over the wire (a dict), readable as attributes too (``request.plate``), as the models
    openmodule-test's callbacks usually get: what a script sees of a :class:`FakeCore` plugin's call."""

    def __getattr__(self, name: str) -> Any:
        try:
            value = self[name]
        except KeyError:
            raise AttributeError(f"the request has no field {name!r} (it has {sorted(self)})") from None
        return WireRequest(value) if isinstance(value, dict) else value


def _called(callback: RPCCallback, request: Any) -> Reply:
    """Run a callback as openmodule-test does: what it raises answers ``handler_error`` (or its own status)."""
    try:
        answer = callback(request, None)
    except Exception as error:
        return reply_for(error)
    return reply_for(answer)


class MockRPCEntry:
    """A scripted call in flight (openmodule-test's ``MockRPCEntry``; the ``RPCEntry`` of ``rpc_non_blocking``).

    A callback runs when :meth:`result` is first called, on a thread of its own, as in openmodule-test.
    """

    def __init__(self, channel: str, type: str, timeout: float, reply: Reply = None,
                 callback: Callable[[], Reply] | None = None, answered: bool = False) -> None:
        self.channel = channel
        self.type = type
        self.timeout = timeout
        self.timestamp = time.monotonic()
        self.response: Reply = reply
        self.cancelled = False
        self._callback = callback
        self._ready = threading.Event()
        if answered and reply is not None:
            self._ready.set()

    def _run_callback(self, callback: Callable[[], Reply]) -> None:
        self.response = callback()
        if self.response is not None:
            self._ready.set()

    def done(self) -> bool:
        return self.response is not None

    def cancel(self) -> None:
        self.cancelled = True
        self._ready.set()

    def result(self, response_class: type[Res] | None = None, timeout: float | None = None, *,
               response_type: type[Res] | None = None) -> Res:
        """The answer as ``response_class`` (``response_type``: openmodule's name), or the error it stands for;
        ``RPCTimeoutError`` when none came within the timeout given at sending (not extendable, as there)."""
        response_class = _response_class(response_class, response_type)
        if timeout is not None and timeout > self.timeout:
            warnings.warn("the timeout of an RPC cannot be extended after sending; using the initial one",
                          stacklevel=2)
        if self._callback is not None:
            callback, self._callback = self._callback, None
            threading.Thread(target=self._run_callback, args=(callback,), name=f"mock-rpc-{self.channel}-{self.type}",
                             daemon=True).start()
        limit = min(timeout or self.timeout, self.timeout)
        if not self._ready.wait(max(0.0, self.timestamp + limit - time.monotonic())):
            raise RPCTimeoutError(f"no reply to RPC {self.channel}/{self.type} within {limit:g} s (not scripted, "
                                  "or the script did not answer in time)")
        if self.cancelled:
            raise RPCCancelError(f"RPC {self.channel}/{self.type} was cancelled")
        return _parse(self.response, response_class)


class MockRPCClient(RPCErrorNames):
    """Scripted RPC answers per ``(channel, type)`` (openmodule-test's ``MockRPCClient``, same arguments).

    ``last_request[(channel, type)]`` is the latest request: as the code passed it when called directly, as
    it went over the wire (a dict that reads as attributes too, :class:`WireRequest`) when it answers a
    :class:`~openmodule_host.testing.FakeCore` plugin's calls; the callbacks get the same.
    The scripts are plain dicts: change them between calls as openmodule-test allows.
    """

    def __init__(
        self,
        callbacks: Mapping[tuple[str, str], RPCCallback] | None = None,
        responses: Mapping[tuple[str, str], Any] | None = None,
        immediate_callbacks: Mapping[tuple[str, str], RPCCallback] | None = None,
        default_timeout: float = 1.0,
    ) -> None:
        self.callbacks: dict[tuple[str, str], RPCCallback] = dict(callbacks or {})
        self.responses: dict[tuple[str, str], Any] = dict(responses or {})
        self.immediate_callbacks: dict[tuple[str, str], RPCCallback] = dict(immediate_callbacks or {})
        self.last_request: dict[tuple[str, str], Any] = {}
        self.default_timeout = default_timeout

    def scripts(self, channel: str, type: str) -> bool:
        """Whether ``(channel, type)`` has a script."""
        key = (channel, type)
        return key in self.callbacks or key in self.immediate_callbacks or key in self.responses

    def answer(self, channel: str, type: str, request: Any, respond: Callable[[Reply], None]) -> bool:
        """Answer one call by its script: ``respond(reply)`` now, or from a thread for a callback (not at all
        when there is nothing to answer). Returns whether it is scripted. Records ``last_request``. A dict
        request reaches the script (and ``last_request``) as a :class:`WireRequest`."""
        key = (channel, type)
        if isinstance(request, dict):
            request = WireRequest(request)
        self.last_request[key] = request
        if key in self.callbacks:
            callback = self.callbacks[key]

            def run() -> None:
                reply = _called(callback, request)
                if reply is not None:
                    respond(reply)

            threading.Thread(target=run, name=f"mock-rpc-{channel}-{type}", daemon=True).start()
            return True
        if key in self.immediate_callbacks:
            reply = _called(self.immediate_callbacks[key], request)
        elif key in self.responses:
            reply = reply_for(self.responses[key])
        else:
            return False
        if reply is not None:
            respond(reply)
        return True

    def rpc_non_blocking(self, channel: str, type: str, request: BaseModel | dict[str, Any],
                         timeout: float | None = None) -> MockRPCEntry:
        key = (channel, type)
        self.last_request[key] = request
        timeout = self.default_timeout if timeout is None else timeout
        if key in self.callbacks:
            callback = self.callbacks[key]
            return MockRPCEntry(channel, type, timeout, callback=lambda: _called(callback, request))
        if key in self.immediate_callbacks:
            return MockRPCEntry(channel, type, timeout, _called(self.immediate_callbacks[key], request), answered=True)
        if key in self.responses:
            return MockRPCEntry(channel, type, timeout, reply_for(self.responses[key]), answered=True)
        return MockRPCEntry(channel, type, timeout)

    def rpc(self, channel: str, type: str, request: BaseModel | dict[str, Any], response_class: type[Res] | None = None,
            timeout: float | None = None, *, response_type: type[Res] | None = None) -> Res:
        response_class = _response_class(response_class, response_type)
        return self.rpc_non_blocking(channel, type, request, timeout).result(response_class, timeout)
