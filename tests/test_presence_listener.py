"""The PresenceListener in a plugin: tracking's presence messages over a real broker (sent by the
PresenceSimulator), and the initial state over RPC tracking/get-present.

(tests/interop/test_presence_listener_interop.py compares its decisions with openmodule's, message by message.)
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from typing import Any

import pytest
from openmodule_hookspecs import (
    Direction,
    Gateway,
    PresenceBaseData,
    PresenceEnterMessage,
    PresenceLeaveMessage,
    PresenceMedia,
    PresenceRPCRequest,
    PresenceRPCResponse,
    QRMedium,
    Vehicle,
    hookimpl,
)
from pydantic import BaseModel, ValidationError

from openmodule_host.testing import PresenceSimulator, wait_for_value
from openmodule_host.utils import PresenceListener

EVENTS = ("enter", "change", "leave", "forward", "backward")


class Barrier:
    """A plugin that follows the vehicles of ``gate`` (None: of every gate) and records the callbacks."""

    def __init__(self, gate: str | None = None, deduplication_timeout: float = 10) -> None:
        self.gate = gate
        self.deduplication_timeout = timedelta(seconds=deduplication_timeout)
        self.seen: list[tuple[str, int, str, bool]] = []  # event, vehicle id, gate, has media
        self.threads: set[str] = set()
        self.listener: PresenceListener | None = None

    @hookimpl
    def register_handlers(self, core: Any) -> None:
        self.listener = PresenceListener(core.messages, gate=self.gate, rpc_client=core.rpc_client,
                                         deduplication_timeout=self.deduplication_timeout)
        for event in EVENTS:
            getattr(self.listener, f"on_{event}").append(self.record(event))

    def record(self, event: str) -> Any:
        def callback(vehicle: Vehicle, gateway: Gateway) -> None:
            self.threads.add(threading.current_thread().name)
            self.seen.append((event, vehicle.id, gateway.gate, vehicle.has_media()))

        return callback


class Tracking:
    """A tracking service: one vehicle present at entry1 (none at exit1), and a settings service's gates."""

    def __init__(self) -> None:
        self.asked: list[str] = []
        self.vehicle = PresenceSimulator.new_vehicle("G ARIVO1")

    @hookimpl
    def register_handlers(self, core: Any) -> None:
        def get_present(request: PresenceRPCRequest, message: Any) -> PresenceRPCResponse:
            self.asked.append(request.gate)
            if request.gate != "entry1":
                return PresenceRPCResponse(presents=[])
            present = PresenceBaseData(vehicle_id=self.vehicle.id, source="entry1", present_area_name="entry1-present",
                                       last_update=self.vehicle.enter_time, gateway=Gateway(gate="entry1"),
                                       medium=PresenceMedia(lpr=self.vehicle.lpr), all_ids={})
            return PresenceRPCResponse(presents=[present])

        def get_setting(request: Setting, message: Any) -> dict[str, Any]:
            gates = {"entry1": {"type": "entry"}, "exit1": {"type": "exit"}, "door1": {"type": "door"}}
            return {"success": True, "value": gates} if request.key == "common/gates" else {"success": False}

        core.rpc_server.register_handler("tracking", "get-present", PresenceRPCRequest, PresenceRPCResponse,
                                         get_present)
        core.rpc_server.register_handler("settings", "get", Setting, SettingAnswer, get_setting)


class Setting(BaseModel):
    key: str
    scope: str = ""


class SettingAnswer(BaseModel):
    success: bool
    value: Any = None


@pytest.fixture
def simulator(om_client):
    return PresenceSimulator("entry1", Direction.IN, lambda message: om_client.publish("presence", message))


def test_a_plugin_follows_the_vehicles_at_a_gate(om_host, om_client, simulator):
    barrier = Barrier()
    om_host(("barrier", barrier))
    car = PresenceSimulator.new_vehicle("G ARIVO1", "A")
    simulator.enter(car)
    simulator.change(car.model_copy(update={"qr": QRMedium(id="ticket-1")}))
    wait_for_value(lambda: len(barrier.seen), 2)
    assert barrier.listener.present_vehicles["entry1"].qr.id == "ticket-1"
    simulator.leave()
    simulator.forward(car)
    wait_for_value(lambda: len(barrier.seen), 4)
    assert barrier.seen == [("enter", car.id, "entry1", True), ("change", car.id, "entry1", True),
                            ("leave", car.id, "entry1", True), ("forward", car.id, "entry1", True)]
    assert barrier.threads == {"omh-plugin-barrier"}  # on the plugin's worker, in order
    assert barrier.listener.present_vehicles == {}


def test_a_listener_for_one_gate_ignores_the_others(om_host, om_client, simulator):
    barrier = Barrier(gate="exit1")
    om_host(("barrier", barrier))
    exit_simulator = PresenceSimulator("exit1", Direction.OUT, lambda message: om_client.publish("presence", message))
    simulator.enter(PresenceSimulator.new_vehicle("G ARIVO1"))
    leaving = PresenceSimulator.new_vehicle("W12345")
    exit_simulator.enter(leaving)
    wait_for_value(lambda: barrier.listener.present_vehicle is not None, True)
    assert barrier.listener.present_vehicle.id == leaving.id
    assert barrier.seen == [("enter", leaving.id, "exit1", True)]


