"""A plugin's settings as openmodule services read them: defaults < its TOML table < the environment (openmodule's
global names, then ``<INSTANCE>__<KEY>``) < the command line; strict types in the file; unknown keys refused."""

from __future__ import annotations

import socket

import pytest
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import text

from openmodule_host import ConfigError, HostConfig, load_host_config
from openmodule_host.config import build_plugin_config, check_plugin_tables
from openmodule_host.database import schema_name
from tests.support import HostProcess, run_cli
from tests.support.config_plugins import RAISE_VARIABLE, config_site
from tests.support.databases import POSTGRES_URL


class Gate(BaseModel):
    gate: str = "unset"
    retries: int = 3
    strict_mode: bool = False
    lanes: list[str] = []
    limits: dict[str, int] = {}


def config(table=None, env=None, model=Gate, host=None, plugin="gate_in"):
    return build_plugin_config(plugin, "1.2.3", table or {}, host or HostConfig(), model, env=env or {})


def error_of(call) -> str:
    with pytest.raises(ConfigError) as error:
        call()
    return str(error.value)


# -- the per-instance environment -------------------------------------------------------------------------


def test_an_instance_reads_its_own_prefixed_variables_into_its_model():
    settings = config({"gate": "file"}, env={"GATE_IN__GATE": "in-1", "GATE_OUT__GATE": "out-1"})
    assert settings.gate == "in-1"
    assert config(env={"GATE_OUT__GATE": "out-1"}, plugin="gate_out").gate == "out-1"


@pytest.mark.parametrize(("instance", "variable"), [("gate-in", "GATE_IN__GATE"), ("gate.in", "GATE_IN__GATE"),
                                                    ("Hello", "HELLO__GATE"), ("hello", "hello__gate")])
def test_the_prefix_is_the_instance_name_upper_cased_with_dashes_and_dots_as_underscores(instance, variable):
    assert config(env={variable: "x"}, plugin=instance).gate == "x"


def test_environment_values_are_parsed_numbers_booleans_and_json_for_complex_types():
    settings = config(env={"GATE_IN__RETRIES": "7", "GATE_IN__STRICT_MODE": "false",
                           "GATE_IN__LANES": '["a", "b"]', "GATE_IN__LIMITS": '{"cars": 5}'})
    assert (settings.retries, settings.strict_mode, settings.lanes, settings.limits) == (7, False, ["a", "b"],
                                                                                        {"cars": 5})


def test_a_wrong_environment_value_names_the_variable():
    assert "env GATE_IN__RETRIES: Input should be a valid integer" in error_of(
        lambda: config(env={"GATE_IN__RETRIES": "many"}))
    assert "env GATE_IN__LANES: not valid JSON" in error_of(lambda: config(env={"GATE_IN__LANES": "[a"}))


def test_an_unknown_prefixed_variable_is_an_error():
    message = error_of(lambda: config(env={"GATE_IN__GAT": "x"}))
    assert "env GATE_IN__GAT: unknown key" in message
    assert "its settings: gate, lanes, limits, retries, strict_mode" in message


def test_standard_keys_come_from_the_prefixed_variables_too():
    settings = config(env={"GATE_IN__LOG_LEVEL": "debug", "GATE_IN__NAME": "om_gate_in_1", "GATE_IN__REQUIRED": "no",
                           "GATE_IN__VERSION": "9.9"})
    assert (settings.LOG_LEVEL, settings.NAME, settings.REQUIRED, settings.VERSION) == (
        "DEBUG", "om_gate_in_1", False, "9.9")


def test_a_plugin_without_a_model_gets_its_variables_as_strings():
    settings = config({"Gate": "file", "count": 1}, env={"GATE_IN__GATE": "in-1", "GATE_IN__EXTRA": "x"}, model=None)
    assert settings.settings == {"Gate": "in-1", "count": 1, "EXTRA": "x"}


# -- openmodule's global settings ------------------------------------------------------------------------


