"""Charsets and plate matching: what tests/interop/test_matching_interop.py cannot compare with openmodule."""

from __future__ import annotations

import logging

import pytest
from openmodule_hookspecs import AccessCheckAccess, LprData

from openmodule_host.utils import (
    CharsetConverter,
    LPRKnownAccess,
    MatchingConfig,
    PlateYamlSelector,
    deduplicate_accesses,
    find_lpr_accesses,
    full_lpr_charset,
    get_lpr_id_search,
    legacy_lpr_charset,
)


@pytest.fixture
def selector(tmp_path) -> PlateYamlSelector:
    return PlateYamlSelector(str(tmp_path / "schemes"), revision_file=str(tmp_path / "revision"))


def database(selector: PlateYamlSelector, *records: tuple[str, str, int]) -> dict:
    db: dict = {}
    for index, (plate, country, version) in enumerate(records):
        selector.insert_into_db_and_create_record(db, plate, country, "DEFAULT", version, id=index)
    return db


def test_the_charset_presets():
    assert CharsetConverter(legacy_lpr_charset).clean("g-Ärivo 1 Q") == "GARIV010"
    assert CharsetConverter(full_lpr_charset).clean("g-ärivo. 1 Q") == "GÄRIVO1Q"


def test_schemes_convert_with_the_best_version_at_or_below_the_one_asked(selector):
    assert selector.convert("G-ARIVO 1", "DEFAULT", 20) == "G:ARIVO1"
    assert selector.convert("G-ARIVO 1", "DEFAULT", 19) == "GARIVO1"  # DEFAULT-10
    assert selector.convert("G-ÄRIVO 1", "NOSUCH", 4) == "GARIV01"  # DEFAULT, version 0 = LEGACY-0
    with pytest.raises(ValueError, match="no version of plate scheme DEFAULT at or below -1"):
        selector.convert("X", "DEFAULT", -1)


def test_a_record_keeps_the_plate_and_its_conversion_and_refuses_clashing_extras(selector):
    record = selector.create_db_record("G-ARIVO 1", "A", "DEFAULT", 15, id=7, ticket="T1")
    assert record == {"plate": "G-ARIVO 1", "country": "A", "plate_scheme": "DEFAULT", "plate_scheme_version": 15,
                      "plate_conv": "GARIVO1", "exactitude": 0.6, "used_scheme": "DEFAULT", "used_version": 10,
                      "id": 7, "ticket": "T1"}
    with pytest.raises(ValueError, match=r"\['plate_conv'\] are fields of the matching db record"):
        selector.create_db_record("X", "A", "DEFAULT", 10, plate_conv="Y")


def test_other_is_added_to_the_read_countries_as_openmodule_does(selector):
    assert selector.create_plate_for_matching("G1", "OTHER")["country"] == [
        {"code": "OTHER", "confidence": 0.5}, {"code": "OTHER", "confidence": 0.5}]
    assert PlateYamlSelector("/nonexistent", always_add_other_country_to_plate_for_matching=False) \
        .create_plate_for_matching("G1", "A")["country"] == [{"code": "A", "confidence": 0.5}]


def test_edit_distance_matches_are_grouped_by_distance(selector):
    db = database(selector, ("GARIV", "A", 10), ("GARIVO12", "A", 10), ("GARIVO1", "A", 10), ("XX", "A", 10))
    read = selector.create_plate_for_matching("GARIVO1", "A")
    found = selector.match_plate(read, db, use_alternatives=False, max_ed=2, return_only_best=False)
    assert [[record["id"] for record in group] for group in found] == [[2], [1], [0]]
    db = database(selector, ("AB", "A", 10), ("GARIVO12", "A", 10), ("GARIV", "A", 10))
    best = selector.match_plate(selector.create_plate_for_matching("GARIVO", "A"), db, use_alternatives=False,
                                max_ed=2)
    assert [[record["id"] for record in group] for group in best] == [[2]]  # distance 1 before distance 2


