"""Calling RPCs: the host's shared call table and each plugin's client (``core.rpc_client``).

Replies are matched by ``rpc_id`` only (as openmodule), on the intake thread, with a dictionary lookup.
Bookkeeping is O(1) per call: a call lives in the table of pending calls only while it is in flight or
its result is unread; once a second at most, that small table is swept for calls past their deadline.
The 5-minute memory of timed-out ids (to log late replies) is a time-ordered queue. Nothing scans every
recent call as openmodule 18.5.0 does (which makes its calls/s decay during a run), and nothing grows
with the number of calls made.

Nor with the number of channels ever called: a channel (its ``rpc-rep-<channel>`` subscription and
route) is released once it has had no call in flight and no call for ``channel_idle`` seconds, by one
sweeping thread; the next call opens it again (with a new connection check, as the first one).
"""

from __future__ import annotations

import logging
import os
import threading
import time
import typing
import warnings
from collections import deque
from typing import Any, TypeVar

from openmodule_hookspecs import (
    OpenModuleModel,
    RPCCancelError,
    RPCError,
    RPCErrorResult,
    RPCErrorStatus,
    RPCServerError,
    RPCTimeoutError,
    RPCValidationError,
    ServerFilterError,
    ServerHandlerError,
    ServerUnknownError,
    ServerValidationError,
    dumps,
    request_topic,
    response_topic,
)
from pydantic import BaseModel, ValidationError
from pydantic_core import InitErrorDetails, PydanticCustomError
from pydantic_core.core_schema import ErrorType

from ..budget import PublishBudget
from ..limits import LimitHits, Limits
from ..observability.sentry import add_trace_headers
from ..throttle import KeyedLogThrottle
from ..wire import Intake, Publisher, Route, wait_for_connection
from ..wire.listener import has_own_model_validate

__all__ = ["SWEEPER_STOP_TIMEOUT", "PluginRPCClient", "RPCCall", "RPCCalls", "RPCErrorNames"]

Res = TypeVar("Res", bound=BaseModel)

_LATE_REPLY_MEMORY = 300.0
_SWEEP_INTERVAL = 1.0
#: the longest :meth:`RPCCalls.close` waits for the channel sweeper thread (a stage of the host's stop).
SWEEPER_STOP_TIMEOUT = 1.0
#: idle channels are looked for this many times per ``channel_idle``: one expires within 1.25 periods.
_CHANNEL_SWEEPS_PER_IDLE = 4

_STATUS_ERRORS: dict[str, type[RPCError]] = {
    RPCErrorStatus.handler_error: ServerHandlerError,
    RPCErrorStatus.validation_error: ServerValidationError,
    RPCErrorStatus.filter_error: ServerFilterError,
}


#: the variant nibble of an RFC 4122 UUID (``10xx``) for any random hex digit.
_VARIANT = {digit: "89ab"[int(digit, 16) & 3] for digit in "0123456789abcdef"}
_IDS_PER_DRAW = 256
#: random (version 4) UUIDs as text, drawn 256 at a time (one ``os.urandom`` call instead of one per id).
_ids: list[str] = []
# A forked child must not send the ids its parent sends too: it draws its own.
os.register_at_fork(after_in_child=_ids.clear)


def _draw_ids() -> list[str]:
    text = os.urandom(16 * _IDS_PER_DRAW).hex()
    return [f"{text[i:i + 8]}-{text[i + 8:i + 12]}-4{text[i + 13:i + 16]}-{_VARIANT[text[i + 16]]}"
            f"{text[i + 17:i + 20]}-{text[i + 20:i + 32]}" for i in range(0, len(text), 32)]


def _uuid4() -> str:
    """A random (version 4) UUID as text, as ``str(uuid.uuid4())`` writes it, at a quarter of its cost (0.6 us
    against 2.5 us): the random bytes come from ``os.urandom`` 256 ids at a time (the system call was half
    of the cost), formatted together. ``list.pop`` is atomic: threads never get the same id."""
    while True:
        try:
            return _ids.pop()
        except IndexError:  # (another thread may have taken the ids just drawn: draw again)
            _ids.extend(_draw_ids())


