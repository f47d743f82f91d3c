"""Licence-plate matching with plate schemes (openmodule's ``utils/matching.py``).

A *plate scheme* (a YAML file ``SCHEME-VERSION.yml``) says how a read plate is converted before it is
compared: ``allowed`` characters, ``replacements`` (applied in order), ``kept_separators`` (``NONE``,
``FIRST``, ``LAST`` or ``ALL`` of the separators `` -_.:``) and an ``exactitude``. Built in: ``LEGACY-0``,
``DEFAULT-5``, ``DEFAULT-10``, ``DEFAULT-20``; files in the scheme folder add to them, and are read again
when the ``revision`` file next to the folder changes. A plate is converted with the newest version of
its scheme that is not newer than the one asked for (an unknown scheme: ``DEFAULT``); version 0 of
every scheme is ``LEGACY-0``.

Matching looks a plate up in a database shaped ``{country: {version: [records]}}`` (records from
:meth:`PlateYamlSelector.create_db_record`, filed by :meth:`~PlateYamlSelector.insert_into_db`): first in
the countries the read gives, in that order, newest version first; if the read says ``OTHER``, then in
``default_country_order``, then in every other country by falling exactitude. ED0 compares the converted
plates for equality; with ``max_ed`` > 0 the edit distance may be up to ``max_ed``. With alternatives
(``use_alternatives``) each alternative is tried, with ED0 only. ``return_only_best`` stops at the first
ED0 hit and otherwise returns the best match found.

Differences to openmodule 18.5.0, both where its code does not do what it says: the matches are grouped
by edit distance (by alternative with ``use_alternatives``) as documented, where openmodule's lists are
all one shared list (``[[]] * n``), so without ``return_only_best`` or with ``max_ed`` > 1 its order
differs; and a scheme version that does not exist raises ``ValueError`` instead of ``AssertionError``.
"""

from __future__ import annotations

import copy
import glob
import logging
import os
import unicodedata
from collections.abc import Iterable
from typing import Any

import editdistance
import yaml
from openmodule_hookspecs import OpenModuleModel

__all__ = ["SEPARATOR_CHARS", "MatchingConfig", "PlateYaml", "PlateYamlSelector"]

SEPARATOR_CHARS = " -_.:"

_BUILT_IN = {
    "LEGACY-0.yml": {
        "allowed": "0123456789ABCDEFGHIJKLMNPRSTUVWXYZ", "kept_separators": "NONE", "exactitude": 0.0,
        "replacements": [{"from": "O", "to": "0"}, {"from": "Q", "to": "0"}, {"from": "Ä", "to": "A"},
                         {"from": "Ö", "to": "0"}, {"from": "Ü", "to": "U"}],
    },
    "DEFAULT-5.yml": {
        "allowed": "0123456789ABCDEFGHIJKLMNPQRSTUVWXYZÄÖÜ", "kept_separators": "NONE", "exactitude": 0.4,
        "replacements": [{"from": "O", "to": "0"}],
    },
    "DEFAULT-10.yml": {
        "allowed": "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÜ:", "kept_separators": "NONE", "exactitude": 0.6,
        "replacements": [{"from": " ", "to": ":"}, {"from": "-", "to": ":"}, {"from": ".", "to": ":"}],
    },
    "DEFAULT-20.yml": {
        "allowed": "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÜ:", "kept_separators": "FIRST", "exactitude": 0.7,
        "replacements": [{"from": " ", "to": ":"}, {"from": "-", "to": ":"}, {"from": ".", "to": ":"}],
    },
}

Record = dict[str, Any]
#: ``{country: {version: [records]}}``
Database = dict[str, dict[int, list[Record]]]


class MatchingConfig(OpenModuleModel):
    directory: str = "/data/schemes/schemes"
    default_scheme: str = "DEFAULT"
    default_version: int = 10
    default_country_order: list[str] = []
    legacy_in_default_country_order: bool = False
    edit_distance: int = 0
    use_alternatives: bool = False
    only_best: bool = True
    add_other_country_always: bool = True


