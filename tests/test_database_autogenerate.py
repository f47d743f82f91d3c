"""A ported openmodule service keeps generating its revisions: its ``env.py`` (``run_env_py([Base])``, import
line ported) under the Alembic command line writes revisions as openmodule's does, and the host runs them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from openmodule_host.database import normalise_url, prepare_postgres_schema, target_for, upgrade
from tests.support.databases import POSTGRES_URL
from tests.support.openmodule_port import OPENMODULE_SERVICE, port_database_folder

CATEGORY = "f486b63c472c"


def alembic(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``alembic <args>`` in the service's database folder (its ``alembic.ini`` names a scratch SQLite file)."""
    return subprocess.run([sys.executable, "-m", "alembic", *args], cwd=folder, capture_output=True, text=True,
                          timeout=120)


@pytest.fixture
def ported(tmp_path: Path) -> Path:
    port_database_folder(OPENMODULE_SERVICE / "database", tmp_path / "service" / "database")
    folder = tmp_path / "service" / "database"
    assert alembic(folder, "upgrade", "head").returncode == 0  # the scratch database, at the newest revision
    return folder


def add_to_models(folder: Path, line: str) -> None:
    models = folder / "database_models.py"
    models.write_text(models.read_text() + f"    {line}\n")  # the last class is AccessPlate


def new_revisions(folder: Path) -> list[Path]:
    return [path for path in (folder / "alembic" / "versions").glob("*.py") if CATEGORY not in path.name
            and not path.name.startswith("abd09cb91f51")]


def test_an_unchanged_model_generates_no_revision(ported):
    result = alembic(ported, "revision", "--autogenerate", "-m", "nothing")
    assert result.returncode == 0, result.stderr
    assert new_revisions(ported) == []


def test_a_changed_model_generates_a_revision_framed_by_the_custom_operations(ported, backend):
    add_to_models(ported, "note = Column(JSONEncodedDict, nullable=True)")
    result = alembic(ported, "revision", "--autogenerate", "-m", "plate note")
    assert result.returncode == 0, result.stderr
    (revision,) = new_revisions(ported)
    text = revision.read_text()
    assert "from openmodule_host.database.custom_types import JSONEncodedDict" in text
    upgrade_body = text[text.index("def upgrade"):text.index("def downgrade")]
    downgrade_body = text[text.index("def downgrade"):]
    added = upgrade_body.index("add_column(sa.Column('note', JSONEncodedDict()")
    assert upgrade_body.index("op.pre_upgrade()") < added < upgrade_body.index("op.post_upgrade()")
    assert downgrade_body.index("op.pre_downgrade()") < downgrade_body.index("drop_column('note')") \
        < downgrade_body.index("op.post_downgrade()")

    # ... and the host runs it as the plugin's newest revision
    name = backend.name("om_generated")
    target = target_for(name, backend.data_dir, normalise_url(POSTGRES_URL) if backend.kind == "postgresql" else None)
    result = upgrade(ported, prepare_postgres_schema(target) if target.schema else target)
    assert result.after == revision.name.split("_")[0]
    with backend.admin_connection(name) as connection:
        schema = target.schema if backend.kind == "postgresql" else None
        columns = {column["name"] for column in sa.inspect(connection).get_columns("access_plates", schema=schema)}
    assert "note" in columns


def test_a_plain_datetime_column_is_refused_as_openmodule_does(ported):
    models = ported / "database_models.py"
    models.write_text(models.read_text().replace("from sqlalchemy import ", "from sqlalchemy import DateTime, "))
    add_to_models(ported, "seen = Column(DateTime, nullable=True)")
    result = alembic(ported, "revision", "--autogenerate", "-m", "seen")
    assert result.returncode != 0
    assert "column access_plates.seen is a plain DateTime: use TZDateTime" in result.stderr
    assert new_revisions(ported) == []
