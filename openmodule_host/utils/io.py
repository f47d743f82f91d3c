"""Following IO pins (openmodule's ``IoListener``, ``utils/io.py``, and ``models/io.py``).

``IoListener(core.messages)`` reads every message on the ``io`` topic (whatever its ``type``, which is the IO
kind: ``input``, ``output``, ...) and keeps the last :class:`IoState` of every pin (of 10,000 at most: see
:mod:`.bounded_states`). Callbacks registered for a
pin (by name) or a gateway (by gate) are called with the pin's state on a rising edge (``value=1, edge=1``),
a falling edge (``value=0, edge=1``), any edge (``edge=1``) or no edge (``edge=0``), optionally only for one IO
type.

The edge a message counts with is openmodule's: the first message of a pin, a message whose value or
``inverted`` differs from the pin's state, and a message with ``edge=1`` count as an edge (and update the
state, with ``physical`` recomputed from ``value`` and ``inverted``); any other message keeps its own
``edge`` and changes nothing, not even the pin's timestamp. So a pin counts as valid for 5 s after its last
*edge*, as in openmodule.

A callback that raises does not keep the others from the message; once they all ran, the first error is
raised again, so that the host counts the message as a handler error of the plugin and logs it throttled
(not one traceback per callback per message).

It needs its messages in order: in the host, a plugin's handlers run one at a time on its worker, in
arrival order, so it can be used as it is.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from openmodule_hookspecs import Datetime, Direction, Gateway, OpenModuleModel, ZMQMessage, utcnow

from .bounded_states import BoundedStates
from .callbacks import run_all

__all__ = ["IO_TOPIC", "IoEdge", "IoListener", "IoMessage", "IoState"]

IO_TOPIC = "io"
_NEVER = datetime(1970, 1, 1)


class IoMessage(ZMQMessage):
    """A pin's value, on topic ``io``; ``type`` is the IO kind (``input``, ``output``, ...)."""

    gateway: Gateway
    pin: str
    value: int
    inverted: bool = False
    physical: int | None = None
    edge: int  # 1: the value changed, 0: the same value again
    pin_number: int | None = None
    pin_label: str | None = None
    meta: dict[str, Any] = {}


class IoState(OpenModuleModel):
    """The last known state of one pin."""

    gateway: Gateway
    type: str
    pin: str
    value: int
    inverted: bool
    physical: int
    last_timestamp: Datetime


class IoEdge(StrEnum):
    """What a listener waits for."""

    rising = "rising"  # value=1, edge=1
    falling = "falling"  # value=0, edge=1
    any = "any"  # edge=1
    none = "none"  # edge=0


IoCallback = Callable[[IoState], Any]


@dataclass(frozen=True)
class _Listener:
    edge: IoEdge
    listen_to: str | Gateway
    callback: IoCallback
    io_type: str | None

    def matches(self, message: IoMessage) -> bool:
        if isinstance(self.listen_to, str):
            if message.pin != self.listen_to:
                return False
        elif message.gateway.gate != self.listen_to.gate:
            return False
        if self.io_type is not None and message.type != self.io_type:
            return False
        if self.edge is IoEdge.rising:
            return message.edge == 1 and message.value == 1
        if self.edge is IoEdge.falling:
            return message.edge == 1 and message.value == 0
        if self.edge is IoEdge.any:
            return message.edge == 1
        return message.edge == 0


def _unknown_state() -> IoState:
    return IoState(pin="", gateway=Gateway(gate="", direction=Direction.UNKNOWN), type="", value=0, physical=0,
                   inverted=False, last_timestamp=_NEVER)


