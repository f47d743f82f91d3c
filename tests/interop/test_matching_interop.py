"""Charset cleaning and plate matching give openmodule 18.5.0's results, case by case.

Thousands of cases (random plates with umlauts, accents, separators and lower case; every built-in and
some custom scheme versions; random plate databases in several countries; reads with edits, countries,
``OTHER``, alternatives) go to openmodule's own code in its interpreter (``peers/openmodule_matching.py``)
and to ours; the answers must be equal. Where openmodule's code differs from what it documents (its match
lists are one shared list), only the cases where that cannot show are compared; ``tests/test_matching.py``
covers the rest.
"""

from __future__ import annotations

import json
import random
import subprocess
from pathlib import Path
from typing import Any

import pytest

from openmodule_host.utils import (
    CharsetConverter,
    PlateYamlSelector,
    full_lpr_charset,
    legacy_lpr_charset,
)

from .peer import openmodule_python

pytestmark = pytest.mark.interop

PEER = Path(__file__).with_name("peers") / "openmodule_matching.py"
ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789" * 3 + "abcxyz" + "ÄÖÜäöüßŽĆŠéèÅØ" + " -_.:" * 2 + "#/+"
SCHEMES = {
    "AT-1.yml": "allowed: \"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ-\"\nkept_separators: LAST\nexactitude: 0.8\n"
                "replacements:\n  - from: \" \"\n    to: \"-\"\n",
    "AT-2.yml": "allowed: \"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÜ :\"\nkept_separators: ALL\nexactitude: 0.9\n",
    "CH-3.yml": "allowed: \"0123456789ABCDEFGHIJKLMNOPRSTUVWXYZ\"\nexactitude: 0.5\nreplacements:\n"
                "  - from: \"Q\"\n    to: \"O\"\n  - from: \"\"\n    to: \"X\"\n",
    "broken.yml": "allowed: [unclosed\n",
    "NOVERSION-x.yml": "allowed: \"AB\"\nexactitude: 0.1\n",
    "MISSING-4.yml": "kept_separators: ALL\n",
}
VERSIONS = [("DEFAULT", 0), ("DEFAULT", 5), ("DEFAULT", 7), ("DEFAULT", 10), ("DEFAULT", 20), ("DEFAULT", 99),
            ("LEGACY", 0), ("AT", 1), ("AT", 2), ("AT", 50), ("CH", 3), ("UNKNOWN", 10), ("MISSING", 4)]
COUNTRIES = ["A", "D", "CH", "I"]


def random_plate(rng: random.Random) -> str:
    return "".join(rng.choice(ALPHABET) for _ in range(rng.randint(0, 10)))


def edited(rng: random.Random, plate: str) -> str:
    chars = list(plate)
    for _ in range(rng.randint(0, 2)):
        position = rng.randint(0, len(chars))
        action = rng.choice(("insert", "delete", "replace"))
        if action == "insert" or not chars:
            chars.insert(position, rng.choice(ALPHABET))
        elif action == "delete":
            del chars[min(position, len(chars) - 1)]
        else:
            chars[min(position, len(chars) - 1)] = rng.choice(ALPHABET)
    return "".join(chars)


def match_case(rng: random.Random) -> dict[str, Any]:
    # some plates several times, in other countries and scheme versions: the order of the search decides
    plates = [random_plate(rng) for _ in range(5)]
    records = [[rng.choice(plates) if index % 2 else random_plate(rng), rng.choice(COUNTRIES),
                *rng.choice(VERSIONS[:11]), index] for index in range(25)]
    known = rng.choice(records)[0]
    use_alternatives = rng.random() < 0.3
    read: dict[str, Any] = {"plate": edited(rng, known) if rng.random() < 0.7 else known,
                            "country": rng.choice([*COUNTRIES, "OTHER", "XX"])}
    if use_alternatives:
        read["alternatives"] = [{"plate": edited(rng, known), "confidence": 0.5} for _ in range(rng.randint(0, 3))]
    max_ed = rng.choice([0, 0, 1])
    return {
        "records": records, "read": read, "use_alternatives": use_alternatives, "max_ed": max_ed,
        # every match, not only the best: comparable where openmodule has one list anyway (ED0, no alternatives)
        "return_only_best": use_alternatives or max_ed > 0 or rng.random() < 0.6,
        "default_country_order": rng.sample(COUNTRIES, rng.randint(0, 3)),
        "legacy_in_default_country_order": rng.random() < 0.5,
    }


@pytest.fixture(scope="module")
def cases(tmp_path_factory) -> dict[str, Any]:
    rng = random.Random(20261128)
    yaml_dir = tmp_path_factory.mktemp("schemes")
    for name, content in SCHEMES.items():
        (yaml_dir / name).write_text(content, encoding="utf-8")
    plates = [random_plate(rng) for _ in range(600)] + [
        "G-ARIVO 1", "W 12345 X", "gäöü", "ŽĆŠ-1", "O0Q", "  ", "", "A.B:C_D", "Æß", "-", "AB-", "-AB", "A--B"]
    return {
        "yaml_dir": str(yaml_dir),
        "plates": plates,
        "convert": [[plate, scheme, version] for plate in plates[:300] + plates[-13:] for scheme, version in VERSIONS],
        "match": [match_case(rng) for _ in range(400)],
    }


@pytest.fixture(scope="module")
def openmodule_answers(cases) -> dict[str, Any]:
    result = subprocess.run([str(openmodule_python()), str(PEER)], input=json.dumps(cases), capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout)


def test_charsets_clean_as_openmodule(cases, openmodule_answers):
    legacy, full = CharsetConverter(legacy_lpr_charset), CharsetConverter(full_lpr_charset)
    assert [legacy.clean(plate) for plate in cases["plates"]] == openmodule_answers["legacy"]
    assert [full.clean(plate) for plate in cases["plates"]] == openmodule_answers["full"]


def test_every_scheme_version_converts_as_openmodule(cases, openmodule_answers):
    selector = PlateYamlSelector(cases["yaml_dir"])
    ours = [selector.convert(plate, scheme, version) for plate, scheme, version in cases["convert"]]
    differences = [(case, mine, theirs) for case, mine, theirs in zip(cases["convert"], ours,
                                                                      openmodule_answers["convert"], strict=True)
                   if mine != theirs]
    assert differences == []
    assert len(ours) > 4000


def test_matches_are_openmodules(cases, openmodule_answers):
    differences = []
    for case, theirs in zip(cases["match"], openmodule_answers["match"], strict=True):
        matcher = PlateYamlSelector(cases["yaml_dir"], default_country_order=case["default_country_order"],
                                    legacy_in_default_country_order=case["legacy_in_default_country_order"])
        db: dict = {}
        for plate, country, scheme, version, id_ in case["records"]:
            matcher.insert_into_db_and_create_record(db, plate, country, scheme, version, id=id_)
        found = matcher.match_plate(matcher.create_plate_for_matching(**case["read"]), db,
                                    use_alternatives=case["use_alternatives"], max_ed=case["max_ed"],
                                    return_only_best=case["return_only_best"])
        mine = [[record["id"] for record in group] for group in found]
        if mine != theirs:
            differences.append((case["read"], mine, theirs))
    assert differences == []
    hits = sum(1 for answer in openmodule_answers["match"] if any(answer))
    assert hits > 100  # the cases do find plates, not only misses
