"""The legacy backend wire of openmodule 10.x (wire-protocol.md section 6): RPC ``backend``/``auth`` with its
``AccessRequest``/``AccessResponse`` and V2 ``Access`` model, registration on topic ``backend`` and the
``session`` messages.

Shapes as openmodule 10.0.7 sends them: ``Access.start``/``end`` travel as unix float seconds, every other
datetime as a naive ISO string; on input both forms are accepted everywhere.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, tzinfo
from enum import StrEnum
from typing import Any, Self
from zoneinfo import ZoneInfo

from dateutil import rrule
from pydantic import Field, field_serializer, field_validator, model_validator

from ._models import Datetime, OpenModuleModel, ZMQMessage, datetime_to_timestamp, utcnow
from ._vehicle import Gateway, MediumType

__all__ = [
    "BACKEND_CHANNEL",
    "BACKEND_TOPIC",
    "BACKEND_TYPE",
    "SESSION_TOPIC",
    "Access",
    "AccessRequest",
    "AccessResponse",
    "BackendRegisterMessage",
    "BackendRegisterRequestMessage",
    "BackendUnregisterMessage",
    "LegacyAccessCategory",
    "MediumAccesses",
    "SessionDeleteMessage",
    "SessionErrorMessage",
    "SessionExitWithoutEntryMessage",
    "SessionFinishMessage",
    "SessionIncompleteMessage",
    "SessionStartMessage",
]

#: the RPC a legacy backend serves: channel ``backend``, type ``auth``.
BACKEND_CHANNEL = "backend"
BACKEND_TYPE = "auth"
#: the topic of backend registration (``register``, ``register_request``, ``unregister``).
BACKEND_TOPIC = "backend"
#: the topic of the 10.x session messages.
SESSION_TOPIC = "session"
#: the medium types of a legacy ``AccessRequest`` (10.x's ``MediumType``; ``regex`` came later).
_V2_MEDIUM_TYPES = frozenset({MediumType.lpr, MediumType.nfc, MediumType.pin, MediumType.qr})


class LegacyAccessCategory(StrEnum):
    """openmodule 10.x's access categories (its ``AccessCategory``)."""

    booked_digimon = "booked-digimon"
    booked_employee = "booked-employee"
    booked_visitor = "booked-visitor"
    permanent_digimon = "permanent-digimon"
    permanent_employee = "permanent-employee"
    filler_employee = "filler-employee"
    filler_digimon = "filler-digimon"
    filler_visitor_button = "filler-visitor-button"
    filler_visitor_unexpected = "filler-visitor-unexpected"
    unknown_category = "unknown-category"


_DTSTART = re.compile(r"\s*DTSTART[:|=]+([\d\w+:]*)\s*[\n|;]*", re.IGNORECASE)


class Access(OpenModuleModel):
    """One access of a medium, the V2 model (10.x's ``Access``).

    ``start``/``end`` are naive UTC and go out as unix float seconds. ``recurrence`` is an RFC 5545 rule with
    a ``DTSTART`` line (in UTC) and needs ``duration`` (seconds from each occurrence's start).
    """

    category: LegacyAccessCategory
    start: Datetime
    end: Datetime | None = None
    duration: int | None = None
    recurrence: str | None = None
    zone: str | None = None
    occupant_check: bool = False
    infos: dict[str, Any] | None = {}
    cost_entries: list[dict[str, Any]] = []
    clearing: str | None = None
    user: str

    @field_serializer("start", "end")
    def _unix_seconds(self, value: datetime | None) -> float | None:
        return None if value is None else datetime_to_timestamp(value)

    @field_validator("recurrence")
    @classmethod
    def _empty_is_none(cls, value: str | None) -> str | None:
        return value or None  # "" means no recurrence, as in openmodule

    @model_validator(mode="after")
    def _check_recurrence(self) -> Self:
        if self.recurrence is None:
            return self
        if not self.duration:
            raise ValueError("set a duration when using recurrence")
        if "DTSTART" not in self.recurrence:
            raise ValueError("recurrence is not valid 'recurrence must contain a DTSTART field'")
        if "\n" not in self.recurrence:
            raise ValueError("recurrence is not valid 'DTSTART must be separated by a newline '\\n' character'")
        try:
            rrule.rrulestr(self.recurrence)
        except Exception as error:  # dateutil raises ValueError, TypeError, ... for a bad rule
            raise ValueError(f"recurrence is not valid '{error}'") from None
        return self

    def is_valid_at(self, when: datetime, timezone: str | tzinfo) -> bool:
        """Whether the access holds at ``when`` (naive UTC, or aware): between ``start`` and ``end`` (both
        inclusive) and, with a recurrence, within ``duration`` seconds of an occurrence, the occurrences being
        wall-clock times in ``timezone`` (a DST change inside a window lengthens it by the shift)."""
        zone = ZoneInfo(timezone) if isinstance(timezone, str) else timezone
        if when.tzinfo is not None:
            when = when.astimezone(ZoneInfo("UTC")).replace(tzinfo=None)
        if when < self.start or (self.end is not None and when > self.end):
            return False
        if not self.recurrence:
            return True
        assert self.duration is not None  # checked with the recurrence
        match = _DTSTART.search(self.recurrence)
        assert match is not None  # checked with the recurrence
        utc = ZoneInfo("UTC")
        first = datetime.fromisoformat(_iso(match.group(1))).replace(tzinfo=utc).astimezone(zone)
        rule = rrule.rrulestr(_DTSTART.sub("", self.recurrence), dtstart=first.replace(tzinfo=None))
        local = when.replace(tzinfo=utc).astimezone(zone).replace(tzinfo=None)
        occurrence: datetime | None = rule.before(local, inc=True)
        if occurrence is None:
            return False
        begin = occurrence.replace(tzinfo=zone)
        finish = begin + timedelta(seconds=self.duration)
        shift = abs(_offset(begin) - _offset(finish))
        return occurrence <= local < (finish + shift).replace(tzinfo=None)


