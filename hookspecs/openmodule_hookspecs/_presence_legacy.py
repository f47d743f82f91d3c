"""The tracking service's ``presence`` topic (the old presence interface, wire-protocol.md section 5.6):
openmodule 18.5.0's ``models/presence.py`` and the ``Vehicle`` of ``models/vehicle.py`` with their wire field
names and aliases.

Every message carries the envelope plus :class:`PresenceBaseData`; the RPC ``tracking``/``get-present``
answers the same base data without the envelope. Aliased fields (``present-area-name``, ``leave-time``,
``num-presents``) are read by alias or by their Python name; the alias wins when both are there.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Self

from pydantic import ConfigDict, Field, model_validator

from ._models import Datetime, OpenModuleModel, ZMQMessage
from ._vehicle import Gateway, LPRMedium, MakeModel, Medium, MediumType

__all__ = [
    "LEGACY_PRESENCE_TOPIC",
    "EnterDirection",
    "NFCMedium",
    "PINMedium",
    "PresenceAllIds",
    "PresenceBackwardMessage",
    "PresenceBaseData",
    "PresenceBaseMessage",
    "PresenceChangeMessage",
    "PresenceEnterMessage",
    "PresenceForwardMessage",
    "PresenceLeaveMessage",
    "PresenceMedia",
    "PresenceRPCRequest",
    "PresenceRPCResponse",
    "QRMedium",
    "RegexMedium",
    "Vehicle",
]

#: The tracking service's topic (``PRESENCE_TOPIC`` is the newer presence service's ``present_vehicle``).
LEGACY_PRESENCE_TOPIC = "presence"


class QRMedium(Medium):
    type: MediumType = MediumType.qr
    binary: str | None = None


class PINMedium(Medium):
    type: MediumType = MediumType.pin


class NFCMedium(Medium):
    type: MediumType = MediumType.nfc


class RegexMedium(Medium):
    type: MediumType = MediumType.regex


class PresenceAllIds(OpenModuleModel):
    """Every medium seen on the vehicle, by kind."""

    lpr: list[LPRMedium] | None = None
    qr: list[Medium] | None = None
    nfc: list[Medium] | None = None
    pin: list[Medium] | None = None


class EnterDirection(StrEnum):
    forward = "forward"
    backward = "backward"
    unknown = "unknown"


class Vehicle(OpenModuleModel):
    """A vehicle as the :class:`~openmodule_host.utils.PresenceListener` hands it to its callbacks."""

    id: int
    lpr: LPRMedium | None = None
    qr: Medium | None = None
    nfc: Medium | None = None
    pin: Medium | None = None
    make_model: MakeModel | None = None
    all_ids: PresenceAllIds = Field(default_factory=PresenceAllIds)
    enter_direction: EnterDirection = EnterDirection.unknown
    enter_time: Datetime
    leave_time: Datetime | None = None

    def iterate_media(self) -> Iterator[Medium]:
        """The media the vehicle has: plate, QR code, NFC card, PIN (in that order)."""
        return (medium for medium in (self.lpr, self.qr, self.nfc, self.pin) if medium)

    def has_media(self) -> bool:
        return any(self.iterate_media())

    def __str__(self) -> str:
        text = "".join(f", {medium}" for medium in (self.lpr, self.qr, self.nfc) if medium)
        if self.make_model:
            text += f"{' ' if text else ''}{self.make_model}"
        return f"Vehicle<id:{str(self.id)[-7:]}{text}>"


class PresenceMedia(OpenModuleModel):
    lpr: LPRMedium | None = None
    qr: QRMedium | None = None
    nfc: Medium | None = None
    pin: Medium | None = None


class PresenceBaseData(OpenModuleModel):
    """What tracking knows of a vehicle in a present area. ``vehicle_id`` is the nanosecond UTC time it was
    first seen; without an ``enter_time`` that time is taken as the enter time."""

    model_config = ConfigDict(validate_by_name=True, validate_by_alias=True)

    vehicle_id: int
    source: str
    present_area_name: str = Field(validation_alias="present-area-name", serialization_alias="present-area-name")
    last_update: Datetime
    gateway: Gateway
    medium: PresenceMedia
    make_model: MakeModel | None = None
    all_ids: PresenceAllIds
    enter_direction: EnterDirection = EnterDirection.unknown
    enter_time: Datetime | None = None

    @model_validator(mode="after")
    def _enter_time_from_id(self) -> Self:
        if self.enter_time is None:
            self.enter_time = self._entered()  # (validated into naive UTC)
        return self

    def _entered(self) -> datetime:
        """The enter time: the one given, else the vehicle id's (its nanoseconds since the epoch)."""
        if self.enter_time is not None:
            return self.enter_time
        try:
            return datetime.fromtimestamp(self.vehicle_id / 1e9, UTC)  # float division, as openmodule
        except (OverflowError, OSError, ValueError):
            raise ValueError(f"vehicle_id {self.vehicle_id} is not a nanosecond timestamp, and there is "
                             "no enter_time") from None

    def to_vehicle(self) -> Vehicle:
        """The vehicle the message is about (its leave time: the message's ``leave-time``, if it has one)."""
        media = self.medium
        return Vehicle(id=self.vehicle_id, lpr=media.lpr, qr=media.qr, nfc=media.nfc, pin=media.pin,
                       make_model=self.make_model, all_ids=self.all_ids, enter_direction=self.enter_direction,
                       enter_time=self._entered(), leave_time=getattr(self, "leave_time", None))


class PresenceBaseMessage(PresenceBaseData, ZMQMessage):
    """A ``presence`` message. ``type`` is a plain string (as in openmodule), so a message of one kind can be
    re-read as another and keep its type."""


class PresenceEnterMessage(PresenceBaseMessage):
    type: str = "enter"


class PresenceChangeMessage(PresenceBaseMessage):
    type: str = "change"
    change_vehicle_id: bool | None = None


class PresenceLeaveMessage(PresenceBaseMessage):
    """Without a ``leave-time`` the vehicle left when the message was sent (its envelope ``timestamp``)."""

    type: str = "leave"
    num_presents: int = Field(default=0, validation_alias="num-presents", serialization_alias="num-presents")
    leave_time: Datetime = Field(validation_alias="leave-time", serialization_alias="leave-time")

    @model_validator(mode="before")
    @classmethod
    def _leave_time_from_timestamp(cls, data: Any) -> Any:
        if not isinstance(data, dict) or data.get("leave-time") is not None or data.get("leave_time") is not None:
            return data
        if "timestamp" not in data:
            raise ValueError("a leave message without leave-time needs the envelope timestamp")
        return {**data, "leave_time": data["timestamp"]}


class _DroveOn(PresenceBaseMessage):
    """The vehicle left the present area through the gate (forward) or back (backward)."""

    unsure: bool = False
    leave_time: Datetime = Field(validation_alias="leave-time", serialization_alias="leave-time")
    bidirectional_inverse: bool = False


class PresenceForwardMessage(_DroveOn):
    type: str = "forward"


class PresenceBackwardMessage(_DroveOn):
    type: str = "backward"


class PresenceRPCRequest(OpenModuleModel):
    """RPC ``tracking``/``get-present``: the vehicle present at ``gate``."""

    gate: str


class PresenceRPCResponse(OpenModuleModel):
    presents: list[PresenceBaseData]
