"""IoListener and SignalListener in plugins, fed by the IoSimulator and SignalSimulator over a real broker.

(tests/interop/test_toolkit_interop.py compares their decisions with openmodule 18.5.0's, message by message.)
"""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
from openmodule_hookspecs import Direction, Gateway, hookimpl

from openmodule_host.testing import IoSimulator, SignalSimulator, generate_example_states, wait_for_value
from openmodule_host.utils import (
    GetSignalValueRequest,
    GetSignalValueResponse,
    IoListener,
    IoMessage,
    IoState,
    Signal,
    SignalFilterType,
    SignalListener,
    SignalType,
    TriggerSignalsRequest,
    TriggerSignalsResponse,
    utcnow,
)
from tests.support import eventually

ENTRY = Gateway(gate="gate_0", direction=Direction.IN)


class Loops:
    """Counts cars on the gate_0 loop and records every pin edge of gateway gate_0."""

    def __init__(self) -> None:
        self.listener: IoListener | None = None
        self.seen: list[tuple[str, str, int]] = []
        self.threads: set[str] = set()

    @hookimpl
    def register_handlers(self, core: Any) -> None:
        self.listener = IoListener(core.messages)
        self.listener.add_listener_edge_rising("gate_0_cloop", self.record("rising"))
        self.listener.add_listener_edge_falling("gate_0_cloop", self.record("falling"))
        self.listener.add_listener_edge_none("gate_0_cloop", self.record("none"))
        self.listener.add_listener_edge_any(ENTRY, self.record("any-output"), io_type="output")

    def record(self, kind: str) -> Any:
        def callback(state: IoState) -> None:
            self.threads.add(threading.current_thread().name)
            self.seen.append((kind, state.pin, state.value))

        return callback


def test_an_io_listener_follows_the_pins_and_calls_back_on_edges(om_host, om_client):
    loops = Loops()
    om_host(("loops", loops))
    simulator = IoSimulator(generate_example_states(), lambda message: om_client.publish("io", message))
    wait_for_value(lambda: len(loops.listener.current_states), 8)
    simulator.set_pin_high("gate_0_cloop")
    simulator.emit_current_pin_state("gate_0_cloop")
    simulator.set_pin_low("gate_0_cloop")
    simulator.change_pin_state("gate_0_gate")
    wait_for_value(lambda: len(loops.seen), 6)
    assert loops.seen == [
        ("falling", "gate_0_cloop", 0),  # the first message of a pin is an edge
        ("any-output", "gate_0_gate", 0),
        ("rising", "gate_0_cloop", 1),
        ("none", "gate_0_cloop", 1),
        ("falling", "gate_0_cloop", 0),
        ("any-output", "gate_0_gate", 1),
    ]
    assert loops.threads == {"omh-plugin-loops"}  # on the plugin's worker, in order
    assert loops.listener.is_pin_valid("gate_0_cloop")
    assert loops.listener.is_gateway_valid(ENTRY)
    assert not loops.listener.is_pin_valid("gate_9_cloop")
    assert {state.pin for state in loops.listener.get_gateway_states(ENTRY)} == {
        "gate_0_button", "gate_0_cloop", "gate_0_ploop", "gate_0_gate"}


class Dispatcher:
    """Hands each registered handler its messages straight away (the plugin's worker does it in order)."""

    def __init__(self) -> None:
        self.handlers: dict[str, Any] = {}

    def register_handler(self, topic: str, message_class: Any, handler: Any, **_kwargs: Any) -> None:
        self.handlers[topic] = (message_class, handler)

    def deliver(self, topic: str, body: dict[str, Any]) -> None:
        message_class, handler = self.handlers[topic]
        handler(message_class.model_validate(body))


def io(pin: str, value: int, edge: int, **fields: Any) -> dict[str, Any]:
    return {"type": "input", "gateway": {"gate": "gate_0", "direction": "in"}, "pin": pin, "value": value,
            "edge": edge, **fields}


def test_a_repeated_state_keeps_the_pin_as_it_was_and_only_an_edge_renews_it():
    dispatcher = Dispatcher()
    listener = IoListener(dispatcher)
    dispatcher.deliver("io", io("loop", 1, 0, timestamp=(utcnow() - timedelta(seconds=60)).timestamp()))
    assert listener.get_pin_state("loop").physical == 1  # computed: the sender's physical is not trusted
    assert not listener.is_pin_valid("loop")  # its last edge is a minute old
    dispatcher.deliver("io", io("loop", 1, 0))
    assert not listener.is_pin_valid("loop")  # the same state again is no edge: openmodule keeps the old time
    dispatcher.deliver("io", io("loop", 1, 0, inverted=True))
    assert listener.is_pin_valid("loop")
    assert listener.get_pin_state("loop").physical == 0
    assert listener.get_pin_state("never").pin == ""  # a pin never seen: a state of zeros


