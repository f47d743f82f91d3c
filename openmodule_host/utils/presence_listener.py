"""Following the vehicles tracking reports (openmodule's ``PresenceListener``, ``utils/presence.py``).

``PresenceListener(core.messages, gate=None)`` reads the tracking service's ``presence`` messages (of one
gate, or of all) and keeps the vehicle present at each gate. Its event lists ``on_enter``, ``on_change``,
``on_leave``, ``on_forward`` and ``on_backward`` call their callbacks with ``(vehicle, gateway)``; a callback
that raises is logged and the others still run.

A gate may be watched by several cameras, each with its own *present area*, so one vehicle can arrive as
two (one per area). The listener keeps the first and drops the other's messages, unless the other has a
medium and the present one has none: then the present one leaves (a faked ``on_leave``) and the better
one takes its place. A vehicle that left one area and shows up in another within ``deduplication_timeout``
with the same plate (compared in the legacy charset) or with no medium at all is dropped too.
Inconsistent sequences are repaired as openmodule does: an enter (or a change with another vehicle id)
while a vehicle is present fakes that one's leave; a leave of another vehicle leaves both; a forward or
backward of the present vehicle that never left fakes its leave first.

It needs its messages in order: in the host, a plugin's handlers run one at a time on its worker, in
arrival order, so it can be used as it is. The callbacks run on that worker too.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from openmodule_hookspecs import (
    LEGACY_PRESENCE_TOPIC,
    EventListener,
    Gateway,
    Messages,
    OpenModuleModel,
    PresenceBackwardMessage,
    PresenceBaseData,
    PresenceBaseMessage,
    PresenceChangeMessage,
    PresenceEnterMessage,
    PresenceForwardMessage,
    PresenceLeaveMessage,
    PresenceRPCRequest,
    PresenceRPCResponse,
    RPCClient,
    Vehicle,
    utcnow,
)

from .bounded_states import BoundedStates
from .charset import CharsetConverter, legacy_lpr_charset

__all__ = ["PresenceListener"]

#: how long a vehicle dropped as a duplicate stays dropped (and a faked-away one stays on the drop list)
_DROP_FOR = timedelta(hours=1)
#: how long after its enter a vehicle that had a medium (or left) is never dropped
_NEVER_DROP_FOR = timedelta(hours=1)
#: how long a left vehicle is kept for de-duplication after its de-duplication timeout
_KEEP_LEFT_FOR = timedelta(minutes=10)
#: the settings key of the garage's gates (``init_present_vehicles`` without a gate)
_GATES_SETTING = "common/gates"

_plates = CharsetConverter(legacy_lpr_charset)


@dataclass
class _DropEntry:
    #: drop whatever the vehicle carries (else only while it has no medium)
    always: bool
    until: datetime


@dataclass
class _LeftVehicle:
    """A vehicle with a plate that left a present area: the same plate (or a vehicle without media) in
    another present area of the gate soon after is the same vehicle, seen by the other camera."""

    plate: str
    present_area_name: str
    timeout: datetime
    drop: set[int] = field(default_factory=set)

    def see(self, vehicle: Vehicle, present_area_name: str, message_type: str) -> None:
        """Put ``vehicle`` on this one's drop list, or take it off, for a message about it."""
        if present_area_name == self.present_area_name:
            return  # the same camera: a vehicle of its own, never a duplicate
        same_plate = vehicle.lpr is not None and self.plate == _plates.clean(vehicle.lpr.id)
        if message_type == "change" and vehicle.has_media() and not same_plate:
            self.drop.discard(vehicle.id)  # it turned out to be another vehicle
        elif utcnow() > self.timeout:
            if message_type == "change":
                self.drop.discard(vehicle.id)
        elif same_plate or not vehicle.has_media():
            self.drop.add(vehicle.id)

    def expired(self) -> bool:
        return utcnow() > self.timeout + _KEEP_LEFT_FOR


class _Settings(Protocol):
    """Anything that gives a garage setting by its key (openmodule's settings provider)."""

    def get(self, key: str) -> Any: ...


class _Setting(OpenModuleModel):
    """The answer of RPC ``settings``/``get``."""

    value: Any = None
    success: bool = False
    error: str | None = None


