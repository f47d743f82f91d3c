"""Simulated presence for plugin tests (openmodule-test's ``VehicleSimulator``): the ``present_vehicle``
messages a presence service sends while vehicles come and go at a gate.

    simulator = VehicleSimulator("entry1", lambda message: om_client.publish("present_vehicle", message))
    car = VehicleBuilder("G ARIVO1", "A", VehicleDirection.forward)
    simulator.enter(car); car.set_plate("G ARIVO2"); simulator.change(car); simulator.leave(car)
    simulator.forward(car)
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from openmodule_hookspecs import (
    LprData,
    PresentVehicleBackwardMessage,
    PresentVehicleChangeMessage,
    PresentVehicleData,
    PresentVehicleEmptyEnterMessage,
    PresentVehicleEmptyLeaveMessage,
    PresentVehicleEnterMessage,
    PresentVehicleForwardMessage,
    PresentVehicleLeaveMessage,
    PresentVehicleMessage,
    PresentVehiclePassingMessage,
    VehicleDirection,
    utcnow,
)

__all__ = ["VehicleBuilder", "VehicleSimulator"]

#: keeps vehicle ids unique even when the clock stands still (e.g. frozen in a test)
_COUNTER = itertools.count()


class VehicleBuilder:
    """A vehicle: a nanosecond-clock id, plates front and back, direction and times."""

    def __init__(self, plate: str | None, country: str | None = None,
                 enter_direction: VehicleDirection = VehicleDirection.unsure) -> None:
        self.vehicle_id = str(time.time_ns() + next(_COUNTER))
        self.lpr_front: LprData | None = None
        self.lpr_back: LprData | None = None
        if plate:
            self.set_plate(plate, country or "A")
        self.enter_direction = enter_direction
        self.enter_time = utcnow()
        self.leave_time: datetime | None = None

    def set_plate(self, plate: str, country: str = "A", from_behind: bool = False) -> VehicleBuilder:
        """Set (or change) the plate read from the front, or from behind."""
        current = self.lpr_back if from_behind else self.lpr_front
        if current is not None:
            current.plate = plate
            return self
        lpr = LprData(source="test_back" if from_behind else "test_front", plate=plate, country=country,
                      state=plate.split(" ")[0], rows=1, from_behind=from_behind, track_id=time.time_ns())
        if from_behind:
            self.lpr_back = lpr
        else:
            self.lpr_front = lpr
        return self

    def get_data(self, gate: str = "", leave_time: datetime | None = None) -> PresentVehicleData:
        return PresentVehicleData(vehicle_id=self.vehicle_id, gate=gate, lpr_front=self.lpr_front,
                                  lpr_back=self.lpr_back, enter_direction=self.enter_direction,
                                  enter_time=self.enter_time, leave_time=leave_time)

    def get_standard_kwargs(self, gate: str) -> dict[str, Any]:
        return {"vehicle_id": self.vehicle_id, "gate": gate, "lpr_front": self.lpr_front, "lpr_back": self.lpr_back,
                "enter_direction": self.enter_direction, "enter_time": self.enter_time,
                "leave_time": self.leave_time}


class VehicleSimulator:
    """Sends (through ``emit``) what the presence service sends for ``gate``."""

    def __init__(self, gate: str, emit: Callable[[PresentVehicleMessage], None]) -> None:
        self.gate = gate
        self.emit = emit

    @staticmethod
    def _leave_time(vehicle: VehicleBuilder) -> datetime:
        """When the vehicle left: its ``leave_time``, set to now if it had none."""
        if vehicle.leave_time is None:
            vehicle.leave_time = utcnow()
        return vehicle.leave_time

    def _left(self, vehicle: VehicleBuilder) -> dict[str, Any]:
        self._leave_time(vehicle)
        return vehicle.get_standard_kwargs(self.gate)

    def enter(self, vehicle: VehicleBuilder) -> None:
        self.emit(PresentVehicleEnterMessage(**vehicle.get_standard_kwargs(self.gate)))

    def change(self, vehicle: VehicleBuilder) -> None:
        self.emit(PresentVehicleChangeMessage(**vehicle.get_standard_kwargs(self.gate)))

    def leave(self, vehicle: VehicleBuilder) -> None:
        self.emit(PresentVehicleLeaveMessage(**self._left(vehicle)))

    def forward(self, vehicle: VehicleBuilder) -> None:
        self.emit(PresentVehicleForwardMessage(**self._left(vehicle)))

    def backward(self, vehicle: VehicleBuilder) -> None:
        self.emit(PresentVehicleBackwardMessage(**self._left(vehicle)))

    def passing(self, vehicle: VehicleBuilder, direction: VehicleDirection) -> None:
        lpr = vehicle.lpr_front or vehicle.lpr_back
        if lpr is None:
            raise ValueError("a passing vehicle needs a plate (front or back)")
        self._leave_time(vehicle)
        self.emit(PresentVehiclePassingMessage(vehicle_id=vehicle.vehicle_id, gate=self.gate, lpr=lpr,
                                               enter_direction=vehicle.enter_direction, leave_direction=direction))

    def empty_enter(self, vehicle: VehicleBuilder) -> None:
        self.emit(PresentVehicleEmptyEnterMessage(vehicle_id=vehicle.vehicle_id, gate=self.gate,
                                                  enter_time=vehicle.enter_time))

    def empty_leave(self, vehicle: VehicleBuilder) -> None:
        leave_time = self._leave_time(vehicle)
        self.emit(PresentVehicleEmptyLeaveMessage(vehicle_id=vehicle.vehicle_id, gate=self.gate,
                                                  enter_time=vehicle.enter_time, leave_time=leave_time))