def test_openmodules_global_names_and_defaults():
    settings = config(host=HostConfig(data_dir="/srv/data", broker_sub="tcp://127.0.0.1:7001",
                                      broker_pub="tcp://127.0.0.1:7002"))
    assert ("gate_in", "1.2.3", socket.gethostname()) == (settings.NAME, settings.VERSION, settings.RESOURCE)
    assert (settings.DEBUG, settings.TESTING, settings.COMPUTE_ID, settings.PARENT) == (False, False, 1, None)
    assert (settings.TIMEZONE, settings.CURRENCY, settings.LANGUAGE) == ("Europe/Vienna", "EUR", "de")
    assert (settings.LOCALE_DIR, settings.DIST_FOLDER, settings.DATABOX_UPLOAD_DIR) == (
        "/translation/locale", "/opt/openmodule/dist2", "/upload")
    assert (settings.DEV_DEVICE, settings.DAEMON) == (False, False)
    assert (settings.DATABASE_FOLDER, settings.BROKER_SUB, settings.BROKER_PUB) == (
        "/srv/data", "tcp://127.0.0.1:7001", "tcp://127.0.0.1:7002")


def test_openmodules_global_variables_set_every_plugin():
    settings = config(env={"AUTH_RESOURCE": "garage-7", "DEBUG": "ja", "COMPUTE_ID": "2", "PARENT": "om_io_1",
                           "TIMEZONE": "UTC", "CURRENCY": "CHF", "LANGUAGE": "EN", "LOCALE_DIR": "/loc",
                           "DAEMON": "1", "DIST_FOLDER": "/dist", "DATABOX_UPLOAD_DIR": "/up"})
    assert (settings.RESOURCE, settings.DEBUG, settings.COMPUTE_ID, settings.PARENT) == ("garage-7", True, 2, "om_io_1")
    assert (settings.TIMEZONE, settings.CURRENCY, settings.LANGUAGE, settings.LOCALE_DIR) == (
        "UTC", "CHF", "en", "/loc")
    assert (settings.DAEMON, settings.DIST_FOLDER, settings.DATABOX_UPLOAD_DIR) == (True, "/dist", "/up")


def test_language_is_empty_and_the_device_a_development_one_under_testing_as_in_openmodule():
    settings = config(env={"TESTING": "true"})
    assert (settings.LANGUAGE, settings.DEV_DEVICE) == ("", True)
    assert config(env={"DEVICE_HOST": "test-device-3"}).DEV_DEVICE is True
    assert config({"DEBUG": True}, env={"DEVICE_HOST": "garage-3"}).DEV_DEVICE is False


def test_global_name_and_version_variables_do_not_rename_every_plugin():
    settings = config(env={"NAME": "om_other_1", "VERSION": "0.0.1"})
    assert (settings.NAME, settings.VERSION) == ("gate_in", "1.2.3")


def test_an_unknown_time_zone_is_an_error():
    assert "[plugins.gate_in] TIMEZONE: Value error, unknown time zone 'Mars/Olympus'" in error_of(
        lambda: config({"TIMEZONE": "Mars/Olympus"}))


# -- precedence: defaults < file < environment < flags -------------------------------------------------------


@pytest.mark.parametrize(("key", "variable", "in_file", "in_env", "expected"), [
    ("DEBUG", "DEBUG", True, "false", False),
    ("TESTING", "TESTING", False, "1", True),
    ("COMPUTE_ID", "COMPUTE_ID", 3, "4", 4),
    ("PARENT", "PARENT", "om_file_1", "om_env_1", "om_env_1"),
    ("RESOURCE", "AUTH_RESOURCE", "file-resource", "env-resource", "env-resource"),
    ("LOG_LEVEL", "LOG_LEVEL", "DEBUG", "ERROR", "ERROR"),
    ("TIMEZONE", "TIMEZONE", "Europe/Berlin", "UTC", "UTC"),
    ("CURRENCY", "CURRENCY", "USD", "CHF", "CHF"),
])
def test_the_environment_wins_over_the_file(key, variable, in_file, in_env, expected):
    assert getattr(config({key: in_file}), key) == in_file
    assert getattr(config({key: in_file}, env={variable: in_env}), key) == expected