def test_alternatives_are_matched_with_ed0_each_in_its_own_list(selector):
    db = database(selector, ("GARIVO1", "A", 10), ("W12345", "A", 10))
    read = selector.create_plate_for_matching("GARIV01", "A", alternatives=[
        {"plate": "GARIVO1", "confidence": 0.4}, {"plate": "W12345", "confidence": 0.3}])
    found = selector.match_plate(read, db, max_ed=3, return_only_best=False)
    assert [[record["id"] for record in group] for group in found] == [[0], [1]]


def test_without_alternatives_the_plate_itself_is_used(selector, caplog):
    db = database(selector, ("GARIVO1", "A", 10))
    with caplog.at_level(logging.WARNING):
        found = selector.match_plate(selector.create_plate_for_matching("G-ARIVO 1", "A"), db)
    assert found[0][0]["id"] == 0
    assert "no alternatives present" in caplog.text


def test_nothing_found_gives_empty_lists(selector):
    db = database(selector, ("GARIVO1", "A", 10))
    assert selector.match_plate(selector.create_plate_for_matching("W1", "A"), db, use_alternatives=False) == [[]]


def test_scheme_files_are_read_again_when_the_revision_changes(tmp_path, caplog):
    folder, revision = tmp_path / "schemes", tmp_path / "revision"
    folder.mkdir()
    revision.write_text("1")
    selector = PlateYamlSelector.from_config(MatchingConfig(directory=str(folder)))
    assert selector.convert("A-B", "AT", 1) == "AB"  # no AT scheme yet: DEFAULT-0

    (folder / "AT-1.yml").write_text('allowed: "AB-"\nkept_separators: ALL\nexactitude: 0.9\n')
    (folder / "AT-x.yml").write_text('allowed: "AB"\nexactitude: 0.9\n')
    (folder / "BROKEN-2.yml").write_text("allowed: [\n")
    selector.reload_yamls()
    assert selector.convert("A-B", "AT", 1) == "AB"  # same revision: not read again
    revision.write_text("2")
    with caplog.at_level(logging.ERROR):
        selector.reload_yamls()
    assert selector.convert("A-B", "AT", 1) == "A-B"
    assert sorted(selector.schemes) == ["AT", "DEFAULT"]
    assert sorted(selector.schemes["AT"]) == [0, 1]  # version 0 of every scheme is LEGACY-0
    assert "AT-x.yml is not SCHEME-VERSION.yml" in caplog.text and "BROKEN-2.yml is invalid" in caplog.text


# -- access-service helpers ------------------------------------------------------------------------------------

def test_plate_search_keys_use_the_legacy_charset():
    assert get_lpr_id_search("g-Ärivo 1") == "GARIV01"


def test_accesses_are_deduplicated_by_id_keeping_the_first():
    first, again, other = (AccessCheckAccess(id=id_, source=source, category="whitelist", accepted=True,
                                             used_medium={"id": "G1", "type": "lpr"}, access_data={})
                           for id_, source in (("a", "one"), ("a", "two"), ("b", "one")))
    assert deduplicate_accesses([first, again, other]) == [first, other]


def test_find_lpr_accesses_matches_each_access_in_its_own_scheme(tmp_path):
    config = MatchingConfig(directory=str(tmp_path / "schemes"))
    accesses = [
        LPRKnownAccess("old", "G-ÄRIVO 1", "A", "DEFAULT", 0),  # legacy: GARIV01
        LPRKnownAccess("default", "G ARIVO1", "A"),  # DEFAULT-10: GARIVO1
        LPRKnownAccess("exact", "G:ARIVO1", "A", "DEFAULT", 20),  # keeps the first separator
        LPRKnownAccess("elsewhere", "GARIVO1", "D"),
    ]
    found = find_lpr_accesses(LprData(plate="GARIVO1", country="A"), accesses, config)
    assert [access.id for access in found] == ["old", "default", "elsewhere"]  # OTHER is added to the read's A
    with pytest.raises(ValueError, match="edit distance 0 only"):
        find_lpr_accesses(LprData(plate="G1"), accesses, config.model_copy(update={"edit_distance": 1}))
