"""The real ``openmodule-host`` command in a subprocess."""

import argparse
import re
import signal
import time
from pathlib import Path

import pytest

from openmodule_host.cli import build_parser
from tests.support import HostProcess, run_cli


def test_version_and_help():
    assert run_cli("--version").stdout.startswith("openmodule-host ")
    for args in (["--help"], ["run", "--help"], ["plugins", "--help"], ["broker", "--help"]):
        result = run_cli(*args)
        assert result.returncode == 0, result.stderr
        assert "usage: openmodule-host" in result.stdout


def test_run_prints_a_line_per_plugin_then_ready_and_stops_cleanly_on_sigterm(broker_env):
    with HostProcess(["--plugins", "hello,backend_x"], env=broker_env) as host:
        assert host.wait_for_line("plugin backend_x") == (
            "plugin backend_x 0.1.0 running topics=backend,count,present_vehicle")
        assert host.wait_for_line("plugin hello") == "plugin hello 0.1.0 running topics=hello"
        host.wait_ready()
        started = time.monotonic()
        assert host.stop(signal.SIGTERM) == 0
        assert time.monotonic() - started < 5
    assert any("backend_x stopped" in line for line in host.stderr)


def test_sigint_stops_cleanly_too(broker_env):
    with HostProcess(["--plugins", "hello"], env=broker_env) as host:
        host.wait_ready()
        assert host.stop(signal.SIGINT) == 0


def test_unknown_plugin_exits_2_and_lists_installed_plugins(broker_env):
    result = run_cli("--plugins", "hello,no_such_plugin", env=broker_env)
    assert result.returncode == 2
    assert "unknown plugin(s): no_such_plugin" in result.stderr
    assert "installed plugins: " in result.stderr and "hello" in result.stderr


def test_a_misspelled_plugin_name_gets_a_did_you_mean(broker_env):
    result = run_cli("--plugins", "helo", env=broker_env)
    assert result.returncode == 2
    assert "unknown plugin(s): helo; 'helo': did you mean 'hello'?; installed plugins: " in result.stderr


def test_an_empty_plugin_name_is_a_usage_error(broker_env):
    for names in ("", ",", "hello,"):
        result = run_cli("--plugins", names, env=broker_env)
        assert result.returncode == 2, result.stderr
        assert f"--plugins {names!r}: an empty plugin name; give NAME[,NAME...] or --all-plugins" in result.stderr
        assert "ready" not in result.stdout


def test_the_log_level_help_lists_the_levels():
    help_text = " ".join(run_cli("run", "--help").stdout.split())
    assert "--log-level LEVEL one of DEBUG, VERBOSE, INFO, WARN, WARNING, ERROR, CRITICAL, in any case" in help_text


def test_broker_address_in_use_suggests_external_broker(standalone_broker):
    result = run_cli("--plugins", "hello", env=standalone_broker.env)
    assert result.returncode == 1
    assert "already runs there: use `--broker external`" in result.stderr


def test_the_broker_command_on_a_taken_address_suggests_other_addresses_not_a_flag_it_lacks(standalone_broker):
    result = run_cli("broker", env=standalone_broker.env)
    assert result.returncode == 1
    assert "cannot bind the broker on" in result.stderr
    assert "choose other addresses with --broker-sub/--broker-pub" in result.stderr
    assert "--broker external" not in result.stderr


def test_a_db_command_for_a_plugin_that_cannot_load_names_the_reason_without_a_flag_it_lacks(test_plugins_env):
    result = run_cli("db", "current", "--plugin", "broken_import", env=test_plugins_env)
    assert result.returncode == 1
    assert "plugin 'broken_import' failed" in result.stderr
    assert "--strict" not in result.stderr


def test_external_broker_joins_a_running_one(standalone_broker):
    with HostProcess(["--plugins", "hello", "--broker", "external"], env=standalone_broker.env) as host:
        host.wait_ready()
        assert host.stop() == 0


def test_standalone_broker_command(broker_env):
    with HostProcess(["broker"], env=broker_env) as broker:
        broker.wait_for_line("broker ready")
        with HostProcess(["--plugins", "hello", "--broker", "external"], env=broker_env) as host:
            host.wait_ready()
            assert host.stop() == 0
        assert broker.stop() == 0


def test_plugins_lists_installed_plugins_with_their_hookimpls():
    result = run_cli("plugins")
    assert result.returncode == 0
    assert "hello  openmodule-plugin-hello 0.1.0  hello_plugin.plugin" in result.stdout
    assert ("hookimpls: access_protocols, check_access, check_backend_access, check_in, check_out, config_model, "
            "database_migrations, register_handlers, shutdown") in result.stdout


