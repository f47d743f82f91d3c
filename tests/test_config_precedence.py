"""Where each setting comes from, as docs/cli.md lists them: defaults < the config file < the environment < the
command line, for every standard key and a plugin's own settings (run through the real command, in a thread and
in a child process) and for every key of the ``[host]`` table (through the command's own argument parser)."""

from __future__ import annotations

import json
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support import HostProcess
from tests.support.config_plugins import DUMP_VARIABLE, ENTRY_POINT, config_site


@dataclass(frozen=True)
class Setting:
    """One key of ``[plugins.cfg_dump]``: its value at each layer, each layer set on top of the ones before."""

    key: str
    default: Any
    #: the table's value (TOML)
    file: Any
    #: openmodule's global variable (None: it has none), its value, and the setting it gives
    env: tuple[str, str, Any] | None
    #: the plugin's own variable's value (``CFG_DUMP__<KEY>``) and the setting it gives
    own: tuple[str, Any]


PLUGIN_SETTINGS = [
    # a global NAME or VERSION would rename every plugin: they are read only from the plugin's own variable
    Setting("NAME", ENTRY_POINT, "om_file_1", ("NAME", "om_global_1", "om_file_1"), ("om_own_1", "om_own_1")),
    Setting("VERSION", "1.0", "2.0", ("VERSION", "9.9", "2.0"), ("3.0", "3.0")),
    Setting("RESOURCE", socket.gethostname(), "file-res", ("AUTH_RESOURCE", "env-res", "env-res"),
            ("own-res", "own-res")),
    Setting("DEBUG", False, True, ("DEBUG", "false", False), ("true", True)),
    Setting("TESTING", False, True, ("TESTING", "0", False), ("1", True)),
    Setting("LOG_LEVEL", "INFO", "DEBUG", ("LOG_LEVEL", "ERROR", "ERROR"), ("warn", "WARNING")),
    Setting("COMPUTE_ID", 1, 3, ("COMPUTE_ID", "4", 4), ("5", 5)),
    Setting("PARENT", None, "om_file_1", ("PARENT", "om_env_1", "om_env_1"), ("om_own_1", "om_own_1")),
    Setting("TIMEZONE", "Europe/Vienna", "Europe/Berlin", ("TIMEZONE", "UTC", "UTC"),
            ("America/New_York", "America/New_York")),
    Setting("CURRENCY", "EUR", "USD", ("CURRENCY", "CHF", "CHF"), ("GBP", "GBP")),
    Setting("LANGUAGE", "de", "fr", ("LANGUAGE", "EN", "en"), ("It", "it")),
    Setting("LOCALE_DIR", "/translation/locale", "/file/locale", ("LOCALE_DIR", "/env/locale", "/env/locale"),
            ("/own/locale", "/own/locale")),
    Setting("DEV_DEVICE", False, True, ("DEVICE_HOST", "garage-3", False), ("true", True)),
    Setting("DAEMON", False, True, ("DAEMON", "no", False), ("yes", True)),
    Setting("DIST_FOLDER", "/opt/openmodule/dist2", "/file/dist", ("DIST_FOLDER", "/env/dist", "/env/dist"),
            ("/own/dist", "/own/dist")),
    Setting("DATABOX_UPLOAD_DIR", "/upload", "/file/up", ("DATABOX_UPLOAD_DIR", "/env/up", "/env/up"),
            ("/own/up", "/own/up")),
    Setting("REQUIRED", True, False, None, ("true", True)),
    Setting("PUBLISH_RATE", 2000.0, 50.0, None, ("70", 70.0)),
    Setting("PUBLISH_BURST", 1000, 5, None, ("7", 7)),
    Setting("PUBLISH_WAIT", 0.1, 0.5, None, ("0.25", 0.25)),
    Setting("greeting", "Hello", "from the file", None, ("from its variable", "from its variable")),
    Setting("retries", 3, 4, None, ("5", 5)),
]
LAYERS = ["defaults", "file", "environment", "own variables", "flag"]
#: ``--log-level`` is the one command line flag a plugin's settings have.
LOG_LEVEL_FLAG = ("critical", "CRITICAL")


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value)  # a string as a TOML basic string, a number as it is


def expected(setting: Setting, layer: str) -> Any:
    if setting.key == "LOG_LEVEL" and layer == "flag":
        return LOG_LEVEL_FLAG[1]
    index = LAYERS.index(layer)
    if index >= LAYERS.index("own variables"):
        return setting.own[1]
    if index == LAYERS.index("environment") and setting.env is not None:
        return setting.env[2]
    return setting.file if index >= LAYERS.index("file") else setting.default