class PlateYaml:
    """One plate scheme version. An unreadable file is logged and gets version -1 (it is ignored)."""

    def __init__(self, filename: str, content: str | dict[str, Any] | None = None) -> None:
        self.scheme = ""
        self.version = -1
        self.exactitude = 0.0
        self.filename = filename
        self.valid_chars = ""
        self.kept_separators = "NONE"
        self.replacements: list[tuple[str, str]] = []
        self.log = logging.getLogger(f"PlateYaml<{os.path.basename(filename).replace('.', '-')}>")
        try:
            if isinstance(content, dict):
                settings = content
            elif content is None:
                with open(filename, encoding="utf-8") as file:
                    settings = yaml.safe_load(file)
            else:
                settings = yaml.safe_load(content)
            self.valid_chars = settings["allowed"]
            self.exactitude = settings["exactitude"]
            self.kept_separators = str(settings.get("kept_separators", "NONE")).upper()
            self.replacements = [(item["from"], item["to"]) for item in settings.get("replacements", [])
                                 if item.get("from", "") != "" and "to" in item]
        except Exception:
            self.log.exception("plate scheme %s is invalid and will be ignored", filename)
            return
        name = os.path.basename(filename).replace(".", "-").split("-")
        try:
            self.scheme, self.version = name[0], int(name[1])
        except (IndexError, ValueError):
            self.scheme, self.version = "", -1
            self.log.error("plate scheme file name %s is not SCHEME-VERSION.yml; it will be ignored", filename)

    def convert(self, plate: str) -> str:
        plate = plate.upper()
        for old, new in self.replacements:
            plate = plate.replace(old, new)
        for char in set(plate):
            if char not in self.valid_chars:
                # another character: its ASCII base letter if that is allowed (Ž -> Z), else nothing
                ascii_char = unicodedata.normalize("NFD", char).encode("ascii", "ignore").decode()
                plate = plate.replace(char, ascii_char if ascii_char in self.valid_chars else "")
        if self.kept_separators == "ALL":
            return plate
        stripped = "".join(char for char in plate if char not in SEPARATOR_CHARS)
        if self.kept_separators == "FIRST":
            for index, char in enumerate(plate):
                if char in SEPARATOR_CHARS:
                    return plate[:index + 1] + stripped[index:]
            return plate
        if self.kept_separators == "LAST":
            for index, char in enumerate(reversed(plate)):
                if char in SEPARATOR_CHARS:
                    # as openmodule: a separator at the very end keeps only that separator
                    return stripped[:-index] + plate[-1 - index:] if index else plate[-1:]
            return plate
        return stripped


