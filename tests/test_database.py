"""A database per plugin, against real SQLite files and the real PostgreSQL (every test runs on both)."""

import threading
import time

import pytest
from openmodule_hookspecs import hookimpl
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from tests.support.databases import MIGRATIONS
from tests.support.plugins import Recorder


class Notes:
    """A plugin with migrations (``tests/support/fixtures/migrations/<set>``)."""

    def __init__(self, migrations="notes"):
        self.migrations = MIGRATIONS / migrations
        self.core = None

    @hookimpl
    def database_migrations(self):
        return self.migrations

    @hookimpl
    def register_handlers(self, core):
        self.core = core

    def count(self):
        with self.core.database() as session:
            return session.execute(text("SELECT count(*) FROM notes")).scalar_one()


def start(om_host, backend, *plugins, **settings):
    named = [(backend.name(prefix), plugin) for prefix, plugin in plugins]
    host = om_host(*named, config={name: {"TESTING": True} for name, _ in named}, **backend.settings, **settings)
    return host, [name for name, _ in named]


def test_a_session_commits_on_success_and_rolls_back_on_error(om_host, backend):
    notes = Notes()
    start(om_host, backend, ("notes", notes))
    with notes.core.database() as session:
        session.execute(text("INSERT INTO notes (text, author) VALUES ('kept', 'me')"))
    with pytest.raises(RuntimeError), notes.core.database() as session:
        session.execute(text("INSERT INTO notes (text) VALUES ('rolled back')"))
        raise RuntimeError("handler failed")
    assert notes.count() == 1


def test_migrations_run_at_start_before_register_handlers_and_again_is_a_no_op(om_host, backend):
    notes = Notes()
    host, (name,) = start(om_host, backend, ("notes", notes))
    assert host.plugins[name].state == "running"
    with notes.core.database() as session:
        session.execute(text("INSERT INTO notes (text, author) VALUES ('x', 'y')"))  # 0002's column exists
    host.stop()

    again = Notes()
    second = om_host((name, again), **backend.settings)
    assert second.plugins[name].state == "running"
    assert again.count() == 1


def test_a_failing_migration_fails_only_its_plugin_and_leaves_the_previous_revision(om_host, backend, om_client):
    broken, fine = Notes("failing"), Recorder()
    host, (name, _) = start(om_host, backend, ("broken", broken), ("fine", fine), strict=False)
    plugin = host.plugins[name]
    assert plugin.state == "failed"
    assert plugin.reason == (
        "database migration failed: migration 0002_broken failed: RuntimeError: the data conversion failed; "
        "the database stays at 0001_notes"
    )
    with backend.admin_connection(name) as connection:
        assert connection.execute(text(f"SELECT count(*) FROM {backend.table(name, 'notes')}")).scalar_one() == 0
        revision = connection.execute(text(f"SELECT version_num FROM {backend.table(name, 'alembic_version')}"))
        assert revision.scalar_one() == "0001_notes"
        with pytest.raises(DBAPIError):
            connection.execute(text(f"SELECT * FROM {backend.table(name, 'half_done')}"))
    checks = {check["id"]: check for check in om_client.get_health("openmodule_host")["checks"]}
    assert "migration 0002_broken failed" in checks[f"plugin_{name}"]["message"]
    assert [state.state for state in host.statuses() if state.name != name] == ["running"]


def test_a_migration_that_hangs_is_killed_after_the_timeout(om_host, backend):
    started = time.monotonic()
    host, (name,) = start(om_host, backend, ("slow", Notes("slow")), migration_timeout=1, strict=False)
    assert time.monotonic() - started < 10
    assert host.plugins[name].reason == (
        "database migration failed: migrations did not finish within 1 s: the migration process was killed"
    )


def test_a_plugin_cannot_read_or_write_another_plugins_tables(om_host, backend):
    first, second = Notes(), Notes()
    _, (first_name, _) = start(om_host, backend, ("first", first), ("second", second))
    with first.core.database() as session:
        session.execute(text("INSERT INTO notes (text) VALUES ('private')"))
    assert second.count() == 0
    other = backend.table(first_name, "notes")
    with pytest.raises(DBAPIError), second.core.database() as session:
        session.execute(text(f"SELECT * FROM {other}" if backend.kind == "postgresql" else "SELECT * FROM nope"))
    if backend.kind == "postgresql":
        with pytest.raises(DBAPIError, match="permission denied"), second.core.database() as session:
            session.execute(text(f"INSERT INTO {other} (text) VALUES ('intruder')"))
    assert first.count() == 1


