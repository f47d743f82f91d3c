"""The access service helpers give openmodule 18.5.0's results, case by case: ``check_accesses_valid_at_gate``
on random garages (gates of every type, parking areas with and without shortterm gates, parksettings, accesses
of every category with and without a parksetting, one the settings lack, already rejected ones),
``deduplicate_accesses``, ``find_lpr_accesses`` and ``get_lpr_id_search``. openmodule's own functions run in
its interpreter (``peers/openmodule_access_toolkit.py``) with the settings parsed by its settings models."""

from __future__ import annotations

import json
import random
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest
from openmodule_hookspecs import AccessCheckAccess, LprData

from openmodule_host.testing import SettingsMocker
from openmodule_host.utils import (
    LPRKnownAccess,
    MatchingConfig,
    check_accesses_valid_at_gate,
    deduplicate_accesses,
    find_lpr_accesses,
    get_lpr_id_search,
)

from .peer import openmodule_python
from .test_matching_interop import SCHEMES

pytestmark = pytest.mark.interop

PEER = Path(__file__).with_name("peers") / "openmodule_access_toolkit.py"
GATE_NAMES = ["entry1", "entry2", "exit1", "exit2", "door1", "bidi1", "transit1"]
GATE_TYPES = ["entry", "exit", "bidirectional", "door", "transit_access_check", "transit_custom", "coupled_lane",
              "check_in_out", "transit_passthrough"]
CATEGORIES = ["handauf", "whitelist", "booked", "permanent", "shortterm", "unknown"]
PLATES = ["G ARIVO 1", "GARIVO1", "G-ARIVO-1", "GÄRIVO1", "W 12345 X", "W12345X", "WO 1", "W0 1", "ZH 123", "ZH123"]


def uid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def subset(rng: random.Random, items: list[str], at_least: int = 0) -> list[str]:
    return rng.sample(items, rng.randint(at_least, len(items)))


def garage(rng: random.Random) -> dict[str, Any]:
    gates = {name: {"gate": name, "name": name.title(), "type": rng.choice(GATE_TYPES)}
             for name in subset(rng, GATE_NAMES)}
    areas = {}
    for _ in range(rng.randint(0, 3)):
        area_gates = subset(rng, GATE_NAMES, 1)
        area_id = uid(rng)
        areas[area_id] = {"id": area_id, "name": "Area", "gates": area_gates,
                          "shortterm_gates": subset(rng, area_gates), "default_cost_entries": [],
                          "shortterm_limit": rng.randint(0, 50)}
    parksettings = {}
    for _ in range(rng.randint(0, 4)):
        parksetting_id = uid(rng)
        parksettings[parksetting_id] = {"id": parksetting_id, "name": "Parksetting",
                                        "gates": subset(rng, GATE_NAMES, 1), "default_cost_entries": []}
    return {"common/gates": gates, "common/parking_areas2": areas, "common/parksettings2": parksettings}


def random_access(rng: random.Random, parksettings: list[str], ids: list[str]) -> dict[str, Any]:
    category = rng.choice(CATEGORIES)
    access: dict[str, Any] = {
        "id": rng.choice(ids), "source": "om_access_test_1", "category": category,
        "used_medium": {"id": "GARIVO1", "type": "lpr"}, "access_data": {}, "accepted": rng.random() < 0.8,
        "access_infos": {"medium_display_name": "Card"} if category == "handauf" else {},
    }
    choice = rng.random()
    if choice < 0.45 and parksettings:
        access["parksettings_id"] = rng.choice(parksettings)
    elif choice < 0.55:
        access["parksettings_id"] = uid(rng)  # not in the settings
    return access


def validity_case(rng: random.Random) -> dict[str, Any]:
    settings = garage(rng)
    parksettings = list(settings["common/parksettings2"])
    ids = [f"acc-{index}" for index in range(10)]
    return {"settings": settings, "gate": rng.choice([*GATE_NAMES, "nowhere"]),
            "accesses": [random_access(rng, parksettings, ids) for _ in range(rng.randint(1, 8))]}


def find_case(rng: random.Random, yaml_dir: str) -> dict[str, Any]:
    accesses = [{"id": f"acc-{index}", "lpr_id": rng.choice(PLATES), "lpr_country": rng.choice(["A", "D", "CH"]),
                 "matching_scheme": rng.choice([None, "DEFAULT", "LEGACY", "AT"]),
                 "matching_version": rng.choice([None, 0, 1, 2, 10, 20])} for index in range(rng.randint(0, 12))]
    return {"lpr": {"plate": rng.choice(PLATES), "country": rng.choice(["A", "D", "CH", "OTHER"])},
            "accesses": accesses,
            "matching": {"directory": yaml_dir, "default_scheme": rng.choice(["DEFAULT", "LEGACY", "AT"]),
                         "default_version": rng.choice([0, 1, 2, 10]),
                         "default_country_order": rng.sample(["A", "D", "CH"], rng.randint(0, 3))}}


@pytest.fixture(scope="module")
def cases(tmp_path_factory) -> dict[str, Any]:
    rng = random.Random(20261130)
    yaml_dir = tmp_path_factory.mktemp("schemes")
    for name, content in SCHEMES.items():
        (yaml_dir / name).write_text(content, encoding="utf-8")
    return {
        "validity": [validity_case(rng) for _ in range(500)],
        "dedup": [[random_access(rng, [], [f"acc-{i}" for i in range(6)]) for _ in range(rng.randint(0, 10))]
                  for _ in range(100)],
        "find": [find_case(rng, str(yaml_dir)) for _ in range(300)],
        "search": [*PLATES, "gäöü", "O0Q", "", "A.B:C_D", "ŽĆŠ-1"],
    }


@pytest.fixture(scope="module")
def openmodule_answers(cases) -> dict[str, Any]:
    result = subprocess.run([str(openmodule_python()), str(PEER)], input=json.dumps(cases), capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout)


def test_validity_at_a_gate_is_openmodules(cases, openmodule_answers):
    ours = []
    for case in cases["validity"]:
        accesses = [AccessCheckAccess.model_validate(access) for access in case["accesses"]]
        check_accesses_valid_at_gate(accesses, case["gate"], SettingsMocker(case["settings"]))
        ours.append([[access.accepted, access.reject_reason] for access in accesses])
    differing = [(case, mine, theirs) for case, mine, theirs
                 in zip(cases["validity"], ours, openmodule_answers["validity"], strict=True) if mine != theirs]
    assert differing == []
    outcomes = [tuple(outcome) for answer in ours for outcome in answer]
    # every outcome is well represented: accepted, rejected for the gate, rejected before
    assert min(outcomes.count(kind) for kind in [(True, None), (False, "wrong_gate"), (False, None)]) > 100


def test_deduplication_is_openmodules(cases, openmodule_answers):
    ours = [[access.id for access in deduplicate_accesses([AccessCheckAccess.model_validate(a) for a in case])]
            for case in cases["dedup"]]
    assert ours == openmodule_answers["dedup"]


def test_lpr_accesses_found_are_openmodules(cases, openmodule_answers):
    ours = [[access.id for access in find_lpr_accesses(LprData(**case["lpr"]),
                                                       [LPRKnownAccess(**a) for a in case["accesses"]],
                                                       MatchingConfig(**case["matching"]))]
            for case in cases["find"]]
    assert ours == openmodule_answers["find"]
    assert sum(1 for found in ours if found) > 50  # matches are common, not only empty answers


def test_search_keys_are_openmodules(cases, openmodule_answers):
    assert [get_lpr_id_search(plate) for plate in cases["search"]] == openmodule_answers["search"]
