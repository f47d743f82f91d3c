"""openmodule 18.5.0's access service helpers run on cases from stdin (one JSON document), answers on stdout
(one JSON document). Run ONLY with the interpreter of ``.venv-openmodule`` (openmodule is GPLv2: nothing in
the project or the test process imports it).

Input::

    {"validity": [{"settings": {"common/gates": ..., "common/parking_areas2": ..., "common/parksettings2": ...},
                   "gate": "entry1", "accesses": [AccessCheckAccess JSON, ...]}, ...],
     "dedup": [[AccessCheckAccess JSON, ...], ...],
     "find": [{"lpr": {"plate": ..., "country": ...}, "accesses": [LPRKnownAccess fields, ...],
               "matching": MatchingConfig fields}, ...],
     "search": ["G-ARIVO 1", ...]}

Output: ``{"validity": [[[accepted, reject_reason], ...], ...], "dedup": [[id, ...], ...],
"find": [[id, ...], ...], "search": [get_lpr_id_search(plate), ...]}``. Settings are parsed by
``settings_models`` and read through an object with ``get(key)``, as the ``SettingsProvider`` answers.
"""

from __future__ import annotations

import json
import logging
import sys
from typing import Any

from openmodule.models.access_service import AccessCheckAccess
from openmodule.models.vehicle_listener import LprData
from openmodule.utils.access_service import (
    LPRKnownAccess,
    check_accesses_valid_at_gate,
    deduplicate_accesses,
    find_lpr_accesses,
    get_lpr_id_search,
)
from openmodule.utils.matching import MatchingConfig
from settings_models.serialization import parse_setting_from_obj


class Settings:
    def __init__(self, values: dict[str, Any]) -> None:
        self.values = values

    def get(self, key: str) -> Any:
        return parse_setting_from_obj(key, self.values[key]) if key in self.values else None


def main() -> None:
    logging.disable(logging.CRITICAL)
    cases = json.load(sys.stdin)
    answers: dict[str, list[Any]] = {"validity": [], "dedup": [], "find": [], "search": []}
    for case in cases["validity"]:
        accesses = [AccessCheckAccess.model_validate(access) for access in case["accesses"]]
        check_accesses_valid_at_gate(accesses, case["gate"], Settings(case["settings"]))
        answers["validity"].append([[access.accepted, access.reject_reason] for access in accesses])
    for case in cases["dedup"]:
        answers["dedup"].append([access.id for access in deduplicate_accesses(
            [AccessCheckAccess.model_validate(access) for access in case])])
    for case in cases["find"]:
        found = find_lpr_accesses(LprData(**case["lpr"]), [LPRKnownAccess(**access) for access in case["accesses"]],
                                  MatchingConfig(**case["matching"]))
        answers["find"].append([access.id for access in found])
    answers["search"] = [get_lpr_id_search(plate) for plate in cases["search"]]
    json.dump(answers, sys.stdout)


if __name__ == "__main__":
    main()
