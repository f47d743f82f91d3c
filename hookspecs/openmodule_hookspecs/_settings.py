"""Garage settings on the wire (wire-protocol.md 5.4 and 5.10): the ``settings`` RPCs, the ``settings`` topic,
and the settings models the access toolkit reads (gates, parking areas, parksettings, gate modes).

The settings models are this project's own, written from the documented shapes of arivo-settings-models 2.7.2
(which is GPL-3 and not a dependency): the fields an access service reads are typed, every other field of a
value is kept as it came (``extra="allow"``), so a value reads back as it was sent.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import ConfigDict, Field

from ._models import OpenModuleModel, ZMQMessage

__all__ = [
    "SETTINGS_CHANNEL",
    "SETTINGS_TOPIC",
    "DayMode",
    "Gate",
    "GateMode",
    "GateType",
    "ParkingArea",
    "Parksetting",
    "SettingsChangedMessage",
    "SettingsGetManyRequest",
    "SettingsGetManyResponse",
    "SettingsGetRequest",
    "SettingsGetResponse",
    "SettingsGetResponseValue",
]

#: the RPC channel of the settings service (types ``get`` and ``get_many``).
SETTINGS_CHANNEL = "settings"
#: the topic the settings service announces changes on (type ``changed``).
SETTINGS_TOPIC = "settings"


class SettingsGetRequest(OpenModuleModel):
    key: str
    scope: str = ""


class SettingsGetResponseValue(OpenModuleModel):
    """One setting as the settings service answers it: ``success: false, error: "no such setting"`` for a
    key it does not have."""

    value: Any | None = None
    success: bool
    error: str | None = None


#: ``settings``/``get`` answers one value.
SettingsGetResponse = SettingsGetResponseValue


class SettingsGetManyRequest(OpenModuleModel):
    key: list[str]
    scope: str = ""


class SettingsGetManyResponse(OpenModuleModel):
    settings: dict[str, SettingsGetResponseValue]


class SettingsChangedMessage(ZMQMessage):
    """Topic ``settings``: these settings changed; each entry is ``<key>/<scope>`` (``common/gates/`` for the
    empty scope)."""

    type: str = "changed"
    changed_keys: list[str]


class _SettingsModel(OpenModuleModel):
    model_config = ConfigDict(extra="allow")


class GateType(StrEnum):
    entry = "entry"
    exit = "exit"
    bidirectional = "bidirectional"
    door = "door"  # people walk in: access checks only, no gate validity check
    transit_access_check = "transit_access_check"
    transit_custom = "transit_custom"
    coupled_lane = "coupled_lane"
    check_in_out = "check_in_out"
    transit_passthrough = "transit_passthrough"


class Gate(_SettingsModel):
    """One entry of ``common/gates`` (keyed by ``gate``)."""

    gate: str = Field(min_length=1, max_length=126, pattern=r"^[a-z0-9\-_]+$")
    name: str
    type: GateType
    opposite_gate: str | None = None
    is_wide: bool | None = None


class ParkingArea(_SettingsModel):
    """One entry of ``common/parking_areas2`` (keyed by ``id``): its gates, and those open to shortterm parkers."""

    id: str
    name: str
    gates: list[str]
    shortterm_gates: list[str]


class Parksetting(_SettingsModel):
    """One entry of ``common/parksettings2`` (keyed by ``id``): the gates its registered parkers may use."""

    id: str
    name: str
    gates: list[str]


class GateMode(StrEnum):
    """``gate_control/mode`` (scoped by gate)."""

    automatic = "automatic"
    permanent_open = "permanent_open"
    permanent_close = "permanent_close"
    standard = "standard"


class DayMode(_SettingsModel):
    """``gate_control/day_mode``: whether everyone may enter, and when (HH:MM, local time)."""

    enabled: bool
    start: str = "00:00"
    end: str = "00:00"
