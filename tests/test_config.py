"""Host and plugin configuration: TOML file, environment and flags, with clear errors."""

import pytest
from pydantic import BaseModel

from openmodule_host import ConfigError, HostConfig, load_host_config
from openmodule_host.config import build_plugin_config, check_plugin_tables
from tests.support import HostProcess, run_cli


def write(tmp_path, text):
    path = tmp_path / "host.toml"
    path.write_text(text)
    return path


def test_defaults_are_openmodules_addresses():
    config = load_host_config(env={})
    assert (config.broker, config.broker_sub, config.broker_pub) == (
        "embedded", "tcp://127.0.0.1:10100", "tcp://127.0.0.1:10200")


def test_env_overrides_file_and_flags_override_env(tmp_path):
    path = write(tmp_path, '[host]\nbroker_sub = "tcp://127.0.0.1:1"\nbroker_pub = "tcp://127.0.0.1:2"\n')
    env = {"BROKER_SUB": " 'tcp://127.0.0.1:3' "}
    config = load_host_config(path, env=env, overrides={"broker_pub": "tcp://127.0.0.1:4", "broker": None})
    assert (config.broker_sub, config.broker_pub) == ("tcp://127.0.0.1:3", "tcp://127.0.0.1:4")


def test_legacy_broker_host_and_ports():
    config = load_host_config(env={"BROKER_HOST": "10.0.0.5", "BROKER_PUB_PORT": "2000"})
    assert (config.broker_sub, config.broker_pub) == ("tcp://10.0.0.5:10100", "tcp://10.0.0.5:2000")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[host]\nmailbox_size = 'big'\n", "[host] mailbox_size: Input should be a valid integer"),
        ("[host]\nbrokr = 'external'\n", "[host] brokr: Extra inputs are not permitted"),
        ("[host]\nlog_level = 'LOUD'\n", "unknown log level 'LOUD'"),
        ("[hosts]\n", "unknown top-level table(s) hosts"),
        ("plugins = 3\n", "plugins"),
        ("[host\n", "is not valid TOML"),
    ],
)
def test_bad_files_are_clear_errors(tmp_path, text, message):
    with pytest.raises(ConfigError, match=None) as error:
        load_host_config(write(tmp_path, text), env={})
    assert message in str(error.value)


def test_a_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_host_config(tmp_path / "nope.toml", env={})


class Settings(BaseModel):
    greeting: str
    retries: int = 3


def test_a_plugin_table_gives_standard_names_and_typed_settings():
    host = HostConfig(log_level="warning")
    config = build_plugin_config(
        "hello", "1.0", {"NAME": "om_hello_1", "greeting": "Hi"}, host, Settings,
        env={"AUTH_RESOURCE": "res-1", "DEBUG": "yes"},
    )
    assert (config.NAME, config.VERSION, config.RESOURCE, config.DEBUG, config.TESTING) == (
        "om_hello_1", "1.0", "res-1", True, False)
    assert (config.LOG_LEVEL, config.COMPUTE_ID) == ("WARNING", 1)
    assert (config.greeting, config.retries) == ("Hi", 3)
    assert config.settings == Settings(greeting="Hi")
    with pytest.raises(AttributeError, match="plugin 'om_hello_1' has no setting 'nope'"):
        _ = config.nope


def test_a_plugin_setting_of_the_wrong_type_names_table_and_key():
    with pytest.raises(ConfigError) as error:
        build_plugin_config("hello", "1.0", {"greeting": "Hi", "retries": "many"}, HostConfig(), Settings, env={})
    assert "invalid settings for plugin 'hello'" in str(error.value)
    assert "[plugins.hello] retries: Input should be a valid integer" in str(error.value)


def test_a_table_for_a_plugin_that_is_not_installed_is_refused():
    with pytest.raises(ConfigError, match=r"unknown plugin\(s\): \[plugins.helo\]; installed plugins: hello"):
        check_plugin_tables(HostConfig(plugins={"helo": {}}), ["hello"])


def test_the_cli_exits_2_on_bad_config(tmp_path, broker_env):
    path = write(tmp_path, "[plugins.hello]\nLOG_LEVEL = 42\n")
    result = run_cli("--plugins", "hello", "--config", str(path), env=broker_env)
    assert result.returncode == 2
    assert "invalid settings for plugin 'hello'" in result.stderr

    result = run_cli("--plugins", "hello", "--config", str(write(tmp_path, "[plugins.nope]\n")), env=broker_env)
    assert result.returncode == 2
    assert "[plugins.nope]" in result.stderr


def test_two_plugins_with_one_name_are_refused(tmp_path, broker_env):
    path = write(tmp_path, '[plugins.hello]\nNAME = "om_x_1"\n[plugins.backend_x]\nNAME = "om_x_1"\n')
    result = run_cli("--plugins", "hello,backend_x", "--config", str(path), env=broker_env)
    assert result.returncode == 2
    assert "both use NAME='om_x_1'" in result.stderr


def test_log_level_is_per_plugin(tmp_path, broker_env):
    path = write(tmp_path, '[host]\nlog_level = "WARNING"\n[plugins.hello]\nLOG_LEVEL = "DEBUG"\n')
    with HostProcess(["--plugins", "hello,backend_x", "--config", str(path)], env=broker_env) as host:
        host.wait_ready()
        assert host.stop() == 0
    assert any("[hello] saying 'Hello'" in line for line in host.stderr)
    assert not any("[backend_x] whitelist" in line for line in host.stderr)
