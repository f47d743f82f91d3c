"""Helpers for access services (openmodule's ``utils/access_service.py``): plate search keys, matching a
read plate against the plates of known accesses, de-duplicating accesses and checking them against the gate
settings."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from openmodule_hookspecs import AccessCategory, AccessCheckAccess, AccessCheckRejectReason, GateType, LprData

from .charset import CharsetConverter, legacy_lpr_charset
from .matching import Database, MatchingConfig, PlateYamlSelector

if TYPE_CHECKING:
    from .settings_provider import SettingsProvider

__all__ = [
    "LPRKnownAccess",
    "check_accesses_valid_at_gate",
    "deduplicate_accesses",
    "find_lpr_accesses",
    "get_lpr_id_search",
]

log = logging.getLogger(__name__)

_SEARCH = CharsetConverter(legacy_lpr_charset)


@dataclass
class LPRKnownAccess:
    """An access service's access for a plate, with the plate scheme it was entered in (if known)."""

    id: str
    lpr_id: str
    lpr_country: str
    matching_scheme: str | None = None
    matching_version: int | None = None


def get_lpr_id_search(lpr_id: str) -> str:
    """A plate in the form to store and search it by (the legacy charset: no O/Q, umlauts folded)."""
    return _SEARCH.clean(lpr_id)


def deduplicate_accesses(accesses: Iterable[AccessCheckAccess]) -> list[AccessCheckAccess]:
    """The accesses without repeated ids; the first of each id is kept."""
    seen: set[str] = set()
    unique = []
    for access in accesses:
        if access.id not in seen:
            unique.append(access)
            seen.add(access.id)
    return unique


def find_lpr_accesses(lpr: LprData, accesses: list[LPRKnownAccess], matching_config: MatchingConfig
                      ) -> list[LPRKnownAccess]:
    """The accesses whose plate matches ``lpr`` exactly after conversion (ED0) with each access's plate scheme
    (the config's default where it has none), in the order given. Edit distance > 0 is refused with a
    ``ValueError``, as openmodule refuses it (it asserts)."""
    if matching_config.edit_distance > 0:
        raise ValueError("accesses are matched with edit distance 0 only")
    plates = PlateYamlSelector.from_config(matching_config)
    db: Database = {}
    for access in accesses:
        plates.insert_into_db_and_create_record(
            db, access.lpr_id, access.lpr_country, access.matching_scheme or matching_config.default_scheme,
            access.matching_version if access.matching_version is not None else matching_config.default_version,
            access_id=access.id,
        )
    matches = plates.match_plate(plates.create_plate_for_matching(lpr.plate, lpr.country), db,
                                 use_alternatives=False, max_ed=0, return_only_best=False)
    matched = {record["access_id"] for found in matches for record in found}
    return [access for access in accesses if access.id in matched]


#: the settings :func:`check_accesses_valid_at_gate` reads.
GATE_SETTINGS = ("common/gates", "common/parking_areas2", "common/parksettings2")


def check_accesses_valid_at_gate(accesses: Iterable[AccessCheckAccess], gate: str, settings: SettingsProvider
                                 ) -> None:
    """Reject (``accepted=False``, ``reject_reason=wrong_gate``) the accepted accesses that do not hold at
    ``gate``, in place, as openmodule 18.5.0 decides it from the settings ``common/gates``,
    ``common/parking_areas2`` and ``common/parksettings2``:

    * at a door (gate type ``door``) every access holds;
    * an access with a parksetting holds at that parksetting's gates;
    * a ``shortterm`` or ``unknown`` access without one (or whose parksetting is not in the settings) holds at
      the ``shortterm_gates`` of any parking area;
    * any other access without a parksetting holds at every gate.

    ``settings`` is the plugin's :class:`~.settings_provider.SettingsProvider` (or any object with its
    ``get(key)``); the three settings are read with ``get``, from its cache when fresh. Accesses already
    rejected are left as they are. A parksetting the settings do not have is logged as a
    warning; a ``shortterm`` or ``unknown`` access with a parksetting as an error (an invalid access). A
    setting the settings service does not have raises ``LookupError`` naming it.
    """
    gates, parking_areas, parksettings = (settings.get(key) for key in GATE_SETTINGS)
    missing = [key for key, value in zip(GATE_SETTINGS, (gates, parking_areas, parksettings), strict=True)
               if value is None]
    if missing:
        raise LookupError(f"cannot check accesses at gate {gate!r}: the settings service has no {', '.join(missing)}")
    at = gates.get(gate)
    if at is not None and at.type == GateType.door:
        return
    not_found: list[str] = []
    for access in accesses:
        if access.accepted is False:
            continue
        parksetting = parksettings.get(access.parksettings_id) if access.parksettings_id is not None else None
        if parksetting is None and access.parksettings_id is not None:
            not_found.append(access.parksettings_id)
        if parksetting is None:
            if access.category in (AccessCategory.shortterm, AccessCategory.unknown) and all(
                    gate not in area.shortterm_gates for area in parking_areas.values()):
                access.accepted = False
                access.reject_reason = AccessCheckRejectReason.wrong_gate
            continue
        if access.category in (AccessCategory.shortterm, AccessCategory.unknown):
            log.error("access %s of category %s has a parksetting: an invalid access", access.id, access.category)
        if gate not in parksetting.gates:
            access.accepted = False
            access.reject_reason = AccessCheckRejectReason.wrong_gate
    if not_found:
        log.warning("parksettings of accesses not in the settings: %s", not_found)