@pytest.mark.parametrize(("key", "global_value", "own_value", "expected"), [
    ("DEBUG", "true", "false", False),
    ("COMPUTE_ID", "2", "5", 5),
    ("LOG_LEVEL", "ERROR", "debug", "DEBUG"),
    ("PARENT", "om_a_1", "om_b_1", "om_b_1"),
])
def test_the_instances_own_variable_wins_over_openmodules_global_one(key, global_value, own_value, expected):
    assert getattr(config(env={key: global_value, f"GATE_IN__{key}": own_value}), key) == expected
    assert config(env={"AUTH_RESOURCE": "a", "GATE_IN__RESOURCE": "b"}).RESOURCE == "b"


def test_the_instances_variable_wins_over_the_file():
    assert config({"gate": "file", "LOG_LEVEL": "ERROR"}, env={"GATE_IN__GATE": "env", "GATE_IN__LOG_LEVEL": "INFO"}
                  ).gate == "env"
    assert config({"LOG_LEVEL": "ERROR"}, env={"GATE_IN__LOG_LEVEL": "INFO"}).LOG_LEVEL == "INFO"


def test_the_log_level_flag_wins_over_the_table_and_every_variable():
    host = load_host_config(env={"LOG_LEVEL": "ERROR"}, overrides={"log_level": "warning"})
    settings = config({"LOG_LEVEL": "DEBUG"}, env={"LOG_LEVEL": "ERROR", "GATE_IN__LOG_LEVEL": "DEBUG"}, host=host)
    assert settings.LOG_LEVEL == "WARNING"


def test_without_the_flag_the_hosts_level_is_only_the_default():
    host = load_host_config(env={"LOG_LEVEL": "ERROR"})
    assert config(host=host).LOG_LEVEL == "ERROR"
    assert config({"LOG_LEVEL": "DEBUG"}, host=host, env={}).LOG_LEVEL == "DEBUG"


# -- strict types in the file ----------------------------------------------------------------------------


@pytest.mark.parametrize(("table", "message"), [
    ({"REQUIRED": "false"}, "[plugins.gate_in] REQUIRED: Input should be a valid boolean (got 'false'); write it "
                            "without quotes"),
    ({"ISOLATION": "threads"}, "[plugins.gate_in] ISOLATION: Input should be 'thread' or 'process' (got 'threads')"),
    ({"COMPUTE_ID": "2"}, "[plugins.gate_in] COMPUTE_ID: Input should be a valid integer (got '2')"),
    ({"DEBUG": 1}, "[plugins.gate_in] DEBUG: Input should be a valid boolean (got 1)"),
    ({"VERSION": 1.5}, "[plugins.gate_in] VERSION: Input should be a valid string"),
    ({"retries": "10"}, "[plugins.gate_in] retries: Input should be a valid integer (got '10')"),
    ({"lanes": ["a", 1]}, "[plugins.gate_in] lanes[1]: Input should be a valid string (got 1)"),
    ({"strict_mode": "yes"}, "[plugins.gate_in] strict_mode: Input should be a valid boolean (got 'yes')"),
])
def test_a_value_of_the_wrong_type_in_the_file_is_an_error_not_a_conversion(table, message):
    assert message in error_of(lambda: config(table))


def test_the_same_strings_from_the_environment_parse():
    settings = config(env={"GATE_IN__REQUIRED": "false", "GATE_IN__COMPUTE_ID": "2", "GATE_IN__RETRIES": "10"})
    assert (settings.REQUIRED, settings.COMPUTE_ID, settings.retries) == (False, 2, 10)


def test_a_quoted_number_in_the_host_table_is_an_error(tmp_path):
    path = tmp_path / "host.toml"
    path.write_text('[host]\nmailbox_size = "10"\n')
    with pytest.raises(ConfigError, match=r"\[host\] mailbox_size: Input should be a valid integer \(got '10'\)"):
        load_host_config(path, env={})
    assert load_host_config(env={"COMPUTE_ID": "3"}).compute_id == 3  # the environment's strings still parse