class RPCCall:
    """One call in flight; ``rpc_non_blocking`` returns it (openmodule's ``RPCEntry``).

    Waiting uses a bare lock, held from sending until the reply (or a cancel) releases it: cheaper to
    create and to wake than a ``threading.Event`` (a condition and a lock), which counts at thousands of
    calls per second.
    """

    __slots__ = ("_arrived", "_calls", "_settled", "cancelled", "channel", "response", "rpc_id", "sent_at",
                 "timeout", "type")

    def __init__(
        self, calls: RPCCalls, rpc_id: str, channel: str, type: str, timeout: float, sent_at: float | None = None
    ) -> None:
        self._calls = calls
        self.rpc_id = rpc_id
        self.channel = channel
        self.type = type
        self.timeout = timeout
        self.sent_at = time.monotonic() if sent_at is None else sent_at
        self.response: Any = None
        self.cancelled = False
        self._settled = False  # a reply or a cancel arrived: only the first one counts
        self._arrived = threading.Lock()
        self._arrived.acquire()

    def _settle(self, response: Any, cancelled: bool = False) -> None:
        with self._calls.settle_lock:
            if self._settled:
                return
            self.response, self.cancelled = response, cancelled
            self._settled = True  # after the fields: a waiter that sees it set reads them without the lock
        self._arrived.release()

    def done(self) -> bool:
        return self.response is not None

    def cancel(self) -> None:
        self._settle(None, cancelled=True)
        self._calls.forget(self.rpc_id)

    def _wait(self, seconds: float) -> bool:
        if self._settled:
            return True
        if self._arrived.acquire(timeout=max(0.0, seconds)):
            self._arrived.release()  # later result() calls find it settled without waiting
            return True
        return self._settled

    def result(
        self, response_class: type[Res] | None = None, timeout: float | None = None, *,
        response_type: type[Res] | None = None,
    ) -> Res:
        """Wait for the reply (at most the timeout given at sending) and return it as ``response_class``
        (``response_type``: openmodule's name for it)."""
        response_class = _response_class(response_class, response_type)
        if timeout is not None and timeout > self.timeout:
            warnings.warn("the timeout of an RPC cannot be extended after sending; using the initial one",
                          stacklevel=2)
        limit = min(timeout or self.timeout, self.timeout)
        if not self._wait(self.sent_at + limit - time.monotonic()):
            self._calls.forget(self.rpc_id, timed_out=True)
            raise RPCTimeoutError(f"no reply to RPC {self.channel}/{self.type} within {limit:g} s")
        self._calls.forget(self.rpc_id)
        if self.cancelled:
            raise RPCCancelError(f"RPC {self.channel}/{self.type} was cancelled")
        return _parse(self.response, response_class)


def _response_class(response_class: type[Res] | None, response_type: type[Res] | None) -> type[Res]:
    """The response class given under either name (``response_type`` is openmodule's)."""
    if response_type is None:
        if response_class is None:
            raise TypeError("missing the response class: pass response_class (or response_type)")
        return response_class
    if response_class is not None:
        raise TypeError("pass response_class or response_type (the same argument in openmodule's spelling), "
                        "not both")
    return response_type


def _parse(response: Any, response_class: type[Res]) -> Res:
    try:
        if not isinstance(response, dict) or response.get("status", "ok") == "ok":
            if has_own_model_validate(response_class):
                return response_class.model_validate(response)
            parsed: Res = response_class.__pydantic_validator__.validate_python(response)
            return parsed
        error = RPCErrorResult.model_validate(response)
    except ValidationError as invalid:
        raise RPCValidationError.from_exception_data(title=invalid.title, line_errors=_line_errors(invalid)) from None
    if error.status is RPCErrorStatus.error:
        raise RPCServerError(error.error or "")
    raise _STATUS_ERRORS.get(error.status, ServerUnknownError)(error.exception or "")


#: the error types pydantic knows by name; any other is a validator's own ``PydanticCustomError``.
_KNOWN_ERROR_TYPES = frozenset(typing.get_args(ErrorType))


def _line_errors(invalid: ValidationError) -> list[InitErrorDetails]:
    """``invalid``'s errors as ``from_exception_data`` takes them again.

    It knows pydantic's own error types by name only: a custom one (a response validator raising
    ``PydanticCustomError``) would make it raise ``KeyError``, so such an error is passed as a
    ``PydanticCustomError`` carrying its already formatted message (and its context, unless the context
    would change that message).
    """
    lines: list[InitErrorDetails] = []
    for error in invalid.errors():
        line = InitErrorDetails(type=error["type"], loc=error["loc"], input=error["input"])
        ctx = error.get("ctx")
        if error["type"] not in _KNOWN_ERROR_TYPES:
            custom = PydanticCustomError(error["type"], error["msg"], ctx)
            line["type"] = custom if custom.message() == error["msg"] else PydanticCustomError(
                error["type"], error["msg"])
        elif ctx is not None:
            line["ctx"] = ctx
        lines.append(line)
    return lines


