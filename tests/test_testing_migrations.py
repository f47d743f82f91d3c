"""The migration test helper (openmodule-test's AlembicMigrationTestMixin) on real SQLite files and the real
PostgreSQL: every revision from empty, the schema against the models, downgrades as far as they go, an old
database with data upgraded; truncate_all_tables between tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from openmodule_hookspecs import hookimpl
from sqlalchemy import Column, Integer, MetaData, String, Table, text

from openmodule_host.database import MigrationError
from openmodule_host.testing import MigrationTester, truncate_all_tables
from tests.support.databases import MIGRATIONS, POSTGRES_URL


def notes_models(*extra: Column[Any]) -> MetaData:
    """The models of the notes plugin at its newest revision (plus ``extra`` columns)."""
    metadata = MetaData()
    Table("notes", metadata, Column("id", Integer, primary_key=True), Column("text", String(200)),
          Column("author", String(50), nullable=True), *extra)
    return metadata


@pytest.fixture(params=["sqlite", "postgresql"])
def migrations(request: pytest.FixtureRequest, om_migrations: Callable[..., MigrationTester]
               ) -> Callable[..., MigrationTester]:
    """``om_migrations`` on each backend."""
    url = POSTGRES_URL if request.param == "postgresql" else None
    return lambda folder, **kwargs: om_migrations(folder, database_url=url, **kwargs)


def test_every_revision_from_empty_then_the_schema_matches_the_models(migrations):
    tester = migrations(MIGRATIONS / "notes", metadata=notes_models())
    assert tester.current() is None
    assert tester.revisions == ["0001_notes", "0002_author"]
    assert tester.upgrade_each() == ["0001_notes", "0002_author"]
    assert tester.current() == "0002_author"
    assert tester.schema_diff() == []
    tester.assert_schema_matches_models()


def test_a_model_the_revisions_do_not_make_fails_naming_the_difference(migrations):
    tester = migrations(MIGRATIONS / "notes", metadata=notes_models(Column("pinned", Integer)))
    tester.upgrade()
    with pytest.raises(AssertionError, match=r"(?s)differs from the models .*'add_column'.*'pinned'"):
        tester.assert_schema_matches_models()


def test_downgrades_walk_back_to_empty_and_up_again(migrations):
    tester = migrations(MIGRATIONS / "notes", metadata=notes_models())
    tester.upgrade()
    assert tester.downgrade_each() == ["0002_author", "0001_notes"]
    assert tester.current() is None
    tester.upgrade()
    tester.assert_schema_matches_models()


def test_downgrades_stop_at_a_revision_that_cannot_be_undone(migrations):
    tester = migrations(MIGRATIONS / "one_way")
    tester.upgrade()
    assert tester.downgrade_each() == ["0002_country"]
    assert tester.current() == "0001_plates"


def test_an_old_database_with_data_is_upgraded_with_its_rows(migrations):
    tester = migrations(MIGRATIONS / "one_way")
    tester.upgrade("0001_plates")
    tester.insert("plates", {"id": 1, "plate": "G ARIVO 1"}, {"id": 2, "plate": "W 1"})
    tester.upgrade()
    assert tester.rows("plates") == [{"id": 1, "plate": "G ARIVO 1", "country": "A"},
                                     {"id": 2, "plate": "W 1", "country": "A"}]


def test_a_failing_revision_is_named_with_where_the_database_stays(migrations):
    tester = migrations(MIGRATIONS / "failing")
    with pytest.raises(MigrationError, match=r"upgrade from 0001_notes to 0002_broken failed: RuntimeError: .*the "
                                             r"database stays at 0001_notes") as failed:
        tester.upgrade_each()
    assert failed.value.revision == "0001_notes"


def test_schema_diff_needs_the_models(migrations):
    with pytest.raises(ValueError, match="schema_diff needs the models"):
        migrations(MIGRATIONS / "notes").schema_diff()


def test_truncate_all_tables_empties_every_table_but_keeps_the_revision(migrations):
    tester = migrations(MIGRATIONS / "notes")
    tester.upgrade()
    tester.insert("notes", {"id": 1, "text": "a"})
    tester.truncate_all_tables()
    assert tester.rows("notes") == []
    assert tester.current() == "0002_author"


class Notes:
    def __init__(self) -> None:
        self.core: Any = None

    @hookimpl
    def database_migrations(self) -> Any:
        return MIGRATIONS / "notes"

    @hookimpl
    def register_handlers(self, core: Any) -> None:
        self.core = core


@pytest.fixture
def notes(om_host) -> Iterator[Notes]:
    """A running plugin whose database is emptied after each test, as openmodule-test's SQLiteTestMixin does."""
    plugin = Notes()
    om_host(("notes", plugin))
    yield plugin
    truncate_all_tables(plugin.core.database)


def test_truncate_all_tables_on_a_running_plugins_database(notes):
    with notes.core.database() as session:
        session.execute(text("INSERT INTO notes (id, text) VALUES (1, 'a')"))
    truncate_all_tables(notes.core.database)
    with notes.core.database() as session:
        assert session.execute(text("SELECT count(*) FROM notes")).scalar_one() == 0
        assert session.execute(text("SELECT version_num FROM alembic_version")).scalar_one() == "0002_author"


def test_a_missing_folder_is_named():
    with pytest.raises(FileNotFoundError, match="no migrations folder /nowhere"):
        MigrationTester.sqlite("/nowhere", "/tmp")
