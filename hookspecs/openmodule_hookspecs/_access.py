"""Access checks (RPC ``access_service``/``auth``, openmodule 18.5.0's ``models/access_service.py``) and the
legacy count message that drives ``check_in``/``check_out`` (topic ``count``, openmodule 10.x)."""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Self

from pydantic import Field, model_validator

from ._models import Datetime, OpenModuleModel, ZMQMessage, utcnow
from ._vehicle import Gateway, LPRMedium, MakeModel, Medium, MediumType, VehicleData

__all__ = [
    "ACCESS_CHANNEL",
    "ACCESS_TYPE",
    "COUNT_TOPIC",
    "AccessCategory",
    "AccessCheckAccess",
    "AccessCheckRejectReason",
    "AccessCheckRequest",
    "AccessCheckResponse",
    "AccessRequestVehicle",
    "CountMessage",
]

#: the RPC an access service serves: channel ``access_service``, type ``auth``.
ACCESS_CHANNEL = "access_service"
ACCESS_TYPE = "auth"
#: the topic of the legacy count messages.
COUNT_TOPIC = "count"


class AccessCategory(StrEnum):
    handauf = "handauf"  # handauf QR codes
    whitelist = "whitelist"  # unrestricted free access
    booked = "booked"  # paid for in advance (reservations)
    permanent = "permanent"  # no parking costs otherwise
    shortterm = "shortterm"  # with parking costs
    unknown = "unknown"  # no access at all
    external = "external"  # entered through an external system; never in an access service's answer


class AccessRequestVehicle(OpenModuleModel):
    """The vehicle in the old form of a request."""

    lpr: LPRMedium | None = None
    qr: Medium | None = None
    pin: Medium | None = None
    nfc: Medium | None = None
    make_model: MakeModel | None = None


class AccessCheckRequest(OpenModuleModel):
    """An access check; ``name`` is the NAME of the access service asked.

    Either form is accepted and the other is filled in, as openmodule does: ``vehicle_data`` (and ``qr``)
    build ``vehicle`` and set ``vehicle_id``; an old-style ``vehicle`` builds ``vehicle_data`` (with
    ``vehicle_id`` "0" when none is given). At least one of ``vehicle``, ``vehicle_data``, ``qr`` is needed.
    """

    name: str
    gate: str | None = None  # None: any gate
    vehicle: AccessRequestVehicle
    vehicle_id: str | None = None
    timestamp: Datetime = Field(default_factory=utcnow)  # the time the access must be valid at
    vehicle_data: VehicleData | None = None
    qr: str | None = None

    @model_validator(mode="before")
    @classmethod
    def fill_vehicle_data_if_missing(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        if not data.get("vehicle") and not data.get("vehicle_data") and not data.get("qr"):
            raise ValueError("Either vehicle_data or qr or vehicle must be given")
        data = dict(data)  # openmodule changes the caller's dict; a copy keeps the request as it came
        if data.get("vehicle_data"):
            vehicle_data = data["vehicle_data"]
            if isinstance(vehicle_data, dict):
                vehicle_data = VehicleData(**vehicle_data)
            elif not isinstance(vehicle_data, VehicleData):
                raise ValueError(f"vehicle_data must be an object, not {type(vehicle_data).__name__}")
            data["vehicle_id"] = vehicle_data.vehicle_id or None
            lpr = vehicle_data.lpr_front or vehicle_data.lpr_back
            vehicle: dict[str, Any] = {}
            if lpr:
                vehicle["lpr"] = {"id": lpr.plate, "country": {"code": lpr.country, "state": lpr.state}, "type": "lpr"}
            if data.get("qr"):
                vehicle["qr"] = {"id": data["qr"], "type": "qr"}
            data["vehicle"] = vehicle
        elif data.get("qr"):
            data["vehicle"] = {"qr": {"id": data["qr"], "type": "qr"}}
        elif "vehicle" in data:
            old = data["vehicle"]
            if isinstance(old, dict):
                old = AccessRequestVehicle(**old)
            elif not isinstance(old, AccessRequestVehicle):
                raise ValueError(f"vehicle must be an object, not {type(old).__name__}")
            built: dict[str, Any] = {"vehicle_id": data.get("vehicle_id") or "0", "gate": data.get("gate") or ""}
            if old.lpr:
                built["lpr_front"] = {"plate": old.lpr.id, "country": old.lpr.country.code,
                                      "state": old.lpr.country.state}
            data["vehicle_data"] = built
            if old.qr:
                data["qr"] = old.qr.id
        return data


class AccessCheckRejectReason(StrEnum):
    wrong_gate = "wrong_gate"
    wrong_time = "wrong_time"
    custom = "custom"  # an access service's own reason: supplementary_infos says which


class AccessCheckAccess(OpenModuleModel):
    """One access an access service found, accepted or not (with openmodule's consistency rules)."""

    id: str
    group_id: str | None = None
    group_limit: int | None = Field(default=None, ge=1)
    customer_id: str | None = None
    car_id: str | None = None
    source: str  # the access service that provides it
    access_infos: dict[str, Any] = {}
    parksettings_id: str | None = None  # None: no cost entries, any gate
    clearing: str | None = None
    clearing_infos: dict[str, Any] | None = None
    category: AccessCategory
    used_medium: Medium
    access_data: dict[str, Any]  # for display and debugging
    valid_from: Datetime | None = None
    valid_to: Datetime | None = None
    accepted: bool
    reject_reason: AccessCheckRejectReason | None = None
    supplementary_infos: str | None = None  # required when reject_reason is "custom"
    from_lpr_back: bool = False

    @model_validator(mode="after")
    def root_validation(self) -> Self:
        if self.category == AccessCategory.handauf and "medium_display_name" not in self.access_infos:
            raise ValueError("medium_display_name must be set if category is handauf")
        if self.category == AccessCategory.external:
            raise ValueError("category external is not allowed for accesses")
        if self.group_limit is not None and self.group_id is None:
            raise ValueError("group_limit must not be set without group_id")
        if self.category in (AccessCategory.shortterm, AccessCategory.unknown) and self.group_limit is not None:
            raise ValueError("group_limit must not be set for shortterm and unknown accesses")
        if self.reject_reason is AccessCheckRejectReason.custom and self.supplementary_infos in ("", None):
            raise ValueError("supplementary_infos must be set if reject_reason is custom")
        return self


class AccessCheckResponse(OpenModuleModel):
    success: bool
    accesses: list[AccessCheckAccess] = []  # every access matched, rejected ones included


class CountMessage(ZMQMessage):
    """A vehicle counted in or out at a gateway (topic ``count``, openmodule 10.x's ``CountMessage``).

    ``medium_id`` travels as ``id``; both names are accepted on input. ``category`` is 10.x's access
    category (e.g. ``permanent-employee``), kept as text.
    """

    type: str = "count"
    user: str
    gateway: Gateway
    medium_type: MediumType
    medium_id: str = Field(alias="id")
    count: int
    transaction_id: str
    zone: str
    category: str
    real: bool
    vehicle_id: str | None = None
    infos: dict[str, Any] | None = None
    access_data: dict[str, Any] | None = None
    error: str | None = None
    previous_transaction_id: list[str] | None = None  # double entry, choose random
    previous_user: str | None = None  # user changed
    previous_medium_type: str | None = None  # medium changed
    previous_medium_id: str | None = None  # medium (id) changed
    chosen: dict[str, Any] | None = None  # choose random

    model_config = {"populate_by_name": True}
