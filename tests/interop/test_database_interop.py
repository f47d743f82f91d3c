"""An openmodule service's SQLite file is taken over by its plugin, and handed back.

The real openmodule 18.5.0 (``peers/openmodule_database.py``, in its own interpreter) creates the file with its
``Database`` and the service's database folder (``tests/support/fixtures/openmodule_service``, at its first revision)
and writes rows through its column types. The plugin, whose migrations are the same folder one revision
later with only its import lines ported, upgrades that file at start: the revision moves on, every row stays
(also the rows referencing the table the new revision rebuilds), and a backup of the file as openmodule left
it is beside it. openmodule then reopens the file and reads what the plugin wrote.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from openmodule_host.database import JSONEncodedDict, TZDateTime
from tests.support.openmodule_port import OPENMODULE_SERVICE, ServicePlugin, port_database_folder

from .peer import openmodule_python

pytestmark = pytest.mark.interop

PEER = Path(__file__).with_name("peers") / "openmodule_database.py"
NAME = "om_access_1"
INITIAL, CATEGORY = "abd09cb91f51", "f486b63c472c"


def run_openmodule(service: Path, data_dir: Path, **rows: list[dict[str, Any]]) -> dict[str, Any]:
    request = {"service": str(service), "folder": str(data_dir), "name": NAME,
               "accesses": rows.get("accesses", []), "plates": rows.get("plates", [])}
    result = subprocess.run([str(openmodule_python()), str(PEER)], input=json.dumps(request), capture_output=True,
                            text=True, timeout=120, cwd=service)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_an_openmodule_sqlite_file_is_upgraded_by_its_plugin_and_read_back_by_openmodule(om_host, tmp_path):
    service, data_dir = tmp_path / "service", tmp_path / "data"
    shutil.copytree(OPENMODULE_SERVICE / "database", service / "database")
    next((service / "database" / "alembic" / "versions").glob(f"{CATEGORY}_*.py")).unlink()  # before its update
    before = run_openmodule(service, data_dir, accesses=[
        {"id": "a1", "plate": "GARIVO1", "data": {"gates": ["in-1"], "n": 1.5}, "valid_from": "2024-01-02T03:04:05"},
        {"id": "a2", "plate": "WIEN2", "data": None, "valid_from": "2024-06-30T23:59:59.123456"},
    ], plates=[{"access_id": "a1", "plate": "GARIVO1"}, {"access_id": "a1", "plate": "GARIVO2"}])
    assert before["revision"] == INITIAL
    for backup in data_dir.glob("*.backup"):  # openmodule's own, younger than a minute: ours would wait for it
        backup.unlink()

    port_database_folder(OPENMODULE_SERVICE / "database", tmp_path / "ported" / "database")
    plugin = ServicePlugin(tmp_path / "ported" / "database")
    host = om_host((NAME, plugin), data_dir=str(data_dir))
    assert host.plugins[NAME].state == "running"

    with plugin.core.database() as session:
        assert session.scalar(sa.text("SELECT version_num FROM alembic_version")) == CATEGORY
        rows = session.execute(sa.text("SELECT id, plate, category, valid_from FROM accesses ORDER BY id")).all()
        plates = session.execute(sa.text("SELECT access_id, plate FROM access_plates ORDER BY plate")).all()
    assert [tuple(row) for row in rows] == [("a1", "GARIVO1", None, "2024-01-02 03:04:05.000000"),
                                            ("a2", "WIEN2", None, "2024-06-30 23:59:59.123456")]
    assert [tuple(row) for row in plates] == [("a1", "GARIVO1"), ("a1", "GARIVO2")]
    (backup,) = data_dir.glob(f"{NAME}_*_{INITIAL}.sqlite3.backup")
    with sqlite3.connect(backup) as copy:
        assert copy.execute("SELECT version_num FROM alembic_version").fetchall() == [(INITIAL,)]
        assert copy.execute("SELECT count(*) FROM access_plates").fetchone() == (2,)

    accesses = sa.table("accesses", sa.column("id"), sa.column("plate"), sa.column("category"),
                        sa.column("data", JSONEncodedDict()), sa.column("valid_from", TZDateTime()))
    with plugin.core.database() as session:
        assert session.execute(sa.select(accesses.c.data).where(accesses.c.id == "a1")).scalar_one() == \
            {"gates": ["in-1"], "n": 1.5}
        session.execute(accesses.insert().values(id="a3", plate=None, category="staff", data=[1, "zwei"],
                                                 valid_from=datetime(2025, 1, 1, 12)))
    host.stop()

    shutil.copytree(OPENMODULE_SERVICE / "database", service / "database", dirs_exist_ok=True)  # openmodule updated
    after = run_openmodule(service, data_dir)
    assert after["revision"] == CATEGORY
    assert after["accesses"] == {
        "a1": ["GARIVO1", {"gates": ["in-1"], "n": 1.5}, "2024-01-02T03:04:05"],
        "a2": ["WIEN2", None, "2024-06-30T23:59:59.123456"],
        "a3": [None, [1, "zwei"], "2025-01-01T12:00:00"],
    }
    assert after["plates"] == [["a1", "GARIVO1"], ["a1", "GARIVO2"]]


def test_an_openmodule_sqlite_file_at_the_newest_revision_is_taken_over_unchanged(om_host, tmp_path):
    service, data_dir = tmp_path / "service", tmp_path / "data"
    shutil.copytree(OPENMODULE_SERVICE / "database", service / "database")
    run_openmodule(service, data_dir, accesses=[
        {"id": "a1", "plate": "GARIVO1", "data": {"k": "v"}, "valid_from": "2024-01-02T03:04:05"}])
    backups = sorted(data_dir.glob("*.backup"))

    port_database_folder(OPENMODULE_SERVICE / "database", tmp_path / "ported" / "database")
    plugin = ServicePlugin(tmp_path / "ported" / "database")
    host = om_host((NAME, plugin), data_dir=str(data_dir))
    assert host.plugins[NAME].state == "running"
    with plugin.core.database() as session:
        assert session.scalar(sa.text("SELECT version_num FROM alembic_version")) == CATEGORY
        assert session.execute(sa.text("SELECT id, plate FROM accesses")).all() == [("a1", "GARIVO1")]
    assert sorted(data_dir.glob("*.backup")) == backups  # no revision ran, so no backup either