def test_a_raising_callback_does_not_keep_the_others_from_the_message():
    dispatcher = Dispatcher()
    listener = IoListener(dispatcher)
    calls: list[str] = []
    listener.add_listener_edge_any("loop", lambda state: 1 / 0)
    listener.add_listener_edge_any("loop", lambda state: calls.append(state.pin))
    with pytest.raises(ZeroDivisionError):  # raised again after all ran: the host counts and logs it
        dispatcher.deliver("io", io("loop", 1, 1))
    assert calls == ["loop"]
    assert listener.get_pin_state("loop").value == 1


def test_io_messages_keep_their_fields_on_the_wire():
    message = IoMessage(type="input", gateway=ENTRY, pin="p", value=1, edge=1, pin_number=3, meta={"x": 1})
    assert IoMessage.model_validate_json(message.json_bytes()) == message


class SignalService:
    """The signal service: a SignalSimulator whose signals the listeners can ask for over RPC."""

    def __init__(self) -> None:
        self.simulator: SignalSimulator | None = None

    @hookimpl
    def register_handlers(self, core: Any) -> None:
        self.simulator = SignalSimulator(lambda message: core.publish(message, "signal"))
        self.simulator.add_signal(True, {"cars": 200}, SignalType.area_full, parking_area_id="pa1")
        self.simulator.add_signal(False, None, SignalType.open, gate="entry1")
        core.rpc_server.register_handler("signal", "get_value", GetSignalValueRequest, GetSignalValueResponse,
                                         self.simulator.get_value_callback)
        core.rpc_server.register_handler("signal", "trigger_signals", TriggerSignalsRequest, TriggerSignalsResponse,
                                         self.simulator.trigger_signal_callback)


class Display:
    """Shows whether the area is full; asks for the value it has not seen yet."""

    def __init__(self) -> None:
        self.listener: SignalListener | None = None
        self.core: Any = None
        self.seen: list[tuple[str, str, bool]] = []

    @hookimpl
    def register_handlers(self, core: Any) -> None:
        self.core = core
        self.listener = SignalListener(core.messages, core.rpc_client)
        self.listener.add_listener("pa1-area_full", SignalFilterType.any, self.record, tag="area")
        self.listener.add_listener("entry1-open", SignalFilterType.any_edge, self.record, tag="gate")

    def record(self, signal: Signal) -> None:
        self.seen.append((signal.signal, signal.change_type, signal.value))


def test_a_signal_listener_asks_for_values_and_follows_changes(om_host):
    service, display = SignalService(), Display()
    om_host(("signals", service), ("display", display))
    assert display.listener.get_value_and_additional_data("pa1-area_full") == (True, {"cars": 200})
    assert display.listener.get_value("nonexistent") is False  # no answer: false, as in openmodule
    assert display.listener.trigger_signals(tag="gate") is True  # sends entry1-open again
    wait_for_value(lambda: display.seen, [("entry1-open", "falling_edge", False)])  # first seen false: an edge
    service.simulator.set_signal("entry1-open", True)
    service.simulator.set_signal("pa1-area_full", True, {"cars": 201})
    service.simulator.set_signal("pa1-area_full", False)
    eventually(lambda: len(display.seen) == 4)
    assert display.seen[1:] == [("entry1-open", "rising_edge", True), ("pa1-area_full", "data_change", True),
                                ("pa1-area_full", "falling_edge", False)]
    service.simulator.remove_signal("entry1-open")
    assert display.listener.trigger_signals() is False  # it no longer has all of them


def test_malformed_io_and_signal_messages_are_counted_drops_and_the_listeners_go_on(om_host, om_client):
    loops, display = Loops(), Display()
    host = om_host(("loops", loops), ("display", display))
    om_client.publish("io", {"type": "input", "gateway": {"gate": "gate_0"}, "pin": "gate_0_cloop", "value": "high",
                             "edge": 1})
    om_client.publish("io", {"type": "input", "pin": "gate_0_cloop", "value": 1, "edge": 1})  # no gateway
    om_client.publish("signal", {"type": "area_full", "signal": "pa1-area_full", "value": "full"})
    om_client.publish("signal", {"type": "area_full", "value": True})  # no signal name
    eventually(lambda: host.plugins["loops"].stats.invalid == 2 and host.plugins["display"].stats.invalid == 2)
    om_client.publish("io", io("gate_0_cloop", 1, 1))
    om_client.publish("signal", {"type": "area_full", "signal": "pa1-area_full", "value": True})
    wait_for_value(lambda: loops.seen, [("rising", "gate_0_cloop", 1)])
    wait_for_value(lambda: display.seen, [("pa1-area_full", "rising_edge", True)])