def run_layer(tmp_path: Path, broker_env: dict[str, str], isolation: str, layer: str) -> dict[str, Any]:
    """Start the host with the layers up to ``layer`` set; what the plugin was given."""
    index = LAYERS.index(layer)
    folder = tmp_path / layer.replace(" ", "-")
    folder.mkdir()
    env = {**broker_env, **config_site(folder / "site"), DUMP_VARIABLE: str(folder / "config.json")}
    table = ""
    if index >= LAYERS.index("file"):
        table = "".join(f"{setting.key} = {toml_value(setting.file)}\n" for setting in PLUGIN_SETTINGS)
    (folder / "host.toml").write_text(f"[plugins.{ENTRY_POINT}]\n{table}", encoding="utf-8")
    if index >= LAYERS.index("environment"):
        env.update({setting.env[0]: setting.env[1] for setting in PLUGIN_SETTINGS if setting.env is not None})
    if index >= LAYERS.index("own variables"):
        env.update({f"CFG_DUMP__{setting.key.upper()}": setting.own[0] for setting in PLUGIN_SETTINGS})
    flags = ["--log-level", LOG_LEVEL_FLAG[0]] if layer == "flag" else []
    with HostProcess(["--plugins", ENTRY_POINT, "--config", str(folder / "host.toml"), "--isolation", isolation,
                      *flags], env=env) as host:
        host.wait_ready(timeout=60)
        assert host.stop(timeout=60) == 0, "\n".join(host.stderr)
    assert any(line.startswith(f"plugin {ENTRY_POINT} ") and " running" in line for line in host.stdout), host.output
    given: dict[str, Any] = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    return given


@pytest.mark.parametrize("isolation", ["thread", "process"])
def test_each_plugin_setting_takes_the_highest_layer_that_sets_it(tmp_path, broker_env, isolation):
    for layer in LAYERS:
        given = run_layer(tmp_path, broker_env, isolation, layer)
        wrong = {setting.key: (given[setting.key], expected(setting, layer)) for setting in PLUGIN_SETTINGS
                 if given[setting.key] != expected(setting, layer)}
        assert wrong == {}, f"{layer}: (given, expected) {wrong}"
        # the host's, at every layer: they cannot be set per plugin
        assert (given["BROKER_SUB"], given["BROKER_PUB"]) == (broker_env["BROKER_SUB"], broker_env["BROKER_PUB"])


# -- the [host] table ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HostSetting:
    """One key of ``[host]``: its documented default, a file value, and its environment variable and flag."""

    key: str
    default: Any
    file: Any
    #: openmodule's variable (None: it has none), its value and the setting it gives
    env: tuple[str, str, Any] | None = None
    #: the flag's arguments (None: it has none) and the setting they give
    flag: tuple[list[str], Any] | None = None


DSN = "https://{}@o1.ingest.sentry.io/1"
HOST_SETTINGS = [
    HostSetting("name", "openmodule_host", "om_host_2"),
    HostSetting("broker", "embedded", "external", flag=(["--broker", "embedded"], "embedded")),
    HostSetting("broker_sub", "tcp://127.0.0.1:10100", "tcp://127.0.0.1:1", ("BROKER_SUB", "tcp://127.0.0.1:2", None),
                (["--broker-sub", "tcp://127.0.0.1:3"], None)),
    HostSetting("broker_pub", "tcp://127.0.0.1:10200", "tcp://127.0.0.1:4", ("BROKER_PUB", "tcp://127.0.0.1:5", None),
                (["--broker-pub", "tcp://127.0.0.1:6"], None)),
    HostSetting("log_level", "INFO", "DEBUG", ("LOG_LEVEL", "error", "ERROR"), (["--log-level", "warn"], "WARNING")),
    HostSetting("log_format", "human", "json", ("LOG_FORMAT", "human", None), (["--log-format", "json"], None)),
    HostSetting("mailbox_size", 10_000, 10),
    HostSetting("max_message_bytes", 4_194_304, 2048),
    HostSetting("max_depth", 64, 8),
    HostSetting("max_health_message_bytes", 1024, 128),
    HostSetting("max_alert_meta_bytes", 16_384, 512),
    HostSetting("max_metric_label_sets", 100, 3),
    HostSetting("max_error_bytes", 4096, 300),
    HostSetting("publish_rate", 2000, 10.5),
    HostSetting("publish_burst", 1000, 2),
    HostSetting("publish_wait", 0.1, 0),
    HostSetting("watchdog_timeout", 10, 3.5),
    HostSetting("connect_timeout", 100, 7),
    HostSetting("rpc_channel_idle", 60, 9),
    HostSetting("start_timeout", 30, 11),
    HostSetting("drain_timeout", 5, 1),
    HostSetting("shutdown_timeout", 5, 2),
    HostSetting("health_timeout", 1, 0.5),
    HostSetting("stall_after", 10, 4),
    HostSetting("compute_id", 1, 2, ("COMPUTE_ID", "3", 3)),
    HostSetting("http", None, "127.0.0.1:1", flag=(["--http", "127.0.0.1:2"], None)),
    HostSetting("data_dir", "data", "/file/data", ("DATABASE_FOLDER", "/env/data", None),
                (["--data-dir", "/flag/data"], None)),
    HostSetting("database_url", None, "postgresql://file@db/x", ("DATABASE_URL", "postgresql://env@db/x", None),
                (["--database-url", "postgresql://flag@db/x"], None)),
    HostSetting("migration_timeout", 300, 12),
    HostSetting("dsgvo", True, False),
    HostSetting("dsgvo_files", [("/data/config.yml", "/data/dsgvo-config.yml"),
                                ("dsgvo-default.yml", "/data/dsgvo-default.yml")], [("a.yml", "b.yml")]),
    HostSetting("sentry_dsn", None, DSN.format("file"), ("SENTRY_DSN", DSN.format("env"), None)),
    HostSetting("sentry_environment", None, "file-env", ("SENTRY_ENVIRONMENT", "env-env", None)),
    HostSetting("sentry_traces_sample_rate", 0.0001, 0.5, ("SENTRY_TRACES_SAMPLE_RATE", "0.25", 0.25)),
    HostSetting("isolation", "thread", "process", flag=(["--isolation", "thread"], "thread")),
    HostSetting("cpu_placement", "auto", "0-1", flag=(["--cpu-placement", "off"], "off")),
    HostSetting("restart_backoff", 1, 2),
    HostSetting("restart_backoff_max", 30, 31),
    HostSetting("crash_loop_crashes", 5, 6),
    HostSetting("crash_loop_window", 300, 301),
    HostSetting("host_pong", True, False),
]
HOST_LAYERS = ["defaults", "file", "environment", "flags"]