def test_an_enter_while_a_vehicle_is_present_fakes_its_leave(om_host, simulator):
    barrier = Barrier()
    om_host(("barrier", barrier))
    first, second = PresenceSimulator.new_vehicle("G ARIVO1"), PresenceSimulator.new_vehicle("W12345")
    simulator.enter(first)
    simulator.enter(second)  # tracking missed the first one's leave
    simulator.backward(first)
    wait_for_value(lambda: len(barrier.seen), 4)
    assert barrier.seen == [("enter", first.id, "entry1", True), ("leave", first.id, "entry1", True),
                            ("enter", second.id, "entry1", True), ("backward", first.id, "entry1", True)]
    assert barrier.listener.present_vehicles["entry1"].id == second.id


def test_a_vehicle_seen_by_a_second_camera_is_dropped(om_host, om_client, simulator):
    barrier = Barrier(deduplication_timeout=3600)  # (the default 10 s would do, on a machine that is not busy)
    om_host(("barrier", barrier))
    second_camera = PresenceSimulator("entry1", Direction.IN, lambda message: om_client.publish("presence", message),
                                      present_area_name="entry1-camera2")
    car, ghost = PresenceSimulator.new_vehicle("G ARIVO1"), PresenceSimulator.new_vehicle()
    simulator.enter(car)
    second_camera.enter(ghost)  # the same car, without a plate, seen by the other camera: dropped
    second_camera.leave(ghost)
    simulator.leave(car)
    # the other camera reads the plate (the same in the legacy charset) after the car left: dropped too
    late = PresenceSimulator.new_vehicle("G-ARIV01")
    second_camera.enter(late)
    simulator.enter(last := PresenceSimulator.new_vehicle("W12345"))
    wait_for_value(lambda: len(barrier.seen), 3)
    assert barrier.seen == [("enter", car.id, "entry1", True), ("leave", car.id, "entry1", True),
                            ("enter", last.id, "entry1", True)]
    assert set(barrier.listener.drop_list) == {ghost.id}  # dropped for an hour
    assert barrier.listener.last_vehicle_data["entry1"][0].drop == {late.id}


def test_a_vehicle_with_a_medium_replaces_one_without_from_another_camera(om_host, om_client, simulator):
    barrier = Barrier()
    om_host(("barrier", barrier))
    second_camera = PresenceSimulator("entry1", Direction.IN, lambda message: om_client.publish("presence", message),
                                      present_area_name="entry1-camera2")
    ghost, car = PresenceSimulator.new_vehicle(), PresenceSimulator.new_vehicle("G ARIVO1")
    simulator.enter(ghost)
    second_camera.enter(car)
    wait_for_value(lambda: len(barrier.seen), 3)
    assert barrier.seen == [("enter", ghost.id, "entry1", False), ("leave", ghost.id, "entry1", False),
                            ("enter", car.id, "entry1", True)]
    assert barrier.listener.area_name_of_present == {"entry1": "entry1-camera2"}


def test_a_raising_callback_is_logged_and_the_others_still_run(om_host, simulator, caplog):
    barrier = Barrier()
    host = om_host(("barrier", barrier))

    def broken(vehicle: Vehicle, gateway: Gateway) -> None:
        raise RuntimeError("callback bug")

    barrier.listener.on_enter.insert(0, broken)
    simulator.enter(car := PresenceSimulator.new_vehicle("G ARIVO1"))
    wait_for_value(lambda: barrier.seen, [("enter", car.id, "entry1", True)])
    assert any(record.exc_info and str(record.exc_info[1]) == "callback bug" for record in caplog.records)
    assert host.plugins["barrier"].stats.handler_errors == 0  # the listener handled the message


def test_invalid_presence_messages_are_counted_and_dropped(om_host, om_client, simulator):
    barrier = Barrier()
    host = om_host(("barrier", barrier))
    car = PresenceSimulator.new_vehicle("G ARIVO1")
    om_client.publish("presence", {"type": "enter", "vehicle_id": "not a number", "gateway": {"gate": "entry1"}})
    om_client.publish("presence", {"type": "forward", "vehicle_id": car.id})  # everything else missing
    # an id that is no nanosecond time (and so no enter time), beyond 64 bits: orjson refuses to write it
    om_client.send_frames(b"presence", b'{"timestamp": 1.0, "type": "enter", "vehicle_id": 1' + b"0" * 30 +
                          b', "source": "s", "present-area-name": "a", "last_update": 1.0,'
                          b' "gateway": {"gate": "entry1"}, "medium": {}, "all_ids": {}}')
    simulator.enter(car)
    wait_for_value(lambda: len(barrier.seen), 1)
    assert barrier.seen == [("enter", car.id, "entry1", True)]
    assert host.plugins["barrier"].stats.invalid == 3
    assert host.plugins["barrier"].stats.handler_errors == 0


