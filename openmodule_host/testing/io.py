"""Simulated IO pins and signals for plugin tests (openmodule-test's ``IoSimulator`` and ``SignalSimulator``):
the ``io`` and ``signal`` messages an IO service sends, through an ``emit`` callback.

    simulator = IoSimulator(generate_example_states(), lambda message: om_client.publish("io", message))
    simulator.set_pin_high("gate_0_cloop")

    signals = SignalSimulator(lambda message: om_client.publish("signal", message))
    signals.add_signal(False, None, SignalType.area_full, parking_area_id="pa1")
    signals.set_signal("pa1-area_full", True)

On a fake core, ``signals.serve(fake.mock_rpc)`` answers the plugin's ``signal`` RPCs and
``lambda message: fake.send("signal", message)`` is the ``emit``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from openmodule_hookspecs import Direction, Gateway, RPCError

from ..utils.io import IoMessage, IoState
from ..utils.misc import utcnow
from ..utils.signals import (
    GetSignalValueRequest,
    GetSignalValueResponse,
    SignalMessage,
    SignalType,
    TriggerSignalsRequest,
    TriggerSignalsResponse,
)
from .mock_rpc import MockRPCClient

__all__ = ["IoSimulator", "SignalSimulator", "UnknownSignalError", "generate_example_states"]


def generate_example_states(count: int = 8) -> dict[str, IoState]:
    """``count`` low, not inverted pins, four per gateway ``gate_<n>`` (direction in for even n, out for odd):
    inputs ``gate_<n>_button``, ``_cloop``, ``_ploop`` and the output ``gate_<n>_gate``."""
    states: dict[str, IoState] = {}
    for index in range(count):
        number = index // 4
        gateway = Gateway(gate=f"gate_{number}", direction=Direction.IN if number % 2 == 0 else Direction.OUT)
        kind = ("button", "cloop", "ploop", "gate")[index % 4]
        state = IoState(pin=f"gate_{number}_{kind}", gateway=gateway, value=0, physical=0, inverted=False,
                        type="output" if kind == "gate" else "input", last_timestamp=utcnow())
        states[state.pin] = state
    return states


class IoSimulator:
    """Virtual pins: sends each pin's state once at the start (``edge=1``), then a message per change.

    As in openmodule-test, the first messages can race a listener that is not subscribed yet: create the
    simulator once the plugin under test listens (or send :meth:`emit_current_pin_state` again)."""

    def __init__(self, states: dict[str, IoState], emit: Callable[[IoMessage], Any]) -> None:
        self.pin_states = states
        self.emit = emit
        for state in self.pin_states.values():
            self._send(state, edge=1)

    def get_pin_states(self) -> dict[str, IoState]:
        return self.pin_states

    def _send(self, state: IoState, edge: int) -> None:
        self.emit(IoMessage(gateway=state.gateway, type=state.type, pin=state.pin, value=state.value,
                            inverted=state.inverted, physical=state.physical, edge=edge))

    def _set(self, pin: str, value: int) -> None:
        state = self.pin_states[pin]
        edge = 0 if value == state.value else 1
        state.value = value
        state.physical = value if state.inverted else 1 - value  # (openmodule-test's choice, kept)
        self._send(state, edge)

    def change_pin_state(self, pin: str) -> None:
        """Flip the pin."""
        self._set(pin, 1 - self.pin_states[pin].value)

    #: openmodule-test's spelling
    change_pin_sate = change_pin_state

    def emit_current_pin_state(self, pin: str) -> None:
        """Send the pin's state again (``edge=0``)."""
        self._set(pin, self.pin_states[pin].value)

    def set_pin_low(self, pin: str) -> None:
        self._set(pin, 0)

    def set_pin_high(self, pin: str) -> None:
        self._set(pin, 1)

    def set_all_pins_low(self) -> None:
        for pin in self.pin_states:
            self._set(pin, 0)

    def set_all_pins_high(self) -> None:
        for pin in self.pin_states:
            self._set(pin, 1)

    def emit_custom_io_message(self, pin: str, value: int | None = None, physical: int | None = None,
                               inverted: bool | None = None, edge: int | None = None) -> None:
        """Send what you like for a pin; ``edge`` defaults to 1 when ``value`` or ``inverted`` differ from the
        pin's state (an argument left out counts as differing, as in openmodule-test)."""
        state = self.pin_states[pin]
        if edge is None:
            edge = 1 if state.value != value or state.inverted != inverted else 0
        state.value = value if value is not None else state.value
        state.physical = physical if physical is not None else state.physical
        state.inverted = inverted if inverted is not None else state.inverted
        self._send(state, edge)


