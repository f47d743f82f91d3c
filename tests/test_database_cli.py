"""``openmodule-host db upgrade|current|history --plugin NAME`` with the backend_x example plugin."""

from tests.support import run_cli


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
    assert "upgraded from 0001_whitelist to 0001_whitelist" in db(backend, tmp_path, name, "upgrade").stdout

    assert "current revision: 0001_whitelist" in db(backend, tmp_path, name, "current").stdout
    history = db(backend, tmp_path, name, "history").stdout
    assert "0001_whitelist  the whitelist table  (current)" in history


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
