"""IO, signal, event log and ticket validation on the wire between plugins and a real openmodule 18.5.0 service.

On one broker: a host whose ``panel`` plugin runs an IoListener and a SignalListener and sends events, and
whose ``shop`` plugin is a validation provider (NAME ``om_validation_shop_1``); and the openmodule service
``om_interop_1`` (``peers/openmodule_service.py``), which reads what the plugins send with openmodule's own
models, sends its own ``io``/``signal`` messages, and calls the provider with openmodule's RPC client.
"""

from __future__ import annotations

import base64
import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pytest
from openmodule_hookspecs import hookimpl

from openmodule_host.testing import PrivateBroker, start_host
from openmodule_host.utils import (
    EventInfo,
    IoListener,
    IoMessage,
    MessageKwarg,
    SignalFilterType,
    SignalListener,
    SignalMessage,
    send_event,
)
from tests.support import eventually
from tests.test_eventlog_validation import ShopPlugin

from .peer import OpenModulePeer

pytestmark = pytest.mark.interop

SERVICE = "om_interop_1"
PROVIDER = "om_validation_shop_1"


class Panel:
    def __init__(self) -> None:
        self.core: Any = None
        self.edges: list[tuple[str, int, int]] = []
        self.signals: list[tuple[str, str, dict[str, Any] | None]] = []

    @hookimpl
    def register_handlers(self, core: Any) -> None:
        self.core = core
        io = IoListener(core.messages)
        io.add_listener_edge_any("entry1_loop", lambda state: self.edges.append(
            (state.pin, state.value, state.physical)))
        signals = SignalListener(core.messages, core.rpc_client)
        signals.add_listener("pa1-area_full", SignalFilterType.any, lambda signal: self.signals.append(
            (signal.signal, signal.change_type, signal.additional_data)))


@dataclass
class Garage:
    panel: Panel
    service: OpenModulePeer


@pytest.fixture(scope="module")
def garage() -> Iterator[Garage]:
    with contextlib.ExitStack() as stack:
        broker = PrivateBroker()
        stack.callback(broker.close)
        panel = Panel()
        host = start_host(broker, [("panel", panel), ("shop", ShopPlugin("SHOP"))],
                          config={"panel": {"NAME": "om_panel_1"}, "shop": {"NAME": PROVIDER}})
        stack.callback(host.stop)
        service = stack.enter_context(OpenModulePeer(SERVICE, broker.sub_address, broker.pub_address))
        service.wait_ready()
        yield Garage(panel, service)


def test_the_listeners_read_openmodules_io_and_signal_messages(garage):
    service, panel = garage.service, garage.panel
    io = {"type": "input", "gateway": {"gate": "entry1", "direction": "in"}, "pin": "entry1_loop", "inverted": True,
          "physical": 1, "meta": {"board": "b1"}}
    # (the first messages may go out before the host's subscription reached the service: send until one is in)
    eventually(lambda: service.publish("io", {**io, "value": 0, "edge": 1}, model="IoMessage") and panel.edges,
               timeout=20, interval=0.3)
    service.publish("io", {**io, "value": 1, "edge": 1}, model="IoMessage")
    eventually(lambda: panel.edges[-1] == ("entry1_loop", 1, 0), timeout=10)  # inverted: physical 0
    eventually(lambda: service.publish("signal", {"type": "area_full", "signal": "pa1-area_full",
                                                  "parking_area_id": "pa1", "value": True,
                                                  "additional_data": {"free": 0}}, model="SignalMessage")
               and panel.signals, timeout=20, interval=0.3)
    assert panel.signals[0] == ("pa1-area_full", "rising_edge", {"free": 0})


def received(service: OpenModulePeer, topic: str, publish: Any) -> dict[str, Any]:
    """Publish from the plugin until the openmodule service got one (its subscription must reach the host)."""
    for _ in range(40):
        publish()
        with contextlib.suppress(AssertionError):
            return service.wait_for_message(topic, timeout=0.5)
    raise AssertionError(f"the openmodule service never got a message on {topic!r}")


def test_openmodule_reads_the_io_signal_and_event_messages_of_a_plugin(garage):
    service, core = garage.service, garage.panel.core
    service.subscribe("io", model="IoMessage")
    service.subscribe("signal", model="SignalMessage")
    service.subscribe("eventlog", type="create_event", model="EventlogMessage")

    io = received(service, "io", lambda: core.publish(IoMessage(
        type="output", gateway={"gate": "exit1", "direction": "out"}, pin="barrier", value=1, edge=1, physical=1,
        pin_number=3), "io"))
    assert io["model"] == "IoMessage" and io["types"]["gateway"] == "Gateway"
    assert {key: io["message"][key] for key in ("name", "type", "pin", "value", "edge", "physical", "pin_number")} \
        == {"name": "om_panel_1", "type": "output", "pin": "barrier", "value": 1, "edge": 1, "physical": 1,
            "pin_number": 3}

    signal = received(service, "signal", lambda: core.publish(SignalMessage(
        type="open", signal="exit1-open", gate="exit1", value=False), "signal"))
    assert signal["model"] == "SignalMessage"
    assert (signal["message"]["signal"], signal["message"]["type"], signal["message"]["value"]) == (
        "exit1-open", "open", False)

    event = received(service, "eventlog", lambda: send_event(
        core, EventInfo.create("session_start", timestamp=datetime(2024, 6, 1, 10, 0, 11), gate="entry1",
                               license_plate="G ARIVO1", session_id="s-42"),
        "Session with plate {lpr} started at {gate}", lpr=MessageKwarg.lpr("G ARIVO1", "A"),
        gate=MessageKwarg.gate("entry1")))
    assert event["model"] == "EventlogMessage"
    assert event["message"]["event"]["message_kwargs"]["lpr"] == {
        "value": {"plate": "G ARIVO1", "country": "A"}, "anonymization_type": "lpr", "format_type": "lpr"}
    assert event["message"]["event"]["infos"]["session_id"] == "s-42"
    assert event["message"]["event"]["infos"]["timestamp"] == datetime(2024, 6, 1, 10, 0, 11).isoformat()


def test_openmodules_rpc_client_validates_a_ticket_with_the_plugins_provider(garage):
    service = garage.service
    request = {"name": PROVIDER, "session_id": "s-42", "type": "qr", "payload": base64.b64encode(b"SHOP-1").decode(),
               "gate": "exit1"}
    result = service.rpc("validation_provider", "validate", request, request_model="ValidateRequest",
                         response_model="ValidateResponse", timeout=10)
    assert result["ok"], result
    response = result["response"]
    assert (response["state"], response["message"]) == ("ok", "SHOP voucher")
    assert [entry["source"] for entry in response["cost_entries"]] == ["validation_shop", "cashier"]
    not_mine = service.rpc("validation_provider", "validate", {**request, "name": "om_validation_other_1"},
                           request_model="ValidateRequest", response_model="ValidateResponse", timeout=1)
    assert not_mine["error"] == "RPCClient.TimeoutError"  # nobody answers for another provider

