"""Following the vehicles present at gates (openmodule's ``VehicleListener``, ``utils/vehicle_listener.py``).

``VehicleListener(core.messages, core.rpc_client, gate=None)`` reads the presence service's
``present_vehicle`` messages (of one gate, or of all) and keeps the vehicle present at each gate. Callbacks
registered with :meth:`~VehicleListener.add_listener` for a gate and a :class:`FilterType` are called with
``(present_vehicle, message)``. It repairs what the messages leave inconsistent as openmodule does: an enter
while another vehicle (with a plate) is present first fakes that one's leave (and its forward or backward
if the plate changed); a vehicle that leaves and comes back within 5 minutes is the same vehicle again; a
*locked* vehicle keeps its data through changes. The presence service is asked again (RPC
``presence``/``trigger``) when the listener's view is wrong after the service restarted.

It needs its messages in order: in the host, a plugin's handlers run one at a time on its worker, in
arrival order, so it can be used as it is.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol, TypedDict

from openmodule_hookspecs import (
    PRESENCE_TOPIC,
    LprData,
    Messages,
    PresenceTriggerRequest,
    PresenceTriggerResponse,
    PresentVehicleBackwardMessage,
    PresentVehicleChangeMessage,
    PresentVehicleData,
    PresentVehicleEmptyEnterMessage,
    PresentVehicleEmptyLeaveMessage,
    PresentVehicleEnterMessage,
    PresentVehicleForwardMessage,
    PresentVehicleInitMessage,
    PresentVehicleLeaveMessage,
    PresentVehicleMessage,
    PresentVehiclePassingMessage,
    PresentVehicleTriggeredMessage,
    RPCClient,
    VehicleDirection,
    utcnow,
)

from .bounded_states import BoundedStates

__all__ = ["FilterType", "VehicleListener"]

_REMEMBER_LEFT = timedelta(minutes=5)


class _LeftFields(TypedDict):
    """What the leave, forward and backward messages faked for a vehicle carry."""

    gate: str
    vehicle_id: str
    lpr_front: LprData | None
    lpr_back: LprData | None
    enter_direction: VehicleDirection
    enter_time: datetime
    leave_time: datetime


class FilterType(StrEnum):
    enter = "enter"  # enter with a plate
    empty_enter = "empty_enter"  # enter without a plate
    any_enter = "any_enter"
    lpr_update = "lpr_update"  # a plate or its country changed, or a plate was added
    plate_update = "plate_update"  # a plate changed or was added
    leave = "leave"  # leave with a plate
    empty_leave = "empty_leave"  # leave without a plate
    any_leave = "any_leave"
    forward = "forward"  # drove through
    backward = "backward"  # drove back
    passing = "passing"  # drove past the gate


Callback = Callable[[PresentVehicleData | None, Any], None]


@dataclass
class _Listener:
    gate: str
    filter_type: FilterType
    callback: Callback
    tag: str | None


class _SeenVehicle(Protocol):
    """What the messages about a vehicle seen at a gate (and the present vehicle's data) tell of it."""

    @property
    def vehicle_id(self) -> str: ...
    @property
    def gate(self) -> str: ...
    @property
    def lpr_front(self) -> LprData | None: ...
    @property
    def lpr_back(self) -> LprData | None: ...
    @property
    def enter_direction(self) -> VehicleDirection: ...
    @property
    def enter_time(self) -> datetime: ...


def _data(message: _SeenVehicle) -> PresentVehicleData:
    return PresentVehicleData(vehicle_id=message.vehicle_id, gate=message.gate, lpr_front=message.lpr_front,
                              lpr_back=message.lpr_back, enter_direction=message.enter_direction,
                              enter_time=message.enter_time)


def _plate(message: _SeenVehicle) -> str | None:
    lpr = message.lpr_front or message.lpr_back
    return lpr.plate if lpr else None


class VehicleListener:
    def __init__(self, dispatcher: Messages, rpc_client: RPCClient, gate: str | None = None) -> None:
        self.log = logging.getLogger(self.__class__.__name__)
        #: the vehicle present at each gate (None: none); bounded, as the next one (see :mod:`.bounded_states`)
        self.present_vehicles: BoundedStates[str, PresentVehicleData | None] = BoundedStates("gates", self.log)
        #: vehicles that left (by id), remembered 5 minutes in case they come back
        self.previous_present_vehicles: BoundedStates[str, PresentVehicleData] = BoundedStates(
            "vehicles that left", self.log)
        self.listeners: list[_Listener] = []
        self.rpc_client = rpc_client
        self.gate = gate
        only_gate = self._gate_filter if gate else None
        topic, register = PRESENCE_TOPIC, dispatcher.register_handler  # one line per type: each handler checked
        register(topic, PresentVehicleInitMessage, self._on_init, filter_=only_gate)
        register(topic, PresentVehicleEnterMessage, self._on_enter, filter_=only_gate)
        register(topic, PresentVehicleChangeMessage, self._on_change, filter_=only_gate)
        register(topic, PresentVehicleLeaveMessage, self._on_leave, filter_=only_gate)
        register(topic, PresentVehicleForwardMessage, self._on_forward, filter_=only_gate)
        register(topic, PresentVehicleBackwardMessage, self._on_backward, filter_=only_gate)
        register(topic, PresentVehiclePassingMessage, self._on_passing, filter_=only_gate)
        register(topic, PresentVehicleEmptyEnterMessage, self._on_empty_enter, filter_=only_gate)
        register(topic, PresentVehicleEmptyLeaveMessage, self._on_empty_leave, filter_=only_gate)
        register(topic, PresentVehicleTriggeredMessage, self._on_triggered, filter_=only_gate)

    def _gate_filter(self, message: dict[str, Any]) -> bool:
        return message.get("gate") == self.gate

    # -- the public API ----------------------------------------------------------------------------

    def add_listener(self, gate: str, filter_type: FilterType, callback: Callback, tag: str | None = None) -> None:
        """Call ``callback(present_vehicle, message)`` for the gate's messages of ``filter_type``; ``tag``
        groups listeners for :meth:`remove_listeners`."""
        self.listeners.append(_Listener(gate, filter_type, callback, tag))

    def remove_listeners(self, tag: str | None = None) -> None:
        """Remove the listeners with ``tag``; without a tag, every listener."""
        self.listeners = [listener for listener in self.listeners if tag is not None and listener.tag != tag]

    def trigger_present_vehicle_message(self, gate: str) -> bool:
        """Ask the presence service to send the gate's present vehicle (as a ``triggered`` message)."""
        try:
            self.rpc_client.rpc("presence", "trigger", PresenceTriggerRequest(gate=gate), PresenceTriggerResponse)
        except Exception:
            self.log.exception("Could not get present vehicle for gate %s via RPC", gate)
            return False
        return True

    def get_present_vehicle(self, gate: str) -> PresentVehicleData | None:
        """The vehicle present at ``gate`` (a gate some listener listens to), asking the presence service the
        first time."""
        if all(listener.gate != gate for listener in self.listeners):
            raise ValueError(f"No listener registered for gate {gate}, cannot get present vehicle")
        if gate not in self.present_vehicles and not self.trigger_present_vehicle_message(gate):
            self.present_vehicles[gate] = None
        return self.present_vehicles.get(gate)

    def lock_present_vehicle(self, gate: str) -> None:
        """Keep the present vehicle's data as it is now through later changes (until it leaves)."""
        if present := self.get_present_vehicle(gate):
            present.locked = True

    def lock_vehicle_id(self, vehicle_id: str) -> None:
        for present in self.present_vehicles.values():
            if present and present.vehicle_id == vehicle_id:
                present.locked = True
        if vehicle_id in self.previous_present_vehicles:
            self.previous_present_vehicles[vehicle_id].locked = True

    # -- what happens ------------------------------------------------------------------------------

    def _call(self, filter_types: list[FilterType], present: PresentVehicleData | None,
              message: PresentVehicleMessage | PresentVehicleInitMessage) -> None:
        for listener in self.listeners:
            if listener.gate == message.gate and listener.filter_type in filter_types:
                listener.callback(present, message)

    def _fake_leave(self, present: PresentVehicleData, new_plate: str | None = None) -> None:
        """The present vehicle left without a message: fake its leave, and its forward or backward if the new
        vehicle has another plate (a plate that stays is the same vehicle: no check-in or check-out)."""
        now = utcnow()
        old_plate = _plate(present)
        if not old_plate:
            self._on_empty_leave(PresentVehicleEmptyLeaveMessage(
                gate=present.gate, vehicle_id=present.vehicle_id, enter_time=present.enter_time, leave_time=now))
            return
        fields = _LeftFields(gate=present.gate, vehicle_id=present.vehicle_id, lpr_front=present.lpr_front,
                             lpr_back=present.lpr_back, enter_direction=present.enter_direction,
                             enter_time=present.enter_time, leave_time=now)
        self._on_leave(PresentVehicleLeaveMessage(**fields))
        if old_plate != new_plate:
            if present.enter_direction == VehicleDirection.backward:
                self._on_backward(PresentVehicleBackwardMessage(**fields))
            else:
                self._on_forward(PresentVehicleForwardMessage(**fields))

    @staticmethod
    def _change_types(present: PresentVehicleData, message: PresentVehicleChangeMessage) -> list[FilterType]:
        def plates(item: _SeenVehicle) -> set[str]:
            return {lpr.plate for lpr in (item.lpr_front, item.lpr_back) if lpr}

        def countries(item: _SeenVehicle) -> set[str]:
            return {lpr.country for lpr in (item.lpr_front, item.lpr_back) if lpr}

        if plates(message) != plates(present):
            return [FilterType.plate_update, FilterType.lpr_update]
        if countries(message) != countries(present):
            return [FilterType.lpr_update]
        return []

    def _on_init(self, message: PresentVehicleInitMessage) -> None:
        present = self.present_vehicles.setdefault(message.gate, None)
        present_id = present.vehicle_id if present else None
        if message.vehicle_id == present_id:
            self.log.info("%s: Vehicle on init already up to date, doing nothing", message.gate)
        elif present is not None and message.vehicle_id is None:
            self.log.info("%s: Vehicle left during restart of presence service. "
                          "Faking leave and, if different plate, forward", message.gate)
            self._fake_leave(present)
        else:
            self.log.error("%s: Vehicle not corrected before init message. Fixing with another trigger.",
                           message.gate, extra={"msg_id": message.vehicle_id, "present_id": present_id})
            self.rpc_client.rpc("presence", "trigger", PresenceTriggerRequest(gate=message.gate),
                                PresenceTriggerResponse)

    def _on_enter(self, message: PresentVehicleEnterMessage | PresentVehicleChangeMessage) -> None:
        gate = message.gate
        present = self.present_vehicles.get(gate)
        if present is not None and present.get_primary_lpr() is not None:
            self.log.warning("%s: Received enter message while different vehicle or vehicle with plate already "
                             "present. Faking leave and, if different plate, forward.", gate)
            self._fake_leave(present, _plate(message))
        if message.vehicle_id in self.previous_present_vehicles:
            self.log.info("%s: Vehicle with id %s re-entered.", gate, message.vehicle_id)
            self.present_vehicles[gate] = self.previous_present_vehicles.pop(message.vehicle_id)
        present = self.present_vehicles.get(gate)
        if present is None or not present.locked:
            present = self.present_vehicles[gate] = _data(message)
        self.log.info("%s: Vehicle %s entered.", gate, present)
        self._call([FilterType.enter, FilterType.any_enter], present, message)

    def _on_change(self, message: PresentVehicleChangeMessage) -> None:
        gate = message.gate
        present = self.present_vehicles.get(gate)
        if present and present.vehicle_id != message.vehicle_id:
            self.log.error("%s: Received change message with different vehicle id. "
                           "Faking leave and, if different plate, forward.", gate)
            self._fake_leave(present, _plate(message))
        present = self.present_vehicles.get(gate)
        if present is None:
            self.log.warning("%s: Received change message while no vehicle present. Handle like enter.", gate)
            self._on_enter(message)
            return
        if present.locked:
            self.log.info("%s: Vehicle is locked, ignoring change message.", gate)
            return
        filter_types = self._change_types(present, message)
        present = self.present_vehicles[gate] = _data(message)
        self.log.info("%s: Vehicle %s changed.", gate, present)
        self._call(filter_types, present, message)

    def _on_leave(self, message: PresentVehicleLeaveMessage) -> None:
        now = utcnow()
        remembered = self.previous_present_vehicles
        for vehicle_id in [vehicle_id for vehicle_id, vehicle in remembered.items()
                           if not (vehicle.leave_time and now - vehicle.leave_time < _REMEMBER_LEFT)]:
            del remembered[vehicle_id]
        present = self.present_vehicles.get(message.gate)
        if present is None:
            self.log.warning("%s: Received leave message while no vehicle present. Doing nothing.", message.gate)
            return
        present.leave_time = message.leave_time
        if present.vehicle_id != message.vehicle_id:
            self.log.warning("%s: Received leave message with different vehicle id.", message.gate)
        if present.lpr_front or present.lpr_back:
            leave_type = FilterType.leave
            self.log.info("%s: Vehicle %s left.", message.gate, present)
        else:
            self.log.error("%s: Received leave message while vehicle %s without plate is present. "
                           "This is a bug in presence service.", message.gate, present)
            leave_type = FilterType.empty_leave
        self._call([leave_type, FilterType.any_leave], present, message)
        self.previous_present_vehicles[present.vehicle_id] = present
        self.present_vehicles[message.gate] = None

    def _on_drove_on(self, message: PresentVehicleForwardMessage | PresentVehicleBackwardMessage,
                     filter_type: FilterType) -> None:
        left = self.previous_present_vehicles.get(message.vehicle_id)
        if left is None:
            self.log.error("%s: Received %s message for unknown vehicle id. Doing nothing.", message.gate,
                           filter_type)
            return
        self.log.info("%s: Vehicle %s %s.", message.gate, left, filter_type)
        self._call([filter_type], left, message)  # (callbacks still find it among the vehicles that left)
        self.previous_present_vehicles.pop(message.vehicle_id, None)

    def _on_forward(self, message: PresentVehicleForwardMessage) -> None:
        self._on_drove_on(message, FilterType.forward)

    def _on_backward(self, message: PresentVehicleBackwardMessage) -> None:
        self._on_drove_on(message, FilterType.backward)

    def _on_passing(self, message: PresentVehiclePassingMessage) -> None:
        self.log.info("%s: Vehicle %s passed.", message.gate, message)
        self._call([FilterType.passing], None, message)

    def _on_empty_enter(self, message: PresentVehicleEmptyEnterMessage) -> None:
        if (present := self.present_vehicles.get(message.gate)) is not None:
            self.log.warning("%s: Received empty enter message while vehicle already present. "
                             "Faking leave and, if different plate, forward.", message.gate)
            self._fake_leave(present)
        present = self.present_vehicles[message.gate] = PresentVehicleData(
            vehicle_id=message.vehicle_id, gate=message.gate, enter_time=message.enter_time)
        self.log.info("%s: Empty vehicle %s entered.", message.gate, message.vehicle_id)
        self._call([FilterType.empty_enter, FilterType.any_enter], present, message)

    def _on_empty_leave(self, message: PresentVehicleEmptyLeaveMessage) -> None:
        present = self.present_vehicles.get(message.gate)
        if present is None:
            self.log.warning("%s: Received empty leave message while no vehicle present. Doing nothing.",
                             message.gate)
            return
        present.leave_time = message.leave_time
        if present.vehicle_id != message.vehicle_id:
            self.log.warning("%s: Received empty leave message with different vehicle id.", message.gate)
        if present.lpr_front or present.lpr_back:
            self.log.error("%s: Received empty leave message while vehicle %s with LPR present. "
                           "This is a bug in presence service.", message.gate, present)
            leave_type = FilterType.leave
        else:
            leave_type = FilterType.empty_leave
        self.present_vehicles[message.gate] = None
        self._call([leave_type, FilterType.any_leave], present, message)

    def _on_triggered(self, message: PresentVehicleTriggeredMessage) -> None:
        present = self.present_vehicles.get(message.gate)
        if present and present.vehicle_id != message.vehicle_id:
            self.log.warning("%s: Received trigger message with different vehicle id. "
                             "Faking leave and, if different plate, forward.", message.gate)
            self._fake_leave(present, _plate(message))
        if self.present_vehicles.get(message.gate) is None:
            present = self.present_vehicles[message.gate] = _data(message)
            enter_type = FilterType.enter if message.lpr_front or message.lpr_back else FilterType.empty_enter
            self.log.info("%s: Initialized with vehicle %s", message.gate, present)
            self._call([enter_type, FilterType.any_enter], present, message)