def test_two_plugins_writing_at_full_rate_do_not_block_each_other(om_host, backend):
    first, second = Notes(), Notes()
    start(om_host, backend, ("first", first), ("second", second))
    holding, second_done = threading.Event(), threading.Event()
    held_until_second_was_done: list[bool] = []

    def hold_a_write_transaction():
        with first.core.database() as session:
            session.execute(text("INSERT INTO notes (text) VALUES ('held')"))
            holding.set()
            # Released only once the second plugin committed everything (or after 60 s, if it waits for us).
            held_until_second_was_done.append(second_done.wait(60))

    holder = threading.Thread(target=hold_a_write_transaction)
    holder.start()
    assert holding.wait(5)
    for index in range(100):
        with second.core.database() as session:
            session.execute(text("INSERT INTO notes (text) VALUES (:t)"), {"t": f"row {index}"})
    second_done.set()
    holder.join()
    assert held_until_second_was_done == [True], "the second plugin waited for the first's open transaction"
    assert (first.count(), second.count()) == (1, 100)


def test_sqlite_files_are_per_plugin_in_the_data_dir_with_wal_and_foreign_keys(om_host, sqlite_backend):
    backend = sqlite_backend
    notes = Notes()
    _, (name,) = start(om_host, backend, ("notes", notes))
    assert (backend.data_dir / f"{name}.sqlite3").is_file()
    with notes.core.database() as session:
        assert session.execute(text("PRAGMA journal_mode")).scalar_one() == "wal"
        assert session.execute(text("PRAGMA foreign_keys")).scalar_one() == 1


def test_postgresql_gets_a_schema_named_after_the_plugin(om_host, postgres_backend):
    backend = postgres_backend
    notes = Notes()
    _, (name,) = start(om_host, backend, ("notes", notes))
    with notes.core.database() as session:
        assert session.execute(text("SELECT current_schema()")).scalar_one() == name


def test_a_plugin_without_migrations_gets_its_database_on_first_use(om_host, backend):
    recorder = Recorder()
    start(om_host, backend, ("plain", recorder))
    assert not recorder.core.database.is_open()
    with recorder.core.database() as session:
        assert session.execute(text("SELECT 1")).scalar_one() == 1


def test_a_host_killed_mid_stream_loses_no_committed_row_and_reopens_cleanly(om_host, backend):
    import json
    import signal
    import subprocess
    import sys

    name = backend.name("writer")
    writer = subprocess.Popen(
        [sys.executable, "-m", "tests.support.db_writer", name, json.dumps(backend.settings)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    last = 0
    try:
        for line in writer.stdout:
            if line.startswith("committed ") and line.split()[1].isdigit():
                last = int(line.split()[1])
                if last >= 300:
                    break
        writer.send_signal(signal.SIGKILL)  # in the middle of the stream: the writer never stops on its own
        writer.wait(10)
    finally:
        writer.stdout.close()
        if writer.poll() is None:
            writer.kill()
            writer.wait()
    assert last >= 300

    again = Notes()
    host = om_host((name, again), **backend.settings)
    assert host.plugins[name].state == "running"  # opens and migrates cleanly
    with again.core.database() as session:
        ids = set(session.execute(text("SELECT id FROM notes")).scalars())
    assert set(range(1, last + 1)) <= ids


def test_an_unreachable_postgresql_fails_only_the_plugins_that_need_it_without_printing_the_password(om_host):
    notes, plain = Notes(), Recorder()
    host = om_host(("notes", notes), ("plain", plain), database_url="postgresql://postgres:s3cret@127.0.0.1:1/test",
                   strict=False)
    assert host.plugins["notes"].state == "failed"
    assert host.plugins["notes"].reason.startswith("database migration failed: (psycopg.OperationalError)")
    assert "s3cret" not in host.plugins["notes"].reason
    assert host.plugins["plain"].state == "running"
