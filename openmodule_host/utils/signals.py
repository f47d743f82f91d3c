"""Following signals (openmodule's ``SignalListener``, ``utils/signal_listener.py``, and ``models/signals.py``).

``SignalListener(core.messages, core.rpc_client)`` reads every message on the ``signal`` topic (``type`` is the
signal type) and keeps each signal's value and additional data (of 10,000 signals at most: see
:mod:`.bounded_states`). Each message is classified against the value
before it, as openmodule does: a new true value is a rising edge, a new false value a falling edge (also the
first message of a signal when it is false), a true value with additional data a data change, anything else
no change. Listeners get a :class:`Signal` when their :class:`SignalFilterType` matches the change.

A value the listener has not seen is asked for over RPC ``signal``/``get_value`` (1 s timeout; no answer
counts as false); :meth:`SignalListener.trigger_signals` asks the signal service to send the listened-to
signals again (``signal``/``trigger_signals``).

A callback that raises does not keep the others from the message; once they all ran, the first error is raised
again, for the host to count and log (throttled) as a handler error of the plugin.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from openmodule_hookspecs import OpenModuleModel, RPCError, ZMQMessage

from ..throttle import KeyedLogThrottle
from .bounded_states import BoundedStates
from .callbacks import run_all

__all__ = [
    "SIGNAL_TOPIC",
    "ChangeType",
    "GetSignalValueRequest",
    "GetSignalValueResponse",
    "Signal",
    "SignalFilterType",
    "SignalListener",
    "SignalMessage",
    "SignalType",
    "TriggerSignalsRequest",
    "TriggerSignalsResponse",
    "classify_signal_change",
]

SIGNAL_TOPIC = "signal"


class SignalType(StrEnum):
    permanently_closed = "permanently_closed"
    shortterm_full = "shortterm_full"
    open = "open"
    present_raw = "present_raw"
    present_decision = "present_decision"
    traffic_light_green = "traffic_light_green"
    traffic_light_red = "traffic_light_red"
    area_full = "area_full"
    parkinglot_full = "parkinglot_full"
    custom = "custom"


class SignalMessage(ZMQMessage):
    """A signal's value, on topic ``signal``; ``type`` is a :class:`SignalType` or any other string."""

    signal: str
    type: SignalType | str
    gate: str | None = None
    parking_area_id: str | None = None
    value: bool
    additional_data: dict[str, Any] | None = None


class GetSignalValueRequest(OpenModuleModel):
    signal: str


class GetSignalValueResponse(OpenModuleModel):
    value: bool
    additional_data: dict[str, Any] | None = None


class TriggerSignalsRequest(OpenModuleModel):
    signals: list[str]  # the signals whose current value the service is to send again


class TriggerSignalsResponse(OpenModuleModel):
    success: bool


class ChangeType(StrEnum):
    rising_edge = "rising_edge"  # the value became true
    falling_edge = "falling_edge"  # the value became false
    data_change = "data_change"  # still true, with additional data
    none = "none"


class SignalFilterType(StrEnum):
    """What a listener waits for (openmodule's ``signal_listener.FilterType``)."""

    rising_edge = "rising_edge"
    falling_edge = "falling_edge"
    any_edge = "any_edge"  # rising or falling
    data_change = "data_change"  # rising edges and data changes
    any_change = "any_change"  # everything but no change
    any = "any"  # every message

    def matches_change(self, change_type: ChangeType) -> bool:
        return change_type in _MATCHES[self]


_MATCHES: dict[SignalFilterType, frozenset[ChangeType]] = {
    SignalFilterType.rising_edge: frozenset({ChangeType.rising_edge}),
    SignalFilterType.falling_edge: frozenset({ChangeType.falling_edge}),
    SignalFilterType.any_edge: frozenset({ChangeType.rising_edge, ChangeType.falling_edge}),
    SignalFilterType.data_change: frozenset({ChangeType.rising_edge, ChangeType.data_change}),
    SignalFilterType.any_change: frozenset(ChangeType) - {ChangeType.none},
    SignalFilterType.any: frozenset(ChangeType),
}


def classify_signal_change(previous: bool | None, value: bool, additional_data: dict[str, Any] | None) -> ChangeType:
    """The change a message with ``value`` makes to a signal whose value was ``previous`` (None: unknown)."""
    if previous != value:
        return ChangeType.rising_edge if value else ChangeType.falling_edge
    if value and additional_data:
        return ChangeType.data_change
    return ChangeType.none


