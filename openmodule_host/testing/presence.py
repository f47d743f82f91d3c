"""Simulated tracking for plugin tests (openmodule-test's ``PresenceSimulator``): the ``presence`` messages
the tracking service sends while vehicles come and go in a gate's present area.

    simulator = PresenceSimulator("entry1", Direction.IN, lambda message: om_client.publish("presence", message))
    car = PresenceSimulator.new_vehicle("G ARIVO1", "A")
    simulator.enter(car); simulator.change(car.model_copy(update={"qr": QRMedium(id="ticket-1")}))
    simulator.leave(); simulator.forward(car)
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from datetime import datetime
from typing import TypedDict

from openmodule_hookspecs import (
    Direction,
    EnterDirection,
    Gateway,
    LPRCountry,
    LPRMedium,
    MakeModel,
    Medium,
    MediumType,
    PresenceAllIds,
    PresenceBackwardMessage,
    PresenceBaseMessage,
    PresenceChangeMessage,
    PresenceEnterMessage,
    PresenceForwardMessage,
    PresenceLeaveMessage,
    PresenceMedia,
    QRMedium,
    Vehicle,
    utcnow,
)

__all__ = ["PresenceSimulator"]

#: keeps vehicle ids unique even when the clock stands still (e.g. frozen in a test)
_COUNTER = itertools.count()


class _Fields(TypedDict):
    """What every presence message of a vehicle carries."""

    vehicle_id: int
    source: str
    present_area_name: str
    last_update: datetime
    gateway: Gateway
    medium: PresenceMedia
    make_model: MakeModel | None
    all_ids: PresenceAllIds
    enter_direction: EnterDirection
    enter_time: datetime


def _as_qr(medium: Medium | None) -> QRMedium | None:
    """A vehicle's QR code as the message's medium needs it: a :class:`QRMedium`. A vehicle read from data
    (``Vehicle.model_validate``) or copied with an update may hold a plain :class:`Medium` there."""
    if medium is None or isinstance(medium, QRMedium):
        return medium
    return QRMedium(id=medium.id, type=medium.type)


class PresenceSimulator:
    """Sends (through ``emit``) what tracking sends for the present area ``present_area_name`` (default
    ``<gate>-present``) of ``gate``. ``current_present`` is the vehicle entered (or changed) last, until it
    leaves."""

    def __init__(self, gate: str, direction: Direction, emit: Callable[[PresenceBaseMessage], None],
                 present_area_name: str | None = None) -> None:
        self.gateway = Gateway(gate=gate, direction=direction)
        self.present_area_name = present_area_name or f"{gate}-present"
        self.emit = emit
        self.current_present: Vehicle | None = None

    @staticmethod
    def new_vehicle(plate: str | None = None, country: str = "A", *, qr: str | None = None, nfc: str | None = None,
                    pin: str | None = None, enter_direction: EnterDirection = EnterDirection.unknown) -> Vehicle:
        """A vehicle first seen now (its id: the nanosecond clock) with the media given, none by default."""
        vehicle_id = time.time_ns() + next(_COUNTER)
        lpr = LPRMedium(id=plate, country=LPRCountry(code=country)) if plate else None
        return Vehicle(id=vehicle_id, lpr=lpr, qr=QRMedium(id=qr) if qr else None,
                       nfc=Medium(id=nfc, type=MediumType.nfc) if nfc else None,
                       pin=Medium(id=pin, type=MediumType.pin) if pin else None,
                       enter_direction=enter_direction, enter_time=utcnow())

    def _fields(self, vehicle: Vehicle) -> _Fields:
        media = PresenceMedia(lpr=vehicle.lpr, qr=_as_qr(vehicle.qr), nfc=vehicle.nfc, pin=vehicle.pin)
        all_ids = vehicle.all_ids
        if all_ids == PresenceAllIds():  # as tracking: every medium the vehicle has, at least
            all_ids = PresenceAllIds(lpr=[media.lpr] if media.lpr else None, qr=[media.qr] if media.qr else None,
                                     nfc=[media.nfc] if media.nfc else None, pin=[media.pin] if media.pin else None)
        return {"vehicle_id": vehicle.id, "source": self.gateway.gate, "present_area_name": self.present_area_name,
                "last_update": utcnow(), "gateway": self.gateway, "medium": media,
                "make_model": vehicle.make_model, "all_ids": all_ids, "enter_direction": vehicle.enter_direction,
                "enter_time": vehicle.enter_time}

    def _left(self, vehicle: Vehicle | None) -> tuple[Vehicle, datetime]:
        """The vehicle that leaves and when: its ``leave_time``, which is set to now if it had none."""
        vehicle = vehicle or self.current_present
        if vehicle is None:
            raise ValueError("no vehicle is present: name the vehicle that leaves")
        if vehicle.leave_time is None:
            vehicle.leave_time = utcnow()
        return vehicle, vehicle.leave_time

    def enter(self, vehicle: Vehicle) -> None:
        self.current_present = vehicle
        self.emit(PresenceEnterMessage(**self._fields(vehicle)))

    def change(self, vehicle: Vehicle) -> None:
        """The present vehicle's media changed (or, with another id, another vehicle replaced it)."""
        self.current_present = vehicle
        self.emit(PresenceChangeMessage(**self._fields(vehicle)))

    def leave(self, vehicle: Vehicle | None = None) -> None:
        """The vehicle (default: the present one) left the present area."""
        vehicle, leave_time = self._left(vehicle)
        if self.current_present is not None and self.current_present.id == vehicle.id:
            self.current_present = None
        self.emit(PresenceLeaveMessage(**self._fields(vehicle), leave_time=leave_time))

    def forward(self, vehicle: Vehicle | None = None) -> None:
        """The vehicle (default: the present one) drove through the gate; send its leave first."""
        vehicle, leave_time = self._left(vehicle)
        self.emit(PresenceForwardMessage(**self._fields(vehicle), leave_time=leave_time))

    def backward(self, vehicle: Vehicle | None = None) -> None:
        """The vehicle (default: the present one) drove back; send its leave first."""
        vehicle, leave_time = self._left(vehicle)
        self.emit(PresenceBackwardMessage(**self._fields(vehicle), leave_time=leave_time))