def test_the_present_vehicles_are_asked_of_tracking(om_host):
    tracking, one_gate, every_gate = Tracking(), Barrier(gate="entry1"), Barrier()
    om_host(("tracking", tracking), ("one_gate", one_gate), ("every_gate", every_gate))
    one_gate.listener.init_present_vehicles()
    assert one_gate.listener.present_vehicle.id == tracking.vehicle.id
    assert one_gate.seen == [("enter", tracking.vehicle.id, "entry1", True)]
    assert tracking.asked == ["entry1"]

    every_gate.listener.init_present_vehicles()  # the gates from the settings: entry1 and exit1 (not the door)
    assert sorted(tracking.asked[1:]) == ["entry1", "exit1"]
    assert list(every_gate.listener.present_vehicles) == ["entry1"]
    assert every_gate.listener.area_name_of_present == {"entry1": "entry1-present"}


def test_without_tracking_the_gate_stays_empty(om_host, caplog):
    barrier = Barrier(gate="entry1")
    om_host(("barrier", barrier))
    barrier.listener.rpc_client.default_timeout = 0.2
    barrier.listener.init_present_vehicles()
    assert barrier.listener.present_vehicles == {} and barrier.seen == []
    assert "get-present RPC timeout" in caplog.text


def test_misuse_is_refused_with_a_clear_error():
    class Dispatcher:
        def register_handler(self, *args: Any, **kwargs: Any) -> None:
            pass

    listener = PresenceListener(Dispatcher())
    with pytest.raises(ValueError, match="present_vehicle needs a listener of one gate"):
        _ = listener.present_vehicle
    with pytest.raises(TypeError, match="needs an RPC client"):
        listener.init_present_vehicles()


def test_a_leave_without_leave_time_left_when_it_was_sent():
    sent: list[Any] = []
    PresenceSimulator("entry1", Direction.IN, sent.append).leave(PresenceSimulator.new_vehicle("G ARIVO1"))
    body = sent[0].model_dump()
    assert body["type"] == "leave" and body["leave-time"] == sent[0].leave_time
    del body["leave-time"]
    body["timestamp"] = 1717236006.5
    assert PresenceLeaveMessage.model_validate(body).leave_time == datetime(2024, 6, 1, 10, 0, 6, 500000)
    del body["timestamp"]
    with pytest.raises(ValidationError, match="without leave-time needs the envelope timestamp"):
        PresenceLeaveMessage.model_validate(body)


def test_without_an_enter_time_the_vehicle_entered_when_its_id_was_made():
    sent: list[Any] = []
    PresenceSimulator("entry1", Direction.IN, sent.append).enter(PresenceSimulator.new_vehicle("G ARIVO1"))
    body = sent[0].model_dump()
    del body["enter_time"]
    body["vehicle_id"] = 1717235990123456789
    enter = PresenceEnterMessage.model_validate(body)
    assert enter.enter_time == datetime(2024, 6, 1, 9, 59, 50, 123457)  # naive UTC, to the microsecond
    assert enter.to_vehicle().enter_time == enter.enter_time
    assert str(enter.to_vehicle()) == "Vehicle<id:3456789, lpr:[A]G ARIVO1>"
    with pytest.raises(ValidationError, match="vehicle_id 1000000000000000000000000000000 is not a nanosecond"):
        PresenceEnterMessage.model_validate({**body, "vehicle_id": 10**30})



def test_a_vehicle_read_from_data_is_simulated_with_its_qr_code():
    """A vehicle built from plain data holds its QR code as a plain ``Medium``; the messages carry it as the
    ``QRMedium`` tracking sends (this raised a ValidationError before)."""
    sent: list[Any] = []
    car = Vehicle.model_validate({"id": 1, "qr": {"id": "ticket-1", "type": "qr"}, "enter_time": datetime(2024, 6, 1)})
    simulator = PresenceSimulator("entry1", Direction.IN, sent.append)
    simulator.enter(car)
    simulator.forward()
    assert [message.type for message in sent] == ["enter", "forward"]
    assert [message.medium.qr for message in sent] == [QRMedium(id="ticket-1")] * 2
    assert sent[0].all_ids.qr == [QRMedium(id="ticket-1")]
    assert sent[1].leave_time == car.leave_time

class StartsWithTracking(Barrier):
    """Asks tracking for the present vehicle at start, as openmodule services do."""

    @hookimpl
    def register_handlers(self, core: Any) -> None:
        super().register_handlers(core)
        self.listener.init_present_vehicles()


def test_the_present_vehicle_is_known_from_the_start(om_host):
    tracking, barrier = Tracking(), StartsWithTracking(gate="entry1")
    om_host(("tracking", tracking))  # tracking runs elsewhere (here: another host on the broker)
    om_host(("barrier", barrier))
    assert barrier.seen == [("enter", tracking.vehicle.id, "entry1", True)]
    assert barrier.threads == {"omh-plugin-barrier"}
