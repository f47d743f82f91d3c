"""The vehicles present at a gate: the ``present_vehicle`` messages of the presence service and the
``presence``/``trigger`` RPC (openmodule 18.5.0's ``models/vehicle_listener.py``)."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal, Self

from pydantic import model_validator

from ._models import Datetime, OpenModuleModel, ZMQMessage
from ._vehicle import LprData, VehicleData

__all__ = [
    "PRESENCE_TOPIC",
    "PresenceTriggerRequest",
    "PresenceTriggerResponse",
    "PresentVehicleBackwardMessage",
    "PresentVehicleChangeMessage",
    "PresentVehicleData",
    "PresentVehicleEmptyEnterMessage",
    "PresentVehicleEmptyLeaveMessage",
    "PresentVehicleEnterMessage",
    "PresentVehicleForwardMessage",
    "PresentVehicleInitMessage",
    "PresentVehicleLeaveMessage",
    "PresentVehicleMessage",
    "PresentVehiclePassingMessage",
    "PresentVehicleTriggeredMessage",
    "VehicleDirection",
]

PRESENCE_TOPIC = "present_vehicle"


class VehicleDirection(StrEnum):
    """How a vehicle drove (openmodule's ``models.vehicle_listener.Direction``; not the gateway's
    :class:`Direction`)."""

    forward = "forward"
    backward = "backward"
    unsure = "unsure"


class PresentVehicleMessage(ZMQMessage):
    vehicle_id: str
    gate: str


class _WithLpr(PresentVehicleMessage):
    """A message about a vehicle with a plate: front, back or both."""

    lpr_front: LprData | None = None
    lpr_back: LprData | None = None
    enter_direction: VehicleDirection
    enter_time: Datetime

    @model_validator(mode="after")
    def _needs_a_plate(self) -> Self:
        if self.lpr_front is None and self.lpr_back is None:
            raise ValueError(f"{self.type.capitalize()} messages must have at least one LPR data (front or back)")
        return self


class PresentVehicleEnterMessage(_WithLpr):
    type: Literal["enter"] = "enter"


class PresentVehicleChangeMessage(_WithLpr):
    type: Literal["change"] = "change"


class PresentVehicleLeaveMessage(_WithLpr):
    type: Literal["leave"] = "leave"
    leave_time: Datetime


class _DroveOn(_WithLpr):
    """The vehicle left the gate through it (forward) or back (backward)."""

    leave_time: Datetime

    def to_vehicle_data(self) -> PresentVehicleData:
        return PresentVehicleData(vehicle_id=self.vehicle_id, gate=self.gate, lpr_front=self.lpr_front,
                                  lpr_back=self.lpr_back, enter_direction=self.enter_direction,
                                  enter_time=self.timestamp, leave_time=self.timestamp)


class PresentVehicleForwardMessage(_DroveOn):
    type: Literal["forward"] = "forward"


class PresentVehicleBackwardMessage(_DroveOn):
    type: Literal["backward"] = "backward"


class PresentVehiclePassingMessage(PresentVehicleMessage):
    type: Literal["passing"] = "passing"
    lpr: LprData
    enter_direction: VehicleDirection
    leave_direction: VehicleDirection

    def __str__(self) -> str:
        return f"{self.vehicle_id}: {self.lpr} ({self.leave_direction})"

    def to_vehicle_data(self) -> PresentVehicleData:
        return PresentVehicleData(vehicle_id=self.vehicle_id, gate=self.gate,
                                  lpr_front=None if self.lpr.from_behind else self.lpr,
                                  lpr_back=self.lpr if self.lpr.from_behind else None,
                                  enter_direction=self.enter_direction, enter_time=self.timestamp,
                                  leave_time=self.timestamp)


class PresentVehicleEmptyEnterMessage(PresentVehicleMessage):
    type: Literal["empty_enter"] = "empty_enter"
    enter_time: Datetime


class PresentVehicleEmptyLeaveMessage(PresentVehicleMessage):
    type: Literal["empty_leave"] = "empty_leave"
    enter_time: Datetime
    leave_time: Datetime


class PresentVehicleTriggeredMessage(PresentVehicleMessage):
    type: Literal["triggered"] = "triggered"
    lpr_front: LprData | None = None
    lpr_back: LprData | None = None
    enter_direction: VehicleDirection = VehicleDirection.unsure
    enter_time: Datetime


class PresentVehicleInitMessage(ZMQMessage):
    """Sent by the presence service after its restart: the vehicle present at the gate now (None: none)."""

    type: Literal["init"] = "init"
    gate: str
    vehicle_id: str | None = None


class PresentVehicleData(VehicleData):
    gate: str
    enter_direction: VehicleDirection = VehicleDirection.unsure
    enter_time: Datetime
    leave_time: Datetime | None = None
    locked: bool = False

    def __str__(self) -> str:
        if self.lpr_front and self.lpr_back:
            return f"{self.vehicle_id}: {self.lpr_front} | {self.lpr_back} ({self.enter_direction})"
        return f"{self.vehicle_id}: {self.lpr_front or self.lpr_back} ({self.enter_direction})"


class PresenceTriggerRequest(OpenModuleModel):
    gate: str


class PresenceTriggerResponse(OpenModuleModel):
    present_vehicle: PresentVehicleData | None = None
