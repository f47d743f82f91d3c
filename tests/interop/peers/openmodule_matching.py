"""openmodule 18.5.0's charset and plate matching, run on cases from stdin (one JSON document), answers on
stdout (one JSON document). Run ONLY with the interpreter of ``.venv-openmodule`` (openmodule is GPLv2:
nothing in the project or the test process imports it).

Input::

    {"yaml_dir": "...", "plates": ["G-ARIVO 1", ...],
     "convert": [["plate", "SCHEME", version], ...],
     "match": [{"records": [[plate, country, scheme, version, id], ...], "read": {create_plate_for_matching
                kwargs}, "use_alternatives": bool, "max_ed": int, "return_only_best": bool,
                "default_country_order": [...], "legacy_in_default_country_order": bool}, ...]}

Output: ``{"legacy": [clean(plate)], "full": [...], "convert": [...], "match": [[[id, ...], ...], ...]}``
(the ids of the records each match returned, list by list).
"""

from __future__ import annotations

import json
import sys

from openmodule.utils.charset import CharsetConverter, full_lpr_charset, legacy_lpr_charset
from openmodule.utils.matching import PlateYamlSelector


def main() -> None:
    cases = json.load(sys.stdin)
    legacy, full = CharsetConverter(legacy_lpr_charset), CharsetConverter(full_lpr_charset)
    selector = PlateYamlSelector(cases["yaml_dir"])
    answers = {
        "legacy": [legacy.clean(plate) for plate in cases["plates"]],
        "full": [full.clean(plate) for plate in cases["plates"]],
        "convert": [selector.convert(plate, scheme, version) for plate, scheme, version in cases["convert"]],
        "match": [],
    }
    for case in cases["match"]:
        matcher = PlateYamlSelector(cases["yaml_dir"], default_country_order=case["default_country_order"],
                                    legacy_in_default_country_order=case["legacy_in_default_country_order"])
        db: dict = {}
        for plate, country, scheme, version, id_ in case["records"]:
            matcher.insert_into_db_and_create_record(db, plate, country, scheme, version, id=id_)
        found = matcher.match_plate(matcher.create_plate_for_matching(**case["read"]), db,
                                    use_alternatives=case["use_alternatives"], max_ed=case["max_ed"],
                                    return_only_best=case["return_only_best"])
        answers["match"].append([[record["id"] for record in group] for group in found])
    json.dump(answers, sys.stdout)


if __name__ == "__main__":
    main()
