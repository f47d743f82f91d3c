"""Converting between the two access protocols: openmodule 18.x's ``access_service``/``auth``
(``AccessCheckRequest`` -> ``AccessCheckAccess``) and 10.x's ``backend``/``auth`` (``AccessRequest`` -> V2
``Access``). The host uses these so that one plugin's access hook answers both; the table of what maps to
what, and what has no counterpart, is in docs/writing-plugins.md ("Legacy backends")."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, tzinfo
from typing import Any

from openmodule_hookspecs import (
    Access,
    AccessCategory,
    AccessCheckAccess,
    AccessCheckRejectReason,
    AccessCheckRequest,
    AccessRequest,
    Gateway,
    LegacyAccessCategory,
    Medium,
    MediumType,
)

__all__ = [
    "LEGACY_EPOCH",
    "access_check_accesses",
    "access_check_request",
    "backend_requests",
    "legacy_accesses",
]

#: the ``start`` of a V2 access made from an access without ``valid_from`` (valid since always).
LEGACY_EPOCH = datetime(1970, 1, 1)

_TO_CURRENT: dict[LegacyAccessCategory, AccessCategory] = {
    LegacyAccessCategory.booked_digimon: AccessCategory.booked,
    LegacyAccessCategory.booked_employee: AccessCategory.booked,
    LegacyAccessCategory.booked_visitor: AccessCategory.booked,
    LegacyAccessCategory.permanent_digimon: AccessCategory.permanent,
    LegacyAccessCategory.permanent_employee: AccessCategory.permanent,
    LegacyAccessCategory.filler_employee: AccessCategory.shortterm,
    LegacyAccessCategory.filler_digimon: AccessCategory.shortterm,
    LegacyAccessCategory.filler_visitor_button: AccessCategory.shortterm,
    LegacyAccessCategory.filler_visitor_unexpected: AccessCategory.shortterm,
    LegacyAccessCategory.unknown_category: AccessCategory.unknown,
}

_TO_LEGACY: dict[AccessCategory, LegacyAccessCategory] = {
    AccessCategory.booked: LegacyAccessCategory.booked_visitor,
    AccessCategory.handauf: LegacyAccessCategory.booked_visitor,
    AccessCategory.permanent: LegacyAccessCategory.permanent_employee,
    AccessCategory.whitelist: LegacyAccessCategory.permanent_employee,
    AccessCategory.shortterm: LegacyAccessCategory.filler_visitor_unexpected,
    AccessCategory.unknown: LegacyAccessCategory.unknown_category,
}


def access_check_request(request: AccessRequest) -> AccessCheckRequest:
    """A legacy request as an 18.x one: the medium becomes ``vehicle.lpr``/``qr``/``nfc``/``pin`` (a plate's
    country is unknown), ``gateway.gate`` the ``gate``; ``gateway.direction`` has no counterpart."""
    medium: dict[str, Any] = {"id": request.medium_id, "type": request.medium_type}
    fields: dict[str, Any] = {"name": request.name, "timestamp": request.timestamp}
    if request.gateway is not None and request.gateway.gate:
        fields["gate"] = request.gateway.gate
    if request.medium_type is MediumType.qr:
        fields["qr"] = request.medium_id
    else:
        fields["vehicle"] = {request.medium_type.value: medium}
    return AccessCheckRequest.model_validate(fields)


def backend_requests(request: AccessCheckRequest) -> list[AccessRequest]:
    """An 18.x request as legacy ones, one per medium it names, in the order lpr, qr, nfc, pin. The ``gate``
    becomes ``gateway.gate`` (direction unknown); a plate's country, the vehicle id, ``vehicle_data`` beyond
    its plate and ``make_model`` have no counterpart. The medium type is the slot's (``vehicle.nfc`` is an
    nfc medium whatever its ``type`` says), so that a medium typed ``regex`` cannot make an invalid V2 request."""
    gateway = Gateway(gate=request.gate) if request.gate else None
    vehicle = request.vehicle
    slots = ((MediumType.lpr, vehicle.lpr), (MediumType.qr, vehicle.qr), (MediumType.nfc, vehicle.nfc),
             (MediumType.pin, vehicle.pin))
    return [AccessRequest(name=request.name, gateway=gateway, medium_type=medium_type, medium_id=medium.id,
                          timestamp=request.timestamp) for medium_type, medium in slots if medium is not None]


def access_check_accesses(
    accesses: list[Access], request: AccessRequest, source: str, timezone: str | tzinfo
) -> list[AccessCheckAccess]:
    """V2 accesses as 18.x ones for ``request``'s medium, from the access service ``source``.

    ``id`` is the access's ``user`` (``-2``, ``-3``, ... added for a user's further accesses in one answer),
    also ``customer_id``; ``accepted`` is whether the access holds at the request's time (``start``, ``end``
    and the recurrence in ``timezone``), else it is rejected as ``wrong_time``. The V2 access itself, in its
    wire form, is the ``access_data``.
    """
    seen: Counter[str] = Counter()
    converted = []
    for access in accesses:
        seen[access.user] += 1
        valid = access.is_valid_at(request.timestamp, timezone)
        converted.append(AccessCheckAccess(
            id=access.user if seen[access.user] == 1 else f"{access.user}-{seen[access.user]}",
            customer_id=access.user,
            source=source,
            category=_TO_CURRENT[access.category],
            used_medium=Medium(id=request.medium_id, type=request.medium_type),
            access_infos=access.infos or {},
            clearing=access.clearing,
            access_data=access.model_dump(),
            valid_from=access.start,
            valid_to=access.end,
            accepted=valid,
            reject_reason=None if valid else AccessCheckRejectReason.wrong_time,
        ))
    return converted


def legacy_accesses(accesses: list[AccessCheckAccess]) -> list[Access]:
    """The accepted 18.x accesses as V2 ones (a V2 answer lists only accesses that hold; rejected ones have
    no counterpart). ``user`` is the ``customer_id``, else the ``id``; ``start``/``end`` are
    ``valid_from``/``valid_to`` (no ``valid_from``: :data:`LEGACY_EPOCH`); ``infos`` the ``access_infos``."""
    return [
        Access(
            category=_TO_LEGACY[access.category],
            start=access.valid_from or LEGACY_EPOCH,
            end=access.valid_to,
            infos=access.access_infos,
            clearing=access.clearing,
            user=access.customer_id or access.id,
        )
        for access in accesses
        if access.accepted
    ]