class IoListener:
    """The last state of every pin from the ``io`` topic, and callbacks on edges."""

    def __init__(self, dispatcher: Any) -> None:
        self.log = logging.getLogger(self.__class__.__name__)
        #: the last state of each pin, by pin name (bounded: see :mod:`.bounded_states`)
        self.current_states: BoundedStates[str, IoState] = BoundedStates("IO pins", self.log)
        self.listeners: list[_Listener] = []
        dispatcher.register_handler(IO_TOPIC, IoMessage, self._on_io_message, match_type=False)

    # -- listeners -------------------------------------------------------------------------------------

    def add_listener(self, edge: IoEdge, listen_to: str | Gateway, callback: IoCallback,
                     io_type: str | None = None) -> None:
        """Call ``callback(state)`` when ``listen_to`` (a pin name, or a :class:`Gateway`: any pin of its
        gate) sees ``edge``; with ``io_type``, only for messages of that IO type."""
        if not isinstance(listen_to, str | Gateway):
            raise TypeError(f"listen to a pin name or a Gateway, not {type(listen_to).__name__}")
        self.listeners.append(_Listener(IoEdge(edge), listen_to, callback, io_type))

    def add_listener_edge_rising(self, listen_to: str | Gateway, callback: IoCallback,
                                 io_type: str | None = None) -> None:
        """The value went from 0 to 1."""
        self.add_listener(IoEdge.rising, listen_to, callback, io_type)

    def add_listener_edge_falling(self, listen_to: str | Gateway, callback: IoCallback,
                                  io_type: str | None = None) -> None:
        """The value went from 1 to 0."""
        self.add_listener(IoEdge.falling, listen_to, callback, io_type)

    def add_listener_edge_any(self, listen_to: str | Gateway, callback: IoCallback,
                              io_type: str | None = None) -> None:
        """The value changed."""
        self.add_listener(IoEdge.any, listen_to, callback, io_type)

    def add_listener_edge_none(self, listen_to: str | Gateway, callback: IoCallback,
                               io_type: str | None = None) -> None:
        """A message that changed nothing."""
        self.add_listener(IoEdge.none, listen_to, callback, io_type)

    # -- state -----------------------------------------------------------------------------------------

    def is_pin_valid(self, pin: str, timeout: float = 5) -> bool:
        """The pin had an edge in the last ``timeout`` seconds."""
        state = self.current_states.get(pin)
        return state is not None and state.last_timestamp > utcnow() - timedelta(seconds=timeout)

    def get_pin_state(self, pin: str) -> IoState:
        """The pin's state; a state of zeros (pin ``""``, timestamp 1970) for a pin never seen."""
        return self.current_states.get(pin) or _unknown_state()

    def is_gateway_valid(self, gateway: Gateway, timeout: float = 5) -> bool:
        """Some pin of the gateway (gate and direction) had an edge in the last ``timeout`` seconds."""
        since = utcnow() - timedelta(seconds=timeout)
        return any(state.gateway == gateway and state.last_timestamp > since
                   for state in self.current_states.values())

    def get_gateway_states(self, gateway: Gateway) -> list[IoState]:
        """The states of the gateway's pins; one state of zeros when none was seen."""
        return [state for state in self.current_states.values() if state.gateway == gateway] or [_unknown_state()]

    # -- messages --------------------------------------------------------------------------------------

    def _observe(self, message: IoMessage) -> None:
        """Classify the message's edge (see the module docstring) and update the pin's state."""
        state = self.current_states.get(message.pin)
        if state is not None and message.edge != 1 and state.value == message.value \
                and state.inverted == message.inverted:
            return
        message.physical = 1 - message.value if message.inverted else message.value
        message.edge = 1
        if state is None:
            self.current_states[message.pin] = IoState(
                pin=message.pin, gateway=message.gateway, type=message.type, value=message.value,
                physical=message.physical, inverted=message.inverted, last_timestamp=message.timestamp)
            return
        state.value = message.value
        state.physical = message.physical
        state.inverted = message.inverted
        state.last_timestamp = message.timestamp

    def _on_io_message(self, message: IoMessage) -> None:
        self._observe(message)
        run_all([listener.callback for listener in self.listeners if listener.matches(message)],
                self.current_states[message.pin])