class PresenceListener:
    def __init__(self, dispatcher: Messages, gate: str | None = None,
                 deduplication_timeout: timedelta = timedelta(seconds=10), *, rpc_client: RPCClient | None = None
                 ) -> None:
        """Listen on ``dispatcher`` (``core.messages``) to the ``presence`` messages of ``gate`` (None: of
        every gate). ``rpc_client`` (``core.rpc_client``) is what :meth:`init_present_vehicles` asks."""
        self.gate = gate
        self.deduplication_timeout = deduplication_timeout
        self.rpc_client = rpc_client
        self.log = logging.getLogger("PresenceListener" + (f" {gate}" if gate else ""))
        self.on_enter = EventListener(log=self.log)
        self.on_change = EventListener(log=self.log)
        self.on_leave = EventListener(log=self.log)
        self.on_forward = EventListener(log=self.log)
        self.on_backward = EventListener(log=self.log)
        # Every table below is kept per gate or vehicle id that the messages name: bounded (see .bounded_states).
        #: the vehicle present at each gate
        self.present_vehicles: BoundedStates[str, Vehicle] = BoundedStates("gates", self.log)
        #: the present area the present vehicle of each gate is in
        self.area_name_of_present: BoundedStates[str, str] = BoundedStates("gates", self.log)
        #: vehicle ids dropped as duplicates (one list for every gate: vehicle ids are unique)
        self.drop_list: BoundedStates[int, _DropEntry] = BoundedStates("dropped vehicle ids", self.log)
        #: vehicles never to drop: they had a medium, or left (until their forward or backward)
        self.never_drop_list: BoundedStates[int, Vehicle] = BoundedStates("vehicles never to drop", self.log)
        #: per gate, the vehicles with a plate that left lately
        self.last_vehicle_data: BoundedStates[str, list[_LeftVehicle]] = BoundedStates("gates", self.log)
        topic, register = LEGACY_PRESENCE_TOPIC, dispatcher.register_handler  # one line per type: each checked
        register(topic, PresenceEnterMessage, self._on_enter)
        register(topic, PresenceChangeMessage, self._on_change)
        register(topic, PresenceLeaveMessage, self._on_leave)
        register(topic, PresenceForwardMessage, self._on_forward)
        register(topic, PresenceBackwardMessage, self._on_backward)

    @property
    def present_vehicle(self) -> Vehicle | None:
        """The vehicle present at the listener's gate (only for a listener of one gate)."""
        if self.gate is None:
            raise ValueError("present_vehicle needs a listener of one gate; this one listens to every gate: "
                             "use present_vehicles[gate]")
        return self.present_vehicles.get(self.gate)

    # -- the initial state -------------------------------------------------------------------------

    def init_present_vehicles(self, settings_provider: _Settings | None = None, *,
                              rpc_client: RPCClient | None = None) -> None:
        """Ask tracking (RPC ``tracking``/``get-present``) for the vehicle present at the gate, or at every
        gate of the garage setting ``common/gates`` that is not a door, and take each as entered. Errors
        and timeouts are logged; the gate stays as it was.

        ``settings_provider`` (anything with ``get(key)``) gives the gates; without one they are asked
        with RPC ``settings``/``get`` (1 s timeout)."""
        client = rpc_client or self.rpc_client
        if client is None:
            raise TypeError("init_present_vehicles needs an RPC client: PresenceListener(..., "
                            "rpc_client=core.rpc_client) or init_present_vehicles(rpc_client=core.rpc_client)")
        gates = [self.gate] if self.gate is not None else self._garage_gates(settings_provider, client)
        requests = {gate: client.rpc_non_blocking("tracking", "get-present", PresenceRPCRequest(gate=gate))
                    for gate in gates}
        for gate, request in requests.items():
            try:
                presents = request.result(PresenceRPCResponse).presents
            except TimeoutError:
                self.log.error("get-present RPC timeout", extra={"gate": gate})
                continue
            except Exception:
                self.log.exception("get-present RPC error", extra={"gate": gate})
                continue
            if presents:
                try:
                    self._on_enter(self._as_enter(presents[0]))
                except Exception:
                    self.log.exception("get-present: the present vehicle could not be taken", extra={"gate": gate})

    def _garage_gates(self, settings_provider: _Settings | None, client: RPCClient) -> list[str]:
        try:
            if settings_provider is not None:
                setting = settings_provider.get(_GATES_SETTING)
            else:
                answer = client.rpc("settings", "get", {"key": _GATES_SETTING, "scope": ""}, _Setting, timeout=1.0)
                if not answer.success:
                    raise LookupError(f"setting {_GATES_SETTING}: {answer.error}")
                setting = answer.value
            if not isinstance(setting, Mapping):
                raise ValueError(f"{_GATES_SETTING} is not a mapping of gates: {setting!r}")
            return [gate for gate, details in setting.items() if _gate_type(details) != "door"]
        except TimeoutError:
            self.log.error("Gate is None and could not get gates (timeout)")
        except Exception:
            self.log.exception("Gate is None and could not get gates")
        return []

    @staticmethod
    def _as_enter(data: PresenceBaseData) -> PresenceEnterMessage:
        return PresenceEnterMessage.model_validate(data.model_dump())

    # -- de-duplication ----------------------------------------------------------------------------

    def _should_drop(self, message: PresenceBaseMessage, vehicle: Vehicle) -> bool:
        """Whether the message is about a duplicate of a vehicle seen by another camera of the gate. A
        better duplicate (one with a medium, where the present one has none) replaces the present one."""
        gate = message.gateway.gate
        area = message.present_area_name
        left = self.last_vehicle_data[gate] = [entry for entry in self.last_vehicle_data.get(gate, [])
                                               if not entry.expired()]
        for entry in left:
            entry.see(vehicle, area, message.type)

        if vehicle.id in self.never_drop_list:
            return False
        if (dropped := self.drop_list.get(vehicle.id)) and (dropped.always or not vehicle.has_media()):
            return True
        present = self.present_vehicles.get(gate)
        if present is None:
            # the same vehicle again after it left the other camera's area
            return any(vehicle.id in entry.drop for entry in left)
        if present.id == vehicle.id:
            return False
        if self.area_name_of_present.get(gate, "") == area and message.type in ("enter", "change", "leave"):
            return False  # the present vehicle's own camera: the usual repairs apply
        if not present.has_media() and vehicle.has_media():
            self.log.warning("Got better vehicle from another present area. A leave will be faked for the old "
                             "vehicle to get a consistent setup for the new vehicle.",
                             extra={"present_vehicle": str(present), "new_vehicle": str(vehicle)})
            if present.leave_time is None:
                present.leave_time = utcnow()
            self.drop_list.pop(vehicle.id, None)
            self.drop_list[present.id] = _DropEntry(True, utcnow() + _DROP_FOR)
            del self.present_vehicles[gate]
            self.on_leave(present, message.gateway)
            return False
        self.drop_list[vehicle.id] = _DropEntry(present.has_media(), utcnow() + _DROP_FOR)
        return True

    def _forget_old(self) -> None:
        now = utcnow()
        for vehicle_id in [vehicle_id for vehicle_id, entry in self.drop_list.items() if now >= entry.until]:
            del self.drop_list[vehicle_id]
        for vehicle_id in [vehicle_id for vehicle_id, vehicle in self.never_drop_list.items()
                           if now >= vehicle.enter_time + _NEVER_DROP_FOR]:
            del self.never_drop_list[vehicle_id]

    # -- what happens ------------------------------------------------------------------------------

    def _gate_matches(self, message: PresenceBaseMessage) -> bool:
        return self.gate is None or message.gateway.gate == self.gate

    def _leave(self, vehicle: Vehicle, gateway: Gateway) -> None:
        if vehicle.leave_time is None:
            vehicle.leave_time = utcnow()
        self.present_vehicles.pop(gateway.gate, None)
        self.area_name_of_present.pop(gateway.gate, None)
        self.never_drop_list[vehicle.id] = vehicle
        self.on_leave(vehicle, gateway)

    def _on_enter(self, message: PresenceEnterMessage) -> None:
        if not self._gate_matches(message):
            return
        vehicle = message.to_vehicle()
        if self._should_drop(message, vehicle):
            return
        if vehicle.has_media():
            self.never_drop_list[vehicle.id] = vehicle
        gate = message.gateway.gate
        self.log.debug("presence enter: %s", vehicle)
        if present := self.present_vehicles.get(gate):
            self.log.error("A new vehicle entered while one was still present. Tracking is inconsistent. "
                           "A leave will be faked, to ensure consistent states.",
                           extra={"present_vehicle": str(present), "new_vehicle": str(vehicle)})
            self._leave(present, message.gateway)
        self.present_vehicles[gate] = vehicle
        self.area_name_of_present[gate] = message.present_area_name
        self.on_enter(vehicle, message.gateway)

    def _on_change(self, message: PresenceChangeMessage) -> None:
        if not self._gate_matches(message):
            return
        vehicle = message.to_vehicle()
        gate = message.gateway.gate
        was_present = gate in self.present_vehicles
        if self._should_drop(message, vehicle):
            return
        if vehicle.has_media():
            self.never_drop_list[vehicle.id] = vehicle
        present = self.present_vehicles.get(gate)
        if present is not None and present.id != vehicle.id:
            self.log.debug("vehicle_id changed in presence change: %s. Faking leave and triggering presence enter!",
                           vehicle)
            self._leave(present, message.gateway)
            present = None
        self.present_vehicles[gate] = vehicle
        self.area_name_of_present[gate] = message.present_area_name
        if present is not None:
            self.log.debug("presence change: %s", vehicle)
            self.on_change(vehicle, message.gateway)
            return
        # usual where several cameras watch the gate (the present one was just replaced): no warning then
        (self.log.debug if was_present else self.log.warning)("presence enter triggered by change: %s", vehicle)
        self.on_enter(vehicle, message.gateway)

    def _on_leave(self, message: PresenceLeaveMessage) -> None:
        if not self._gate_matches(message):
            return
        vehicle = message.to_vehicle()
        if self._should_drop(message, vehicle):
            return
        gate = message.gateway.gate
        self.log.debug("presence leave: %s", vehicle)
        present = self.present_vehicles.get(gate)
        if present is None:
            self.log.error("A vehicle left while non was previously present. Tracking is inconsistent. "
                           "The leave will be ignored, to ensure consistent states.",
                           extra={"leaving_vehicle": str(vehicle)})
            return
        if present.id != vehicle.id:
            self.log.error("A vehicle left with a different vehicle id than the present one. Tracking is "
                           "inconsistent. We are fake-leaving the currently present vehicle, to ensure consistent "
                           "states.", extra={"present_vehicle": str(present), "leaving_vehicle": str(vehicle)})
            self._leave(present, message.gateway)
        self._leave(vehicle, message.gateway)
        self._forget_old()
        if vehicle.lpr:
            self.last_vehicle_data[gate].append(_LeftVehicle(
                _plates.clean(vehicle.lpr.id), message.present_area_name, utcnow() + self.deduplication_timeout))

    def _on_drove_on(self, message: PresenceForwardMessage | PresenceBackwardMessage, event: EventListener) -> None:
        if not self._gate_matches(message):
            return
        vehicle = message.to_vehicle()
        drop = self._should_drop(message, vehicle)
        self.drop_list.pop(vehicle.id, None)
        if drop:
            return
        present = self.present_vehicles.get(message.gateway.gate)
        if present is not None and present.id == message.vehicle_id:
            self.log.error("Got %s without a leave. We generate a leave ourself.", message.type)
            # read as a leave, it keeps its type (forward or backward), as in openmodule
            self._on_leave(PresenceLeaveMessage.model_validate(message.model_dump()))
        self.log.debug("presence %s: %s", message.type, vehicle)
        event(vehicle, message.gateway)
        self.never_drop_list.pop(vehicle.id, None)

    def _on_forward(self, message: PresenceForwardMessage) -> None:
        self._on_drove_on(message, self.on_forward)

    def _on_backward(self, message: PresenceBackwardMessage) -> None:
        self._on_drove_on(message, self.on_backward)


def _gate_type(details: Any) -> Any:
    """A gate's ``type`` in the gates setting (a mapping or an object with the attribute)."""
    return details.get("type") if isinstance(details, Mapping) else getattr(details, "type", None)
