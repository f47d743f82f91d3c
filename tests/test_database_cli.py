"""``openmodule-host db upgrade|current|history --plugin NAME`` with the backend_x example plugin."""

from sqlalchemy import create_engine, text

from openmodule_host.database import normalise_url, role_name, schema_name
from tests.support import run_cli
from tests.support.databases import POSTGRES_URL


def db(backend, tmp_path, name, *args):
    config = tmp_path / "host.toml"
    config.write_text(f'[plugins.backend_x]\nNAME = "{name}"\n')
    flags = ["--data-dir", str(backend.data_dir), "--config", str(config)]
    if backend.kind == "postgresql":
        flags += ["--database-url", backend.settings["database_url"]]
    return run_cli("db", *args, "--plugin", "backend_x", *flags)


def test_upgrade_then_current_and_history(backend, tmp_path):
    name = backend.name("backend_x")
    assert "current revision: (empty)" in db(backend, tmp_path, name, "current").stdout

    upgraded = db(backend, tmp_path, name, "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    assert "upgraded from (empty) to 0001_whitelist" in upgraded.stdout
    again = db(backend, tmp_path, name, "upgrade")
    assert again.returncode == 0, again.stderr
    assert "already at the newest revision, 0001_whitelist: nothing to do" in again.stdout
    # the command's own lines only: no Alembic logging
    for result in (upgraded, again):
        assert "alembic" not in result.stderr and "non-transactional DDL" not in result.stderr, result.stderr

    assert "current revision: 0001_whitelist" in db(backend, tmp_path, name, "current").stdout
    history = db(backend, tmp_path, name, "history").stdout
    assert "0001_whitelist  the whitelist table  (current)" in history


def test_alembics_own_lines_show_at_log_level_debug(sqlite_backend, tmp_path):
    debug = db(sqlite_backend, tmp_path, "om_debug", "upgrade", "--log-level", "DEBUG")
    assert debug.returncode == 0, debug.stderr
    assert "Running upgrade  -> 0001_whitelist" in debug.stderr


def test_a_plugin_without_migrations_or_an_unknown_plugin_is_a_clear_error(tmp_path):
    result = run_cli("db", "current", "--plugin", "hello", "--data-dir", str(tmp_path))
    assert result.returncode == 2
    assert "plugin 'hello' ships no migrations" in result.stderr
    result = run_cli("db", "current", "--plugin", "nope", "--data-dir", str(tmp_path))
    assert result.returncode == 2
    assert "unknown plugin(s): nope" in result.stderr


def test_an_unreachable_database_is_a_clear_error(tmp_path):
    result = run_cli("db", "current", "--plugin", "backend_x",
                     "--database-url", "postgresql://postgres:secret@127.0.0.1:1/test")
    assert result.returncode == 1
    assert "openmodule-host: database error" in result.stderr
    assert "secret" not in result.stderr


def test_upgrade_runs_as_the_plugins_role_and_reading_the_revision_keeps_its_password(postgres_backend, tmp_path):
    name = postgres_backend.name("backend_x")
    schema, role = schema_name(name), role_name(schema_name(name))
    assert db(postgres_backend, tmp_path, name, "upgrade").returncode == 0
    engine = create_engine(normalise_url(POSTGRES_URL))

    def look():
        with engine.connect() as connection:
            owners = connection.execute(text("SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = :s"),
                                        {"s": schema}).scalars().all()
            password = connection.execute(text("SELECT rolpassword FROM pg_authid WHERE rolname = :r"),
                                          {"r": role}).scalar_one()
        return owners, password

    try:
        owners, password = look()
        assert owners == [role]
        assert "current revision: 0001_whitelist" in db(postgres_backend, tmp_path, name, "current").stdout
        assert "(current)" in db(postgres_backend, tmp_path, name, "history").stdout
        assert look() == ([role], password)  # a host running the plugin keeps logging in
    finally:
        engine.dispose()