def test_a_wrong_value_in_the_file_is_an_error_even_where_the_environment_or_a_flag_overrides_it(tmp_path):
    assert "[plugins.gate_in] DEBUG: Input should be a valid boolean (got 1)" in error_of(
        lambda: config({"DEBUG": 1}, env={"DEBUG": "true"}))
    assert "[plugins.gate_in] retries: Input should be a valid integer, unable to parse" in error_of(
        lambda: config({"retries": "x"}, env={"GATE_IN__RETRIES": "3"}))
    assert "[plugins.gate_in] ISOLATION: Input should be 'thread' or 'process' (got 'threads')\n" in error_of(
        lambda: config({"ISOLATION": "threads"}, env={"GATE_IN__ISOLATION": "thread"})) + "\n"  # no quotes hint
    path = tmp_path / "host.toml"
    path.write_text('[host]\ndata_dir = 1\nlog_level = "loud"\n')
    message = error_of(lambda: load_host_config(path, env={"DATABASE_FOLDER": "/srv"}, overrides={"log_level": "info"}))
    assert "[host] data_dir: Input should be a valid string (got 1)" in message
    assert "[host] log_level: Value error, unknown log level 'loud'" in message


def test_a_plugins_key_in_the_host_table_is_an_error(tmp_path):
    path = tmp_path / "host.toml"
    path.write_text('[host]\nplugins = 1\n')
    assert "[host] plugins: unknown key; a plugin's settings are its own table, [plugins.<name>]" in error_of(
        lambda: load_host_config(path, env={}))


# -- unknown keys ----------------------------------------------------------------------------------------


def test_an_unknown_key_in_a_table_is_an_error():
    message = error_of(lambda: config({"gate": "in-1", "gates": ["x"]}))
    assert "invalid settings for plugin 'gate_in':\n  [plugins.gate_in] gates: unknown key" in message


def test_a_model_that_allows_extra_keys_takes_them():
    class Open(BaseModel):
        model_config = ConfigDict(extra="allow")

    assert config({"anything": 1}, model=Open).settings.anything == 1


def test_without_a_model_any_key_is_a_setting_but_a_standard_key_in_the_wrong_case_is_a_typo():
    assert config({"whatever": [1]}, model=None).whatever == [1]
    assert "[plugins.gate_in] log_level: unknown key; did you mean LOG_LEVEL?" in error_of(
        lambda: config({"log_level": "DEBUG"}, model=None))


def test_an_instance_table_may_name_its_entry_point():
    check_plugin_tables(HostConfig(plugins={"gate_in": {"plugin": "hello"}}), ["hello"])
    assert config({"plugin": "hello"}).NAME == "gate_in"


def test_tables_of_plugins_that_are_not_selected_are_checked_against_the_standard_keys():
    host = HostConfig(plugins={"hello": {}, "backend_x": {"REQUIRED": "no"}})
    with pytest.raises(ConfigError, match=r"\[plugins.backend_x\] REQUIRED: Input should be a valid boolean"):
        check_plugin_tables(host, ["hello", "backend_x"], env={})
    with pytest.raises(ConfigError, match=r"env BACKEND_X__COMPUTE_ID: Input should be a valid integer"):
        check_plugin_tables(HostConfig(plugins={"backend_x": {}}), ["backend_x"], env={"BACKEND_X__COMPUTE_ID": "x"})


def test_run_checks_an_unselected_plugins_own_settings_only_with_the_plugins_command(tmp_path, broker_env):
    """``run`` imports only the selected plugins, so an unselected plugin's own settings (its config_model's
    fields) wait for its start; ``plugins --config`` imports every plugin and checks every table fully."""
    env = {**broker_env, **config_site(tmp_path / "site")}
    path = tmp_path / "host.toml"
    path.write_text('[plugins.cfg_dump]\nretries = "x"\n[plugins.gate]\nplugin = "cfg_dump"\ngretting = 1\n'
                    '[plugins.hello]\ngreeting = "Hi"\n')
    with HostProcess(["--plugins", "hello", "--config", str(path)], env=env) as host:
        host.wait_ready(timeout=60)
        assert host.stop() == 0, "\n".join(host.stderr)
    listing = run_cli("plugins", "--config", str(path), env=env)
    assert listing.returncode == 2, listing.stderr
    assert ("error: invalid settings for plugin 'cfg_dump':\n  [plugins.cfg_dump] retries: Input should be a valid "
            "integer") in listing.stderr
    assert "error: invalid settings for plugin 'gate':\n  [plugins.gate] gretting: unknown key" in listing.stderr
    assert "'hello'" not in listing.stderr
    assert "gate  instance of cfg_dump  omh-config-test 1.0" in listing.stdout  # the listing is complete
    assert run_cli("plugins", "--json", "--config", str(path), env=env).returncode == 2
    path.write_text('[plugins.cfg_dump]\nretries = 2\n[plugins.gate]\nplugin = "cfg_dump"\ngreeting = "Hi"\n')
    assert run_cli("plugins", "--config", str(path), env=env).returncode == 0
    raising = run_cli("plugins", "--config", str(path), env={**env, RAISE_VARIABLE: "1"})
    assert raising.returncode == 1, raising.stderr
    assert "PROBLEM: config_model raised RuntimeError: the settings model cannot be built" in raising.stdout


