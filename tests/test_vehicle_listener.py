"""The VehicleListener in a plugin: present_vehicle messages over a real broker, and the presence trigger RPC.

(tests/interop/test_vehicle_listener_interop.py compares its decisions with openmodule's, message by message.)
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from openmodule_hookspecs import (
    PresenceTriggerRequest,
    PresenceTriggerResponse,
    PresentVehicleEnterMessage,
    PresentVehicleLeaveMessage,
    PresentVehicleTriggeredMessage,
    VehicleDirection,
    hookimpl,
)

from openmodule_host.testing import VehicleBuilder, VehicleSimulator, wait_for_value
from openmodule_host.utils import FilterType, VehicleListener

ENTER = {"gate": "entry1", "vehicle_id": "17", "lpr_front": {"plate": "GARIVO1", "country": "A"},
         "enter_direction": "forward", "enter_time": time.time()}


class GateKeeper:
    def __init__(self, gate: str | None = None) -> None:
        self.gate = gate
        self.seen: list[tuple[str, str | None, str]] = []
        self.threads: set[str] = set()
        self.listener: VehicleListener | None = None

    @hookimpl
    def register_handlers(self, core: Any) -> None:
        self.listener = VehicleListener(core.messages, core.rpc_client, gate=self.gate)
        for filter_type in (FilterType.enter, FilterType.any_enter, FilterType.leave, FilterType.forward):
            self.listener.add_listener("entry1", filter_type, self.record(filter_type))

    def record(self, filter_type: FilterType) -> Any:
        def callback(vehicle: Any, message: Any) -> None:
            self.threads.add(threading.current_thread().name)
            self.seen.append((filter_type, vehicle.vehicle_id if vehicle else None, message.type))

        return callback


class Presence:
    """A presence service: answers presence/trigger by sending the gate's vehicle as a triggered message."""

    @hookimpl
    def register_handlers(self, core: Any) -> None:
        def trigger(request: PresenceTriggerRequest, message: Any) -> PresenceTriggerResponse:
            core.publish(PresentVehicleTriggeredMessage(gate=request.gate, vehicle_id="99",
                                                        lpr_front={"plate": "W12345"}, enter_time=time.time()),
                         "present_vehicle")
            return PresenceTriggerResponse()

        core.rpc_server.register_handler("presence", "trigger", PresenceTriggerRequest, PresenceTriggerResponse,
                                         trigger)


def test_a_plugin_follows_the_vehicles_of_a_gate(om_host, om_client):
    keeper = GateKeeper()
    om_host(("keeper", keeper))
    om_client.publish("present_vehicle", PresentVehicleEnterMessage(**ENTER))
    om_client.publish("present_vehicle", PresentVehicleLeaveMessage(**ENTER, leave_time=time.time()))
    om_client.publish("present_vehicle", PresentVehicleEnterMessage(**{**ENTER, "gate": "exit1"}))
    wait_for_value(lambda: len(keeper.seen), 3)
    assert keeper.seen == [("enter", "17", "enter"), ("any_enter", "17", "enter"), ("leave", "17", "leave")]
    assert keeper.threads == {"omh-plugin-keeper"}  # on the plugin's worker, in order
    wait_for_value(lambda: "exit1" in keeper.listener.present_vehicles, True)  # (its enter may still be on the way)
    assert keeper.listener.present_vehicles == {"entry1": None, "exit1": keeper.listener.present_vehicles["exit1"]}


def test_a_listener_for_one_gate_ignores_the_others(om_host, om_client):
    keeper = GateKeeper(gate="exit1")
    om_host(("keeper", keeper))
    om_client.publish("present_vehicle", PresentVehicleEnterMessage(**ENTER))
    om_client.publish("present_vehicle", PresentVehicleEnterMessage(**{**ENTER, "gate": "exit1"}))
    wait_for_value(lambda: "exit1" in keeper.listener.present_vehicles, True)
    assert "entry1" not in keeper.listener.present_vehicles and keeper.seen == []


def test_the_present_vehicle_is_asked_of_the_presence_service(om_host):
    keeper = GateKeeper()
    om_host(("keeper", keeper), ("presence", Presence()))
    keeper.listener.get_present_vehicle("entry1")  # asks; the answer comes as a message (maybe before the reply)
    wait_for_value(lambda: keeper.listener.present_vehicles.get("entry1") is not None, True)
    present = keeper.listener.present_vehicles["entry1"]
    assert (present.vehicle_id, present.lpr_front.plate) == ("99", "W12345")
    assert keeper.seen[:2] == [("enter", "99", "triggered"), ("any_enter", "99", "triggered")]
    keeper.listener.lock_present_vehicle("entry1")
    assert keeper.listener.present_vehicles["entry1"].locked


def test_without_a_presence_service_the_gate_is_empty(om_host):
    keeper = GateKeeper()
    om_host(("keeper", keeper))
    keeper.listener.rpc_client.default_timeout = 0.2
    assert keeper.listener.get_present_vehicle("entry1") is None
    assert keeper.listener.present_vehicles == {"entry1": None}
    with pytest.raises(ValueError, match="No listener registered for gate exit9"):
        keeper.listener.get_present_vehicle("exit9")


def test_listeners_are_removed_by_tag():
    class Dispatcher:
        def register_handler(self, *args: Any, **kwargs: Any) -> None:
            pass

    listener = VehicleListener(Dispatcher(), rpc_client=None)
    listener.add_listener("g", FilterType.enter, print, tag="a")
    listener.add_listener("g", FilterType.leave, print, tag="b")
    listener.remove_listeners("a")
    assert [entry.tag for entry in listener.listeners] == ["b"]
    listener.remove_listeners()
    assert listener.listeners == []


def test_the_vehicle_simulator_drives_a_plugin_through_the_broker(om_host, om_client):
    keeper = GateKeeper()
    om_host(("keeper", keeper))
    simulator = VehicleSimulator("entry1", lambda message: om_client.publish("present_vehicle", message))
    car, empty = VehicleBuilder("G ARIVO1", "A", VehicleDirection.forward), VehicleBuilder(None)
    assert car.lpr_front.state == "G" and int(empty.vehicle_id) > int(car.vehicle_id)

    simulator.enter(car)
    simulator.leave(car)
    simulator.forward(car)
    simulator.empty_enter(empty)
    simulator.empty_leave(empty)

    wait_for_value(lambda: len(keeper.seen), 5)
    assert keeper.seen == [("enter", car.vehicle_id, "enter"), ("any_enter", car.vehicle_id, "enter"),
                           ("leave", car.vehicle_id, "leave"), ("forward", car.vehicle_id, "forward"),
                           ("any_enter", empty.vehicle_id, "empty_enter")]
    with pytest.raises(ValueError, match="needs a plate"):
        simulator.passing(empty, VehicleDirection.forward)