@dataclass(frozen=True)
class Signal:
    """What a listener gets: the message's signal and how it changed."""

    signal: str
    type: SignalType | str
    value: bool
    additional_data: dict[str, Any] | None
    gate: str | None
    parking_area_id: str | None
    change_type: ChangeType

    @classmethod
    def from_message(cls, message: SignalMessage, change_type: ChangeType) -> Signal:
        return cls(message.signal, message.type, message.value, message.additional_data, message.gate,
                   message.parking_area_id, change_type)


SignalCallback = Callable[[Signal], Any]


@dataclass(frozen=True)
class _Listener:
    signal_name: str
    filter_type: SignalFilterType
    callback: SignalCallback
    tag: str | None


class SignalListener:
    """The value of every signal from the ``signal`` topic, and callbacks on changes."""

    def __init__(self, dispatcher: Any, rpc_client: Any) -> None:
        self.log = logging.getLogger(self.__class__.__name__)
        #: (value, additional data) of each signal, by name (bounded: see :mod:`.bounded_states`)
        self.current_states: BoundedStates[str, tuple[bool, dict[str, Any] | None]] = BoundedStates(
            "signals", self.log)
        self.listeners: list[_Listener] = []
        self._lock = threading.Lock()  # listeners may be added from any thread
        #: the RPC errors' lines: the first of a kind per 5 s with its traceback, then a count (a signal service
        #: that sends malformed replies, or none, costs a few lines, not a traceback per call).
        self._errors = KeyedLogThrottle()
        self.rpc_client = rpc_client
        dispatcher.register_handler(SIGNAL_TOPIC, SignalMessage, self._on_signal_message, match_type=False)

    def add_listener(self, signal_name: str, filter_type: SignalFilterType, callback: SignalCallback,
                     tag: str | None = None) -> None:
        """Call ``callback(signal)`` for ``signal_name``'s messages whose change matches ``filter_type``;
        ``tag`` groups listeners for :meth:`remove_listener` and :meth:`trigger_signals`."""
        with self._lock:
            self.listeners.append(_Listener(signal_name, SignalFilterType(filter_type), callback, tag))

    def remove_listener(self, tag: str | None = None) -> None:
        """Remove the listeners with ``tag``; without a tag, every listener."""
        with self._lock:
            self.listeners = [listener for listener in self.listeners if tag is not None and listener.tag != tag]

    def get_value(self, signal_name: str) -> bool:
        """The signal's value; asked for over RPC the first time (no answer: false)."""
        return self.get_value_and_additional_data(signal_name)[0]

    def get_value_and_additional_data(self, signal_name: str) -> tuple[bool, dict[str, Any] | None]:
        if signal_name not in self.current_states:
            try:
                response = self.rpc_client.rpc("signal", "get_value", GetSignalValueRequest(signal=signal_name),
                                               GetSignalValueResponse, timeout=1.0)
                self.current_states[signal_name] = (response.value, response.additional_data)
            except RPCError as error:
                self._errors.log(self.log, logging.ERROR, ("get_value", type(error).__name__),
                                 "Error while getting signal value. Assuming False.", exc_info=True)
                self.current_states[signal_name] = (False, None)
        return self.current_states[signal_name]

    def trigger_signals(self, tag: str | None = None, timeout: float = 3.0) -> bool:
        """Ask the signal service to send again the signals listened to (those of listeners with ``tag``);
        true when it could send them all."""
        with self._lock:
            names = sorted({listener.signal_name for listener in self.listeners if tag is None or listener.tag == tag})
        try:
            response = self.rpc_client.rpc("signal", "trigger_signals", TriggerSignalsRequest(signals=names),
                                           TriggerSignalsResponse, timeout)
        except RPCError as error:
            self._errors.log(self.log, logging.ERROR, ("trigger_signals", type(error).__name__),
                             "Error while triggering signals.", exc_info=True)
            return False
        if not response.success:
            self.log.error("Failed to trigger all registered signals.")
        return bool(response.success)

    def _on_signal_message(self, message: SignalMessage) -> None:
        previous = self.current_states.get(message.signal)
        self.current_states[message.signal] = (message.value, message.additional_data)
        change_type = classify_signal_change(previous[0] if previous else None, message.value,
                                             message.additional_data)
        with self._lock:
            listeners = [listener for listener in self.listeners
                         if listener.signal_name == message.signal and listener.filter_type.matches_change(change_type)]
        run_all([listener.callback for listener in listeners], Signal.from_message(message, change_type))