# -- the command line ------------------------------------------------------------------------------------


def write(tmp_path, text):
    path = tmp_path / "host.toml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(("text", "message"), [
    ('[plugins.hello]\nISOLATION = "threads"\n', "[plugins.hello] ISOLATION: Input should be 'thread' or 'process'"),
    ('[plugins.hello]\nREQUIRED = "false"\n', "[plugins.hello] REQUIRED: Input should be a valid boolean"),
    ('[host]\nmailbox_size = "10"\n', "[host] mailbox_size: Input should be a valid integer (got '10')"),
    ('[plugins.hello]\ngretting = "Hi"\n', "[plugins.hello] gretting: unknown key"),
    ('[plugins.backend_x]\nCOMPUTE_ID = "2"\n', "[plugins.backend_x] COMPUTE_ID: Input should be a valid integer"),
])
def test_a_wrong_setting_exits_2_naming_the_table_and_key(tmp_path, broker_env, text, message):
    result = run_cli("--plugins", "hello", "--config", str(write(tmp_path, text)), env=broker_env)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr


def test_a_wrong_value_in_the_file_exits_2_though_the_environment_and_a_flag_override_it(tmp_path, broker_env):
    path = write(tmp_path, '[host]\ndata_dir = 1\n')
    result = run_cli("--plugins", "hello", "--config", str(path), "--data-dir", str(tmp_path / "data"),
                     env={**broker_env, "DATABASE_FOLDER": str(tmp_path / "data")})
    assert result.returncode == 2, result.stderr
    assert "[host] data_dir: Input should be a valid string (got 1)" in result.stderr
    path = write(tmp_path, '[plugins.hello]\ngreeting = 5\n')
    result = run_cli("--plugins", "hello", "--config", str(path), env={**broker_env, "HELLO__GREETING": "Hi"})
    assert result.returncode == 2, result.stderr
    assert "[plugins.hello] greeting: Input should be a valid string (got 5)" in result.stderr


def test_a_wrong_setting_of_a_process_isolated_plugin_exits_2_as_in_a_thread(tmp_path, broker_env):
    for isolation in ("thread", "process"):
        path = write(tmp_path, f'[plugins.hello]\nISOLATION = "{isolation}"\ngreeting = 5\n')
        result = run_cli("--plugins", "hello", "--config", str(path), env=broker_env)
        assert result.returncode == 2, (isolation, result.stderr)
        assert ("invalid settings for plugin 'hello':\n  [plugins.hello] greeting: Input should be a valid string "
                "(got 5)") in result.stderr, isolation


@pytest.mark.parametrize(("table", "variables", "message"), [
    ("retries = 1.5\n", {}, "[plugins.zz] retries: Input should be a valid integer, got a number with a fractional "
                            "part (got 1.5)"),
    ("gretting = 1\n", {}, "[plugins.zz] gretting: unknown key"),
    ("", {"ZZ__RETRIES": "x"}, "env ZZ__RETRIES: Input should be a valid integer"),
])
def test_an_instance_in_a_child_process_with_a_wrong_setting_stops_the_host_as_in_a_thread(
        tmp_path, broker_env, table, variables, message):
    """Behind a plugin that already runs: the same error on stderr, exit 2 and no alert, in both modes."""
    env = {**broker_env, **config_site(tmp_path / "site"), **variables}
    errors = {}
    for isolation in ("thread", "process"):
        path = write(tmp_path, f'[plugins.zz]\nplugin = "cfg_dump"\nISOLATION = "{isolation}"\n{table}')
        result = run_cli("--plugins", "hello,zz", "--config", str(path), env=env)
        assert result.returncode == 2, (isolation, result.stderr)
        assert "plugin hello running" in result.stderr, (isolation, result.stderr)
        assert "send alert from zz" not in result.stderr, (isolation, result.stderr)
        errors[isolation] = result.stderr[result.stderr.index("openmodule-host: error:"):]
    assert f"openmodule-host: error: invalid settings for plugin 'zz':\n  {message}" in errors["thread"]
    assert errors["process"] == errors["thread"]