def _iso(value: str) -> str:
    """``20240101T080000Z`` (the RFC 5545 form) as ISO ``2024-01-01T08:00:00``; other forms as they are."""
    value = value.rstrip("Zz")
    if re.fullmatch(r"\d{8}T\d{6}", value):
        return f"{value[:4]}-{value[4:6]}-{value[6:8]}T{value[9:11]}:{value[11:13]}:{value[13:15]}"
    return value


def _offset(value: datetime) -> timedelta:
    offset = value.utcoffset()
    return offset if offset is not None else timedelta(0)


class AccessRequest(OpenModuleModel):
    """A legacy access check; ``name`` is the NAME of the backend asked. ``medium_id`` travels as ``id``
    (``medium_id`` is accepted on input too); ``medium_type`` is one of 10.x's: lpr, nfc, pin or qr."""

    name: str
    gateway: Gateway | None = None
    medium_type: MediumType
    medium_id: str = Field(alias="id")
    timestamp: Datetime = Field(default_factory=utcnow)

    model_config = {"populate_by_name": True}

    @field_validator("medium_type")
    @classmethod
    def _v2_medium(cls, value: MediumType) -> MediumType:
        if value not in _V2_MEDIUM_TYPES:
            raise ValueError(f"medium_type {value.value!r} is no V2 medium type (lpr, nfc, pin or qr)")
        return value


class MediumAccesses(OpenModuleModel):
    """The medium asked about and its accesses; ``medium_id``/``medium_type`` travel as ``id``/``type``."""

    accesses: list[Access]
    medium_id: str = Field(alias="id")
    medium_type: str = Field(alias="type")

    model_config = {"populate_by_name": True}


class AccessResponse(OpenModuleModel):
    success: bool = False
    medium: MediumAccesses


class BackendRegisterRequestMessage(ZMQMessage):
    """Sent by the controller: every backend answers with a ``register`` message."""

    type: str = "register_request"


class BackendRegisterMessage(ZMQMessage):
    """Sent by a backend at start and on every ``register_request``."""

    type: str = "register"


class BackendUnregisterMessage(ZMQMessage):
    """Sent by a backend when it stops."""

    type: str = "unregister"


class SessionStartMessage(ZMQMessage):
    type: str = "start"
    id: str
    user_id: str | None = None
    zone_id: str
    cost_table: dict[str, Any]
    entry_time: Datetime
    entry_data: dict[str, Any]


class SessionFinishMessage(ZMQMessage):
    type: str = "finish"
    id: str
    user_id: str | None = None
    zone_id: str
    entry_time: Datetime
    entry_data: dict[str, Any]
    exit_time: Datetime
    exit_data: dict[str, Any]


class SessionDeleteMessage(ZMQMessage):
    type: str = "delete"
    id: str
    user_id: str | None = None
    zone_id: str | None = None
    reason: str
    delete_time: Datetime
    entry_time: Datetime | None = None
    entry_data: dict[str, Any] | None = None
    exit_time: Datetime | None = None
    exit_data: dict[str, Any] | None = None


class SessionExitWithoutEntryMessage(ZMQMessage):
    type: str = "exit_without_entry"
    id: str  # the incorrect session
    user_id: str | None = None
    exit_time: Datetime
    exit_data: dict[str, Any]


class SessionIncompleteMessage(ZMQMessage):
    """A double entry: the session ``id`` was never finished; ``related_session_id`` caused it."""

    type: str = "incomplete"
    id: str
    user_id: str | None = None
    zone_id: str
    related_session_id: str
    entry_time: Datetime
    entry_data: dict[str, Any]


#: what the ``session_error`` hook gets.
SessionErrorMessage = SessionDeleteMessage | SessionExitWithoutEntryMessage | SessionIncompleteMessage