class PlateYamlSelector:
    """The plate schemes of a folder (plus the built-in ones), and matching with them."""

    standard_schemes: dict[str, dict[int, PlateYaml]] = {
        "LEGACY": {0: PlateYaml("LEGACY-0.yml", _BUILT_IN["LEGACY-0.yml"])},
        "DEFAULT": {version: PlateYaml(f"DEFAULT-{version}.yml", _BUILT_IN[f"DEFAULT-{version}.yml"])
                    for version in (5, 10, 20)},
    }

    @classmethod
    def from_config(cls, config: MatchingConfig) -> PlateYamlSelector:
        return cls(
            yaml_dir=config.directory,
            revision_file=os.path.join(os.path.dirname(config.directory), "revision"),
            default_country_order=config.default_country_order,
            legacy_in_default_country_order=config.legacy_in_default_country_order,
            always_add_other_country_to_plate_for_matching=config.add_other_country_always,
        )

    def __init__(
        self,
        yaml_dir: str,
        revision_file: str = "",
        default_country_order: list[str] | None = None,
        legacy_in_default_country_order: bool = False,
        always_add_other_country_to_plate_for_matching: bool = True,
    ) -> None:
        self.yaml_dir = yaml_dir
        self.default_country_order = default_country_order or []
        self.legacy_in_default_country_order = legacy_in_default_country_order
        self.always_add_other_country_to_plate_for_matching = always_add_other_country_to_plate_for_matching
        self.schemes: dict[str, dict[int, PlateYaml]] = {}
        self.revision_file = revision_file
        self.revision = ""
        self.reload_yamls()

    def reload_yamls(self) -> None:
        """Read the scheme folder again if the revision file changed (or on the first call)."""
        if self.revision_file and os.path.exists(self.revision_file):
            with open(self.revision_file, encoding="utf-8") as file:
                revision = file.read()
        else:
            revision = "LOADED"
        if revision == self.revision:
            return
        schemes = copy.deepcopy(self.standard_schemes)
        for filename in glob.glob(os.path.join(self.yaml_dir, "*.yml")):
            plate_yaml = PlateYaml(filename)
            if plate_yaml.version >= 0:
                schemes.setdefault(plate_yaml.scheme, {})[plate_yaml.version] = plate_yaml
        legacy = schemes.pop("LEGACY")[0]
        for versions in schemes.values():
            versions[0] = legacy
        self.schemes, self.revision = schemes, revision

    def get_all_exactitudes_decreasing(self) -> list[float]:
        return sorted({yml.exactitude for versions in self.schemes.values() for yml in versions.values()},
                      reverse=True)

    def get_best_yaml(self, scheme: str, version: int) -> PlateYaml:
        """The newest version of ``scheme`` (``DEFAULT`` if unknown) that is not newer than ``version``."""
        versions = self.schemes.get(scheme) or self.schemes["DEFAULT"]
        for candidate in sorted(versions, reverse=True):
            if candidate <= version:
                return versions[candidate]
        raise ValueError(f"no version of plate scheme {scheme} at or below {version}")

    def convert(self, plate: str, scheme: str, version: int, return_matched_yaml: bool = False) -> Any:
        best = self.get_best_yaml(scheme, version)
        if return_matched_yaml:
            return {"plate": best.convert(plate), "scheme": best.scheme, "version": best.version,
                    "exactitude": best.exactitude}
        return best.convert(plate)

    def create_db_record(self, plate: str, country: str, scheme: str, version: int, id: Any = None,
                         **kwargs: Any) -> Record:
        """A database record of a plate: the plate as given, and converted with the scheme's best version."""
        converted = self.convert(plate, scheme, version, return_matched_yaml=True)
        record = {
            "plate": plate, "country": country, "plate_scheme": scheme, "plate_scheme_version": version,
            "plate_conv": converted["plate"], "exactitude": converted["exactitude"],
            "used_scheme": converted["scheme"], "used_version": converted["version"], "id": id,
        }
        if clash := set(kwargs) & set(record):
            raise ValueError(f"additional arguments {sorted(clash)} are fields of the matching db record")
        record.update(kwargs)
        return record

    def create_plate_for_matching(self, plate: str, country: str = "OTHER", plate_confidence: float = 0.5,
                                  country_confidence: float = 0.5,
                                  alternatives: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        """A read plate as :meth:`match_plate` takes it. Like openmodule, ``OTHER`` is added to the countries
        whenever ``add_other_country_always`` is on, even when the country is ``OTHER`` already."""
        countries = [{"code": country, "confidence": country_confidence}]
        if self.always_add_other_country_to_plate_for_matching:
            countries.append({"code": "OTHER", "confidence": 0.5})
        return {"plate": {"plate": plate, "confidence": plate_confidence}, "country": countries,
                "alternatives": alternatives or []}

    @staticmethod
    def insert_into_db(db: Database, record: Record) -> None:
        db.setdefault(record["country"], {}).setdefault(record["used_version"], []).append(record)

    def insert_into_db_and_create_record(self, db: Database, plate: str, country: str, scheme: str, version: int,
                                         id: Any = None, **kwargs: Any) -> None:
        self.insert_into_db(db, self.create_db_record(plate, country, scheme, version, id, **kwargs))

    # -- matching ---------------------------------------------------------------------------------

    def _search(self, records: list[Record], plate: str, max_ed: int, matches: list[list[Record]],
                group: int | None, only_best: bool) -> Record | None:
        """Compare ``plate`` with one (country, version) list; file hits under their distance (or ``group``).
        Returns an ED0 hit when ``only_best``."""
        if not records or "used_scheme" not in records[0]:
            return None
        converted = self.convert(plate, records[0]["used_scheme"], records[0]["used_version"])
        for record in records:
            distance = 0 if converted == record["plate_conv"] else (
                editdistance.eval(converted, record["plate_conv"]) if max_ed else max_ed + 1)
            if distance <= max_ed:
                matches[distance if group is None else group].append(record)
                if distance == 0 and only_best:
                    return record
        return None

    def match_plate(self, plate: dict[str, Any], db: Database, use_alternatives: bool = True, max_ed: int = 0,
                    return_only_best: bool = True) -> list[list[Record]]:
        """Find ``plate`` (from :meth:`create_plate_for_matching`) in ``db``. Returns ``[[best]]`` with
        ``return_only_best`` (``[]`` entries if nothing matched), else the matches by edit distance (by
        alternative with ``use_alternatives``)."""
        self.reload_yamls()
        if use_alternatives:
            max_ed = 0
            reads = plate.get("alternatives", [])
            if not reads:
                logging.warning("use alternatives is active but no alternatives present! falling back to plate")
                reads = [plate.get("plate", {})]
            matches: list[list[Record]] = [[] for _ in reads]
        else:
            reads = [plate.get("plate", {})]
            matches = [[] for _ in range(max_ed + 1)]
        for index, read in enumerate(reads):
            group = index if use_alternatives else None
            for records in self._lists_to_search(plate, db):
                if (hit := self._search(records, read["plate"], max_ed, matches, group, return_only_best)) is not None:
                    return [[hit]]
            if return_only_best:
                for found in matches:
                    if found:
                        return [[found[0]]]
        return matches

    def _lists_to_search(self, plate: dict[str, Any], db: Database) -> Iterable[list[Record]]:
        """The (country, version) lists in the order they are searched."""
        checked: list[str] = []
        check_other = False
        for country in (entry["code"] for entry in plate.get("country", [])):
            if country == "OTHER":
                check_other = True
                break
            if country not in db:
                continue
            for version in sorted(db[country], reverse=True):
                yield db[country][version]
            checked.append(country)
        if not check_other:
            return
        without_legacy: list[str] = []
        for country in self.default_country_order:
            if country in checked or country not in db:
                continue
            versions = sorted(db[country], reverse=True)
            if not self.legacy_in_default_country_order and 0 in versions:
                versions.remove(0)
            for version in versions:
                yield db[country][version]
            (checked if self.legacy_in_default_country_order else without_legacy).append(country)
        for exactitude in self.get_all_exactitudes_decreasing():
            for country, by_version in db.items():
                if country in checked or (exactitude != 0 and country in without_legacy):
                    continue
                for records in by_version.values():
                    if records and records[0]["exactitude"] == exactitude:
                        yield records