# -- every flag an error message suggests is one the command has ---------------------------------------------

_COMMAND_FLAGS = {
    name: {option for action in sub.__dict__["_actions"] for option in action.option_strings}
    for action in build_parser()._actions if isinstance(action, argparse._SubParsersAction)
    for name, sub in action.choices.items()
}
#: a flag named for another command: "run makemessages with --no-translate", "`openmodule-host db ... --x`".
_OTHER_COMMAND = re.compile(r"(?:run |`openmodule-host )(" + "|".join(_COMMAND_FLAGS) + r")\b[^`;:]*?(--[a-z][a-z-]*)")


def suggested_flags(command: str, stderr: str) -> set[tuple[str, str]]:
    """(command, flag) for each ``--flag`` the text names: the flag's command is the one named before it
    ("run makemessages with --no-translate"), else the command that printed the text."""
    found = {(match[1], match[2]) for match in _OTHER_COMMAND.finditer(stderr)}
    rest = _OTHER_COMMAND.sub("", stderr)
    return found | {(command, flag) for flag in re.findall(r"(?<![\w-])--[a-z][a-z-]*", rest)}


def test_the_flag_finder_attributes_a_flag_to_the_command_named_before_it():
    assert suggested_flags("translate", "pass --editor, or run makemessages with --no-translate and edit x") == {
        ("translate", "--editor"), ("makemessages", "--no-translate")}
    assert ("db", "--strict") in suggested_flags("db", "failed (--strict)")
    assert "--strict" not in _COMMAND_FLAGS["db"] and "--broker" not in _COMMAND_FLAGS["broker"]


def _translation_dir(tmp_path: Path) -> Path:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "texts.py").write_text('from gettext import gettext as _\n_("hello")\n')
    out = tmp_path / "translation"
    result = run_cli("makemessages", "--no-translate", "--files", str(tmp_path / "src"), "--out", str(out))
    assert result.returncode == 0, result.stderr
    return out


#: (command line, env: "plugins" for the fixture plugins, "taken" for a running broker's addresses, else
#: free ones; what the message is about): each ends with an error that may suggest flags.
ERROR_PATHS = [
    (["db", "upgrade", "--plugin", "broken_import"], "plugins", "plugin 'broken_import' failed"),
    (["db", "current", "--plugin", "nosuch"], "plugins", "unknown plugin(s): nosuch"),
    (["db", "upgrade", "--plugin", "hello", "--log-level", "LOUD"], "free", "unknown log level"),
    (["broker"], "taken", "cannot bind the broker"),
    (["broker", "--log-level", "LOUD"], "free", "unknown log level"),
    (["run", "--plugins", "hello"], "taken", "cannot bind the embedded broker"),
    (["run", "--plugins", "hello,"], "free", "an empty plugin name"),
    (["run", "--plugins", "broken_import", "--strict"], "plugins", "(--strict)"),
    (["run", "--plugins", "helo"], "free", "did you mean 'hello'"),
    (["run", "--plugins", "hello", "--http", "8080"], "free", "invalid HTTP address"),
    (["plugins", "--config", "/nonexistent/omh.toml"], "free", "does not exist"),
    (["makemessages", "--files", "/nonexistent/src"], "free", "(--files)"),
    (["checktranslation", "--files", "/nonexistent/src"], "free", "(--files)"),
    (["translate", "--dir", "{translation}", "--editor", "no-such-editor"], "free", "is not installed"),
]


@pytest.mark.parametrize(("args", "env_kind", "about"), ERROR_PATHS, ids=[" ".join(path[0]) for path in ERROR_PATHS])
def test_every_flag_an_error_suggests_is_one_its_command_has(args, env_kind, about, request, tmp_path):
    env = {"plugins": lambda: request.getfixturevalue("test_plugins_env"),
           "taken": lambda: request.getfixturevalue("standalone_broker").env,
           "free": lambda: request.getfixturevalue("broker_env")}[env_kind]()
    if "{translation}" in args:
        args = [str(_translation_dir(tmp_path)) if arg == "{translation}" else arg for arg in args]
    result = run_cli(*args, env=env)
    said = result.stderr + result.stdout  # (the translation commands print their errors on stdout)
    assert result.returncode != 0 and about in said, said
    for command, flag in suggested_flags(args[0], said):
        assert flag in _COMMAND_FLAGS[command], f"{' '.join(args)} suggests {flag}, which {command} lacks:\n{said}"