class _Channel:
    """A channel the host calls: its reply route, and what its expiry needs to know."""

    __slots__ = ("closed", "in_flight", "last_used", "opening", "request_topic", "route")

    def __init__(self, channel: str, route: Route, now: float) -> None:
        self.route = route
        self.request_topic = request_topic(channel)
        #: set (and dropped: an Event weighs 1 KB) once the connection check is over; None: open
        self.opening: threading.Event | None = threading.Event()
        self.in_flight = 0  # calls in the table of pending calls (in flight, or answered and unread)
        self.last_used = now  # the last call sent or finished
        self.closed = False  # expired (or the table closed): a call must open the channel again


class RPCCalls:
    """The host's table of calls in flight, shared by every plugin's client.

    ``channel_idle``: a channel with no call in flight, and none sent or finished for this many seconds,
    is released (unsubscribed).
    """

    def __init__(self, intake: Intake, publisher: Publisher, host_name: str, connect_timeout: float,
                 log: logging.Logger, channel_idle: float = 60.0, max_body_bytes: int = Limits.message_bytes) -> None:
        self._intake = intake
        #: a request above this size is refused (``max_message_bytes``: the other services drop such bodies).
        self.max_body_bytes = max_body_bytes
        self._publisher = publisher
        self._host_name = host_name
        self._connect_timeout = connect_timeout
        self._log = log
        #: late replies: one line per (sender, type) per 5 s.
        self._late_log = KeyedLogThrottle()
        self._lock = threading.Lock()
        #: guards each call's first-reply-wins settlement (a lock shared by all calls: held for a few bytecodes).
        self.settle_lock = threading.Lock()
        self._pending: dict[str, RPCCall] = {}
        self._next_sweep = 0.0
        # Ids of calls that timed out, remembered for 5 minutes to log late replies (answered calls need no memory).
        self._timed_out: set[str] = set()
        self._timed_out_order: deque[tuple[float, str]] = deque()
        self._channels: dict[str, _Channel] = {}
        self.channel_idle = channel_idle
        self._closed = threading.Event()
        self._sweeper: threading.Thread | None = None

    def open_channel(self, channel: str) -> _Channel:
        """Subscribe the channel's reply topic and run the connection check, before its first call (again
        after it expired)."""
        state = self._channels.get(channel)
        if state is not None and state.opening is None:  # every call after the first: no lock
            return state
        with self._lock:
            if self._closed.is_set():  # the host is stopping: no reply could arrive any more
                raise RPCCancelError(f"RPC {channel}: the host's RPC client is closed")
            state = self._channels.get(channel)
            first = state is None
            if first:
                # A "mailbox" for the intake: replies are handed to their calls once the intake has read its
                # batch, so waking the callers does not make them trade the GIL with the intake mid-batch.
                route = Route(type=None, post=self._on_reply, mailbox=self, deliver=self._on_reply)
                state = self._channels[channel] = _Channel(channel, route, time.monotonic())
                self._intake.add(response_topic(channel), route)
                if self._sweeper is None:
                    self._sweeper = threading.Thread(target=self._sweep_channels, name="omh-rpc-channels",
                                                     daemon=True)
                    self._sweeper.start()
        assert state is not None
        if first:
            try:
                wait_for_connection(self._intake, self._publisher, self._host_name, self._connect_timeout)
            finally:
                state.last_used = time.monotonic()  # idle from here: the check may take longer than channel_idle
                opening, state.opening = state.opening, None
                assert opening is not None
                opening.set()
        elif (opening := state.opening) is not None and not opening.wait(self._connect_timeout):
            raise RPCTimeoutError(f"RPC channel {channel} is not connected yet")
        return state

    @property
    def channels(self) -> int:
        """How many channels are open (subscribed)."""
        return len(self._channels)

    def _sweep_channels(self) -> None:
        """The sweeping thread: release idle channels, a few times per ``channel_idle``, until closed."""
        while not self._closed.wait(self.channel_idle / _CHANNEL_SWEEPS_PER_IDLE):
            try:
                self.release_idle_channels()
            except Exception:  # one sweep's trouble; the next sweep tries again
                self._late_log.log(self._log, logging.ERROR, ("channel sweep",), "releasing idle RPC channels failed",
                                   exc_info=True)

    def release_idle_channels(self, now: float | None = None) -> int:
        """Unsubscribe the channels with no call in flight and none for ``channel_idle`` s (before ``now``,
        if given); returns how many.

        O(open channels). A call that opened its channel just before it is released here finds it closed
        when it enters the table of pending calls, and opens it again before sending (see :meth:`send`).
        """
        clock = time.monotonic()
        limit = (clock if now is None else now) - self.channel_idle
        with self._lock:
            if clock >= self._next_sweep:  # unread calls past their deadline hold their channel until swept
                self._sweep(clock)
            idle = [(channel, state) for channel, state in self._channels.items()
                    if not state.in_flight and state.last_used <= limit and state.opening is None]
            for channel, state in idle:
                del self._channels[channel]
                state.closed = True
        for channel, state in idle:  # a channel opened again meanwhile has its own route: no gap
            self._intake.remove(response_topic(channel), state.route)
        return len(idle)

    def send(
        self, name: str, channel: str, type: str, request: dict[str, Any], timeout: float, *, trace: bool = False,
        budget: PublishBudget | None = None, hits: LimitHits | None = None,
    ) -> RPCCall:
        """Send a request; ``trace`` (sentry on) adds the current span's ``sentry-trace`` and ``baggage``.

        A request above ``max_body_bytes`` raises ``ValueError`` (counted in ``hits``), nothing sent.

        With the calling plugin's ``budget``: over it, this waits for it or raises :class:`RPCTimeoutError`
        at once (the request was not sent: waiting for a reply would be in vain). A request the full
        publish queue refused times out as one lost on the way would.
        """
        rpc_id = _uuid4()
        envelope: dict[str, Any] = {"timestamp": time.time(), "name": name, "type": type}
        if trace:
            add_trace_headers(envelope)
        envelope["rpc_id"] = rpc_id
        envelope["request"] = request
        body = dumps(envelope)
        if len(body) > self.max_body_bytes:
            if hits is not None:
                hits.hit("rpc_request")
            raise ValueError(f"RPC {channel}/{type} request is {len(body)} bytes, more than the limit of "
                             f"{self.max_body_bytes} (max_message_bytes): other services drop such bodies")
        if budget is not None and not budget.acquire():
            raise RPCTimeoutError(f"RPC {channel}/{type} not sent: plugin {budget.plugin}'s publish budget "
                                  f"({budget.rate:g} messages/s) is spent")
        now = time.monotonic()
        call = RPCCall(self, rpc_id, channel, type, timeout, now)
        while True:
            state = self.open_channel(channel)
            with self._lock:
                if state.closed:  # released since it was opened: open it again, so the reply is subscribed
                    continue
                if now >= self._next_sweep:
                    self._sweep(now)
                self._pending[rpc_id] = call
                state.in_flight += 1  # from here until the call leaves the table, the channel stays open
                state.last_used = now
                break
        if not self._publisher.send(state.request_topic, body) and budget is not None:
            budget.refused()
        return call

    def _sweep(self, now: float) -> None:
        """Once a second at most: drop the calls past their deadline whose result nobody read (answered or
        not), and forget timed-out ids older than 5 minutes. ``_pending`` holds only calls in flight or
        unread, so this stays small, and a call costs no bookkeeping beyond its own entry. Holds the lock."""
        self._next_sweep = now + _SWEEP_INTERVAL
        pending = self._pending
        for rpc_id in [rpc_id for rpc_id, call in pending.items() if call.sent_at + call.timeout <= now]:
            call = pending.pop(rpc_id)
            self._finished(call.channel, now)
            if not call._settled:
                self._remember_timeout(rpc_id, now)
        order, timed_out = self._timed_out_order, self._timed_out
        while order and order[0][0] <= now:
            timed_out.discard(order.popleft()[1])

    def _remember_timeout(self, rpc_id: str, now: float) -> None:
        """Keep a timed-out call's id for 5 minutes, to log a late reply. Holds the lock."""
        if rpc_id not in self._timed_out:
            self._timed_out.add(rpc_id)
            self._timed_out_order.append((now + _LATE_REPLY_MEMORY, rpc_id))

    def _finished(self, channel: str, now: float) -> None:
        """A call left the table of pending calls. Holds the lock."""
        state = self._channels.get(channel)
        if state is not None:  # (a channel with calls pending is never released, but close() empties all)
            state.in_flight -= 1
            state.last_used = now

    def forget(self, rpc_id: str, timed_out: bool = False) -> None:
        with self._lock:
            call = self._pending.pop(rpc_id, None)
            if call is not None:
                now = time.monotonic()
                self._finished(call.channel, now)
                if timed_out:
                    self._remember_timeout(rpc_id, now)
            elif timed_out:
                self._remember_timeout(rpc_id, time.monotonic())

    def offer_many(self, items: list[tuple[Any, dict[str, Any]]]) -> int:
        """On the intake thread, once per batch: hand each reply to its call. A reply that raises costs only
        itself (counted and logged by the intake's heartbeat); the batch's other replies still arrive."""
        for _, body in items:
            try:
                self._on_reply(body)
            except Exception as error:
                self._intake.heartbeat.failed("handling an RPC reply", error)
        return len(items)

    def crowded(self) -> bool:
        """Never: replies are handed over on the intake thread, nothing queues here."""
        return False

    def _on_reply(self, body: dict[str, Any]) -> None:
        """On the intake thread: hand the reply to its call."""
        rpc_id = body.get("rpc_id")
        if not isinstance(rpc_id, str):
            return
        with self._lock:
            call = self._pending.get(rpc_id)
            timed_out = rpc_id in self._timed_out
        if call is not None:
            call._settle(body.get("response"))
        elif timed_out:
            name, type_ = body.get("name"), body.get("type")
            self._late_log.log(self._log, logging.ERROR, ("late reply", str(name)[:100], str(type_)[:100]),
                               "Received response after timeout from %s, type: %s, id: %s", name, type_, rpc_id)

    @property
    def in_flight(self) -> int:
        return len(self._pending)

    def close(self) -> None:
        """Cancel the calls in flight and release the open channels: O(open channels), not of history."""
        self._closed.set()
        with self._lock:
            channels, self._channels = self._channels, {}
            calls, self._pending = list(self._pending.values()), {}
            for state in channels.values():
                state.closed = True
        for call in calls:  # callers still waiting get a CancelError instead of waiting for their timeout
            call._settle(None, cancelled=True)
        for channel, state in channels.items():
            self._intake.remove(response_topic(channel), state.route)
        if self._sweeper is not None and self._sweeper is not threading.current_thread():
            self._sweeper.join(SWEEPER_STOP_TIMEOUT)


