"""Helpers for access services (openmodule's ``utils/access_service.py``): plate search keys, matching a
read plate against the plates of known accesses, and de-duplicating accesses."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from openmodule_hookspecs import AccessCheckAccess, LprData

from .charset import CharsetConverter, legacy_lpr_charset
from .matching import Database, MatchingConfig, PlateYamlSelector

__all__ = ["LPRKnownAccess", "deduplicate_accesses", "find_lpr_accesses", "get_lpr_id_search"]

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