def host_toml(value: Any) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(f"[{', '.join(json.dumps(part) for part in pair)}]" for pair in value) + "]"
    return toml_value(value)


def host_expected(setting: HostSetting, layer: str) -> Any:
    """The value at ``layer``: the highest layer up to it that sets the key (None as the given value: the value
    as written)."""
    index = HOST_LAYERS.index(layer)
    if index >= HOST_LAYERS.index("flags") and setting.flag is not None:
        return setting.flag[1] if setting.flag[1] is not None else setting.flag[0][1]
    if index >= HOST_LAYERS.index("environment") and setting.env is not None:
        return setting.env[2] if setting.env[2] is not None else setting.env[1]
    return setting.file if index >= HOST_LAYERS.index("file") else setting.default


def host_config_at(tmp_path: Path, layer: str) -> Any:
    """The command's own parser and the host's config loading, with the layers up to ``layer`` given."""
    from openmodule_host.cli import build_parser, host_overrides
    from openmodule_host.config import load_host_config

    index = HOST_LAYERS.index(layer)
    path = tmp_path / f"{layer}.toml"
    lines = [f"{setting.key} = {host_toml(setting.file)}" for setting in HOST_SETTINGS
             if index >= HOST_LAYERS.index("file") and setting.file is not None]
    path.write_text("[host]\n" + "\n".join(lines) + "\n", encoding="utf-8")
    env = {setting.env[0]: setting.env[1] for setting in HOST_SETTINGS
           if index >= HOST_LAYERS.index("environment") and setting.env is not None}
    flags = [part for setting in HOST_SETTINGS if index >= HOST_LAYERS.index("flags") and setting.flag is not None
             for part in setting.flag[0]]
    args = build_parser().parse_args(["run", "--plugins", ENTRY_POINT, *flags])
    return load_host_config(path, env=env, overrides=host_overrides(args))


def comparable(value: Any) -> Any:
    if hasattr(value, "get_secret_value"):
        return value.get_secret_value()
    if isinstance(value, list):
        return [tuple(item) for item in value]
    return value


@pytest.mark.parametrize("layer", HOST_LAYERS)
def test_each_host_setting_takes_the_highest_layer_that_sets_it(tmp_path, layer):
    from openmodule_host.config import HostConfig

    config = host_config_at(tmp_path, layer)
    wrong = {setting.key: (comparable(getattr(config, setting.key)), host_expected(setting, layer))
             for setting in HOST_SETTINGS if comparable(getattr(config, setting.key)) != host_expected(setting, layer)}
    assert wrong == {}, f"{layer}: (given, expected) {wrong}"
    # every key the [host] table has is in the table above (plugins: the [plugins.<name>] tables)
    assert {setting.key for setting in HOST_SETTINGS} == set(HostConfig.model_fields) - {"plugins"}


def test_the_hosts_log_level_is_each_plugins_default_and_the_flag_wins_over_every_plugins_table():
    from openmodule_host.cli import build_parser, host_overrides
    from openmodule_host.config import HostConfig, build_plugin_config, load_host_config

    def level(table: dict[str, Any], env: dict[str, str], argv: list[str]) -> str:
        args = build_parser().parse_args(["run", "--plugins", ENTRY_POINT, *argv])
        host = load_host_config(env=env, overrides=host_overrides(args))
        return build_plugin_config(ENTRY_POINT, "1.0", table, host, env=env).LOG_LEVEL

    assert level({}, {}, []) == HostConfig().log_level == "INFO"
    assert level({}, {"LOG_LEVEL": "error"}, []) == "ERROR"
    assert level({"LOG_LEVEL": "DEBUG"}, {}, ["--log-level", "warn"]) == "WARNING"