@pytest.mark.parametrize("isolation", ["thread", "process"])
def test_the_environment_wins_over_the_table_and_the_flag_over_both(tmp_path, broker_env, isolation):
    path = write(tmp_path, f'[plugins.hello]\nISOLATION = "{isolation}"\ngreeting = "Yo"\nLOG_LEVEL = "ERROR"\n')
    env = {**broker_env, "HELLO__GREETING": "Hi", "HELLO__LOG_LEVEL": "INFO"}
    with HostProcess(["--plugins", "hello", "--config", str(path)], env=env) as host:
        host.wait_ready(timeout=60)
        assert host.stop() == 0
    assert any("[hello] saying 'Hi'" in line for line in host.stderr), host.stderr

    with HostProcess(["--plugins", "hello", "--config", str(path), "--log-level", "ERROR"], env=env) as host:
        host.wait_ready(timeout=60)
        assert host.stop() == 0
    assert not any("[hello] saying" in line for line in host.stderr), host.stderr


def test_run_data_dir_holds_the_plugins_sqlite_files_and_wins_over_the_environment(tmp_path, broker_env):
    data_dir = tmp_path / "sqlite"
    env = {**broker_env, "DATABASE_FOLDER": str(tmp_path / "from-env")}
    with HostProcess(["--plugins", "backend_x", "--data-dir", str(data_dir)], env=env) as host:
        host.wait_ready(timeout=60)
        assert host.stop() == 0
    assert (data_dir / "backend_x.sqlite3").is_file()
    assert not (tmp_path / "from-env").exists()


def test_run_database_url_puts_the_plugin_on_postgresql(tmp_path, broker_env, postgres_backend):
    name = postgres_backend.name("om_settings")
    env = {**broker_env, "BACKEND_X__NAME": name, "DATABASE_FOLDER": str(tmp_path / "sqlite")}
    with HostProcess(["--plugins", "backend_x", "--database-url", POSTGRES_URL], env=env) as host:
        host.wait_ready(timeout=60)
        assert host.stop() == 0
    with postgres_backend.admin_connection(name) as connection:
        tables = connection.execute(text("SELECT table_name FROM information_schema.tables WHERE table_schema = :s"),
                                    {"s": schema_name(name)}).scalars().all()
    assert "alembic_version" in tables
    assert not list(tmp_path.rglob("*.sqlite3"))  # no SQLite file in the data dir the host was given


def test_a_field_with_an_alias_is_not_read_from_the_bare_alias_variable():
    class Aliased(BaseModel):
        gate: str = Field("unset", alias="GATE_ID")
        lane: str = "unset"

    settings = config(env={"GATE_ID": "shared", "GATE_IN__LANE": "1"}, model=Aliased)
    assert (settings.gate, settings.lane) == ("unset", "1")


def test_isolation_from_the_environment_runs_the_plugin_in_one_child_process(broker_env):
    env = {**broker_env, "HELLO__ISOLATION": "process", "HELLO__GREETING": "Servus"}
    with HostProcess(["--plugins", "hello"], env=env) as host:
        host.wait_ready(timeout=60)
        host.assert_clean_shutdown(timeout=60)  # fails with the output (and, if it hangs, its threads' stacks)
    assert any("plugin hello: running in process" in line for line in host.stderr), host.stderr
    assert sum("[hello] saying 'Servus'" in line for line in host.stderr) == 1  # its child did not start another


def test_core_config_has_every_name_the_contract_promises():
    from openmodule_hookspecs import PluginConfig as Contract

    settings = config()
    for name in Contract.__annotations__:
        getattr(settings, name)  # an AttributeError names the missing one