class RPCErrorNames:
    """The RPC errors as attributes of a client (``core.rpc_client.TimeoutError``, ...), as openmodule's
    ``RPCClient`` has them: ported code catches them that way. Shared by every client a plugin may get."""

    Exception = RPCError
    TimeoutError = RPCTimeoutError
    CancelError = RPCCancelError
    ValidationError = RPCValidationError
    ServerHandlerError = ServerHandlerError
    ServerValidationError = ServerValidationError
    ServerFilterError = ServerFilterError
    RPCServerError = RPCServerError
    ServerUnknownError = ServerUnknownError


class PluginRPCClient(RPCErrorNames):
    """``core.rpc_client``: calls RPCs with this plugin's NAME as the sender."""

    def __init__(
        self, calls: RPCCalls, service_name: str, default_timeout: float = 3.0, *, tracing: bool = False,
        budget: PublishBudget | None = None, hits: LimitHits | None = None,
    ) -> None:
        self._calls = calls
        #: the plugin's limit counters (None for the host's own calls).
        self._hits = hits
        self._service_name = service_name
        self.default_timeout = default_timeout
        self._tracing = tracing
        #: the plugin's publish budget (None for the host's own calls).
        self._budget = budget

    def rpc_non_blocking(
        self, channel: str, type: str, request: BaseModel | dict[str, Any], timeout: float | None = None
    ) -> RPCCall:
        if not isinstance(channel, str) or not channel:
            raise TypeError(f"channel must be a non-empty string, got {channel!r}")
        if isinstance(request, OpenModuleModel):
            data = request.model_dump()  # by alias, without None: the fast path of the wire models
        elif isinstance(request, BaseModel):
            data = request.model_dump(by_alias=True, exclude_none=True)
        else:
            data = request
        if not isinstance(data, dict):
            raise TypeError(f"request must be a pydantic model or a dict, got {request.__class__.__name__}")
        return self._calls.send(
            self._service_name, channel, type, data, self.default_timeout if timeout is None else timeout,
            trace=self._tracing, budget=self._budget, hits=self._hits,
        )

    def rpc(
        self,
        channel: str,
        type: str,
        request: BaseModel | dict[str, Any],
        response_class: type[Res] | None = None,
        timeout: float | None = None,
        *,
        response_type: type[Res] | None = None,
    ) -> Res:
        """Call and wait for the reply as ``response_class`` (``response_type``: openmodule's name for it)."""
        response_class = _response_class(response_class, response_type)
        return self.rpc_non_blocking(channel, type, request, timeout).result(response_class)