class UnknownSignalError(RPCError):
    """``get_value`` for a signal the simulator does not have (the real service would not answer)."""


class SignalSimulator:
    """Virtual signals named as the signal service names them: ``<gate>-<type>`` for gate signals,
    ``<parking_area_id>-area_full``, ``parkinglot_full``, and free names for ``custom`` ones. Serve its
    callbacks on RPC ``signal``/``get_value`` and ``trigger_signals`` to answer a ``SignalListener``."""

    def __init__(self, emit: Callable[[SignalMessage], Any]) -> None:
        self.emit = emit
        self._signals: dict[str, SignalMessage] = {}

    def add_signal(self, value: bool, additional_data: dict[str, Any] | None, signal_type: SignalType,
                   gate: str | None = None, parking_area_id: str | None = None,
                   signal_name: str | None = None) -> str:
        """Add a signal (sends nothing); returns its name."""
        if signal_type == SignalType.custom:
            if signal_name is None:
                raise ValueError("a custom signal needs a signal_name")
            message = SignalMessage(signal=signal_name, type=signal_type, gate=gate, parking_area_id=parking_area_id,
                                    value=value, additional_data=additional_data)
        elif signal_type == SignalType.parkinglot_full:
            message = SignalMessage(signal=SignalType.parkinglot_full.value, type=signal_type, value=value,
                                    additional_data=additional_data)
        elif signal_type == SignalType.area_full:
            if parking_area_id is None:
                raise ValueError("an area_full signal needs a parking_area_id")
            message = SignalMessage(signal=f"{parking_area_id}-area_full", type=signal_type,
                                    parking_area_id=parking_area_id, value=value, additional_data=additional_data)
        else:
            if gate is None:
                raise ValueError(f"a {signal_type} signal needs a gate")
            message = SignalMessage(signal=f"{gate}-{signal_type}", type=signal_type, gate=gate, value=value,
                                    additional_data=additional_data)
        self._signals[message.signal] = message
        return message.signal

    def remove_signal(self, signal: str) -> None:
        self._signals.pop(signal, None)

    def set_signal(self, signal: str, value: bool, additional_data: dict[str, Any] | None = None) -> None:
        """Change a signal and send it."""
        message = self._signals[signal]
        message.value = value
        message.additional_data = additional_data
        self.emit(message)

    def trigger_signal_callback(self, request: TriggerSignalsRequest, _message: Any) -> TriggerSignalsResponse:
        """``signal``/``trigger_signals``: send the signals asked for; success only if it had them all."""
        success = True
        for signal in request.signals:
            if signal in self._signals:
                self.emit(self._signals[signal])
            else:
                success = False
        return TriggerSignalsResponse(success=success)

    def serve(self, mock_rpc: MockRPCClient) -> None:
        """Script ``signal``/``get_value`` and ``trigger_signals`` on ``mock_rpc`` with these callbacks, for a
        plugin on a :class:`~.fake_core.FakeCore` (``fake.mock_rpc``; on a broker a plugin serves them). The
        requests come as the wire carried them; the callbacks read them alike."""
        mock_rpc.immediate_callbacks[("signal", "get_value")] = lambda request, _message: self.get_value_callback(
            GetSignalValueRequest.model_validate(dict(request)), None)
        mock_rpc.immediate_callbacks[("signal", "trigger_signals")] = (
            lambda request, _message: self.trigger_signal_callback(
                TriggerSignalsRequest.model_validate(dict(request)), None))

    def get_value_callback(self, request: GetSignalValueRequest, _message: Any) -> GetSignalValueResponse:
        """``signal``/``get_value``; raises :class:`UnknownSignalError` for a signal it does not have."""
        message = self._signals.get(request.signal)
        if message is None:
            raise UnknownSignalError(f"no signal {request.signal!r}")
        return GetSignalValueResponse(value=message.value, additional_data=message.additional_data)
