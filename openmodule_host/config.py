"""Host and plugin configuration: defaults < TOML file < environment < command line.

The environment uses openmodule's names (``BROKER_SUB``, ``BROKER_PUB``, the legacy ``BROKER_HOST``
with ``BROKER_SUB_PORT``/``BROKER_PUB_PORT``, ``LOG_LEVEL``, ``AUTH_RESOURCE``, ``DEBUG``, ``TESTING``,
``COMPUTE_ID``). The optional TOML file has a ``[host]`` table and one ``[plugins.<name>]`` table per
plugin::

    [host]
    broker = "embedded"
    mailbox_size = 10000

    [plugins.hello]
    NAME = "om_hello_1"      # the service name on the wire; defaults to the plugin name
    LOG_LEVEL = "DEBUG"
    greeting = "Hi"          # a plugin setting, read as core.config.greeting

    [plugins.gate_in]
    plugin = "hello"         # an instance of the entry point hello (see openmodule_host.instances)

A plugin's keys are also read from its own environment variables, ``<NAME>__<KEY>`` (``HELLO__GREETING=Hi``,
see :mod:`.config_layers`); for each key, default < table < environment < command line.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, SecretStr, field_validator

from .config_layers import Layers, accepted_keys, env_prefix, instance_env, validate_layers
from .distributions import skip_pydantic_plugin_scan
from .errors import ConfigError
from .names import check_name
from .placement import parse_cpu_setting

# Before the process's first pydantic model (HostConfig, below): without a pydantic plugin installed,
# pydantic need not import importlib.metadata to look for one (see .distributions).
skip_pydantic_plugin_scan()

__all__ = [
    "INSTANCE_KEY",
    "LOG_LEVELS",
    "HostConfig",
    "PluginConfig",
    "build_plugin_config",
    "check_plugin_tables",
    "env_bool",
    "env_string",
    "load_host_config",
    "resolve_standard",
    "with_plugin_flags",
]

#: openmodule's level names (VERBOSE and WARN are its aliases).
LOG_LEVELS: dict[str, str] = {
    "DEBUG": "DEBUG",
    "VERBOSE": "DEBUG",
    "INFO": "INFO",
    "WARN": "WARNING",
    "WARNING": "WARNING",
    "ERROR": "ERROR",
    "CRITICAL": "CRITICAL",
}

#: the table key that names the entry point a ``[plugins.<name>]`` table instantiates; no plugin setting.
INSTANCE_KEY = "plugin"

_TRUE = {"T", "TRUE", "1", "Y", "YES", "J", "JA", "ON"}


def env_string(env: Mapping[str, str], key: str, default: str = "") -> str:
    """An env value with quotes and whitespace stripped, as openmodule reads it."""
    return env.get(key, default).strip("\"' \r\n\t")


def env_bool(env: Mapping[str, str], key: str, default: bool = False) -> bool:
    value = env.get(key, "").upper().strip("'\" .,;-_")
    return value in _TRUE if value else default


def _normalise_level(value: str) -> str:
    level = LOG_LEVELS.get(str(value).upper())
    if level is None:
        raise ValueError(f"unknown log level {value!r}; use one of {', '.join(LOG_LEVELS)}")
    return level


class HostConfig(BaseModel):
    """Settings of the host itself (the ``[host]`` table, env and flags)."""

    # hide_input_in_errors: a validation error must not print the sentry DSN.
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    #: the host's own service name (its connection checks; later its health answers).
    name: str = Field("openmodule_host", min_length=1)
    broker: Literal["embedded", "external"] = "embedded"
    broker_sub: str = "tcp://127.0.0.1:10100"
    broker_pub: str = "tcp://127.0.0.1:10200"
    log_level: str = "INFO"
    log_format: Literal["human", "json"] = "human"
    #: messages queued per plugin before further ones are dropped (and counted).
    mailbox_size: int = Field(10_000, ge=1)
    #: bodies above this size are dropped (and counted) before they are parsed; a plugin cannot publish one,
    #: an RPC reply above it becomes a handler_error, a pong above it is sent without its checks and metrics.
    max_message_bytes: int = Field(4 * 1024 * 1024, ge=1024)
    #: health and check messages and failure reasons are cut to this size (see docs/operations.md, Limits).
    max_health_message_bytes: int = Field(1024, ge=64)
    #: an alert's meta above this size (as JSON) is refused with a ValueError to the plugin.
    max_alert_meta_bytes: int = Field(16 * 1024, ge=256)
    #: each health metric of a plugin keeps at most this many label sets; further ones are refused.
    max_metric_label_sets: int = Field(100, ge=1)
    #: the error text of an RPC error reply (validation_error, handler_error, filter_error) is cut to this size.
    max_error_bytes: int = Field(4 * 1024, ge=256)
    #: bodies whose objects and arrays nest deeper than this are dropped (and counted) before they are parsed.
    max_depth: int = Field(64, ge=2, le=512)
    #: a host thread that shows no progress for this long (beyond its idle period) is stuck: the host stops.
    watchdog_timeout: float = Field(10.0, gt=0)
    #: each plugin's publish budget (``PUBLISH_RATE``/``_BURST``/``_WAIT`` in its table override it): messages
    #: per second (0: unbounded), bursts of up to ``publish_burst``; a send over budget waits at most
    #: ``publish_wait`` seconds for it, else it is dropped (see :mod:`openmodule_host.budget`).
    publish_rate: float = Field(2_000.0, ge=0)
    publish_burst: int = Field(1_000, ge=1)
    publish_wait: float = Field(0.1, ge=0)
    #: the broker connection check gives up after this long (openmodule: 100 s).
    connect_timeout: float = Field(100.0, gt=0)
    #: an RPC channel this host calls is unsubscribed after this long without a call (none in flight).
    rpc_channel_idle: float = Field(60.0, gt=0)
    #: each plugin's import, config_model, database_migrations and register_handlers must each finish within this.
    start_timeout: float = Field(30.0, gt=0)
    #: at stop, queued messages are handled for at most this long in total.
    drain_timeout: float = Field(5.0, ge=0)
    #: each plugin's shutdown hook gets at most this long.
    shutdown_timeout: float = Field(5.0, gt=0)
    #: a plugin's health hook must answer within this time, or the plugin is reported unhealthy.
    health_timeout: float = Field(1.0, gt=0)
    #: a running plugin whose handler has been busy this long is reported degraded.
    stall_after: float = Field(10.0, gt=0)
    #: the host's own health metrics (in its pong) carry this ``compute_id`` label (env COMPUTE_ID); a plugin's
    #: metric values carry its own COMPUTE_ID.
    compute_id: int = 1
    #: the folder of the plugins' SQLite files, ``<data_dir>/<NAME>.sqlite3`` (env DATABASE_FOLDER).
    data_dir: str = "data"
    #: PostgreSQL for all plugins, one schema each (env DATABASE_URL); unset: one SQLite file per plugin.
    database_url: str | None = None
    #: a plugin's migrations are killed after this long (openmodule: 300 s) and the plugin fails.
    migration_timeout: float = Field(300.0, gt=0)
    #: serve /healthz and /metrics on this HOST:PORT (off when unset).
    http: str | None = None
    #: openmodule's DSGVO step at start: copy each existing source to its target (when the target's folder
    #: exists), e.g. for the DSGVO service to read the garage config.
    dsgvo: bool = True
    dsgvo_files: list[tuple[str, str]] = Field(default_factory=lambda: [
        ("/data/config.yml", "/data/dsgvo-config.yml"),
        ("dsgvo-default.yml", "/data/dsgvo-default.yml"),
    ])
    #: sentry is on when a DSN is set (env SENTRY_DSN); off by default.
    sentry_dsn: SecretStr | None = None
    #: sentry's environment (env SENTRY_ENVIRONMENT); unset: openmodule's rule, ``staging`` on a development
    #: device (DEVICE_HOST contains "test", else DEBUG or TESTING), otherwise ``production``.
    sentry_environment: str | None = None
    #: the share of transactions sent (env SENTRY_TRACES_SAMPLE_RATE); openmodule's default.
    sentry_traces_sample_rate: float = Field(0.0001, ge=0.0, le=1.0)
    #: how plugins run unless their table says otherwise (``ISOLATION``): ``thread`` (a worker thread each, in
    #: this process) or ``process`` (a supervised child process each, restarted after a crash).
    isolation: Literal["thread", "process"] = "thread"
    #: ``process`` plugins: seconds before the first restart after a crash; doubles with each crash, up to
    #: ``restart_backoff_max``.
    restart_backoff: float = Field(1.0, ge=0)
    restart_backoff_max: float = Field(30.0, ge=0)
    #: ``process`` plugins: this many crashes within ``crash_loop_window`` seconds quarantine the plugin.
    crash_loop_crashes: int = Field(5, ge=1)
    crash_loop_window: float = Field(300.0, gt=0)
    #: where the host's Python threads run (see :mod:`.placement`): ``auto`` (one CPU of those the process may
    #: use, moved when other processes keep it busier), ``off``, or a CPU list (``"2-3"``) to choose one from.
    cpu_placement: str = "auto"
    #: answer health pings with a pong for the host itself (off in a plugin's child process: its parent does).
    host_pong: bool = True
    #: the plugin tables, by plugin (entry point) name.
    plugins: dict[str, dict[str, Any]] = Field(default_factory=dict)
    #: the command line's plugin settings, key -> (the flag, its value): they win over every plugin's table
    #: and environment (``--log-level`` sets every plugin's LOG_LEVEL).
    _plugin_flags: dict[str, tuple[str, Any]] = PrivateAttr(default_factory=dict)

    @property
    def plugin_flags(self) -> dict[str, tuple[str, Any]]:
        return dict(self._plugin_flags)

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        return _normalise_level(value)

    @field_validator("cpu_placement")
    @classmethod
    def _cpu_setting(cls, value: str) -> str:
        return parse_cpu_setting(value)

    @field_validator("sentry_dsn", mode="before")
    @classmethod
    def _valid_dsn(cls, value: Any) -> Any:
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        if value is None or (isinstance(value, str) and not value.strip()):
            return None  # an empty DSN leaves sentry off
        if not isinstance(value, str):
            raise ValueError("the sentry DSN must be a string")
        from sentry_sdk.utils import BadDsn, Dsn  # only a configured DSN loads sentry-sdk

        try:
            Dsn(value.strip())
        except BadDsn as error:  # its message names the part that is wrong, never the key
            raise ValueError(f"not a valid sentry DSN: {error}") from None
        return value.strip()


def _broker_from_env(env: Mapping[str, str]) -> dict[str, str]:
    values: dict[str, str] = {}
    host = env_string(env, "BROKER_HOST")
    for key, port_key, default_port in (("BROKER_SUB", "BROKER_SUB_PORT", "10100"),
                                        ("BROKER_PUB", "BROKER_PUB_PORT", "10200")):
        address = env_string(env, key)
        if not address and host:
            address = f"tcp://{host}:{env_string(env, port_key, default_port)}"
        if address:
            values[key.lower()] = address
    return values


def _read_toml(path: Path) -> dict[str, Any]:
    import tomllib  # here: a host started without a config file never needs the parser

    try:
        with path.open("rb") as file:
            data = tomllib.load(file)
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"config file {path} is not valid TOML: {error}") from None
    unknown = sorted(set(data) - {"host", "plugins"})
    if unknown:
        raise ConfigError(f"{path}: unknown top-level table(s) {', '.join(unknown)}; allowed: [host], [plugins.<name>]")
    host, plugins = data.get("host", {}), data.get("plugins", {})
    for key, value in (("host", host), ("plugins", plugins)):
        if not isinstance(value, dict):
            raise ConfigError(f"{path}: {key} must be a table ([{key}]), not {type(value).__name__}")
    if "plugins" in host:
        raise ConfigError(f"{path}: [host] plugins: unknown key; a plugin's settings are its own table, "
                          "[plugins.<name>]")
    values: dict[str, Any] = dict(host)
    for name, table in plugins.items():
        if not isinstance(table, dict):
            raise ConfigError(f"{path}: plugins.{name} must be a table ([plugins.{name}])")
    values["plugins"] = plugins
    return values


def load_host_config(
    path: str | Path | None = None,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> HostConfig:
    """Merge the layers into a validated :class:`HostConfig`; raises :class:`ConfigError`.

    ``overrides`` are the command line's values (None: not given); its ``log_level`` also wins over every
    plugin's ``LOG_LEVEL`` (see :func:`build_plugin_config`)."""
    env = os.environ if env is None else env
    layers = Layers("[host]", file=_read_toml(Path(path)) if path is not None else {})
    for key, value in _broker_from_env(env).items():
        layers.env[key] = (f"env {key.upper()}", value)
    for key, env_key in _HOST_ENV:
        if value := env_string(env, env_key):
            layers.env[key] = (f"env {env_key}", value)
    flags = {key: value for key, value in (overrides or {}).items() if value is not None}
    for key, value in flags.items():
        layers.env[key] = (f"--{key.replace('_', '-')}", value)
    where = f"invalid config file {path}" if path is not None else "invalid configuration"
    config = validate_layers(HostConfig, layers, where, secret=frozenset({"sentry_dsn"}))
    if "log_level" in flags:
        config._plugin_flags = {"LOG_LEVEL": ("--log-level", config.log_level)}
    return config


def with_plugin_flags(config: HostConfig, flags: Mapping[str, tuple[str, Any]]) -> HostConfig:
    """``config`` with the command line's plugin settings (a child process gets its parent's this way)."""
    config._plugin_flags = {key: (source, value) for key, (source, value) in flags.items()}
    return config


class _StandardSettings(BaseModel):
    """The openmodule names every plugin has; anything else in its table is a plugin setting."""

    model_config = ConfigDict(extra="forbid")

    NAME: str = Field(min_length=1)
    VERSION: str
    RESOURCE: str
    DEBUG: bool = False
    TESTING: bool = False
    LOG_LEVEL: str
    COMPUTE_ID: int = 1
    PARENT: str | None = None
    TIMEZONE: str = "Europe/Vienna"
    CURRENCY: str = "EUR"
    #: unset: openmodule's default, "" under TESTING, else "de".
    LANGUAGE: str | None = None
    LOCALE_DIR: str = "/translation/locale"
    #: unset: "test" in env DEVICE_HOST when it is set, else DEBUG or TESTING (openmodule's rule).
    DEV_DEVICE: bool | None = None
    DAEMON: bool = False
    DIST_FOLDER: str = "/opt/openmodule/dist2"
    DATABOX_UPLOAD_DIR: str = "/upload"
    #: a required plugin that is not running makes /healthz answer 503.
    REQUIRED: bool = True
    #: ``thread`` or ``process``; unset: the host's ``isolation``.
    ISOLATION: Literal["thread", "process"] | None = None
    #: the plugin's publish budget; unset: the host's ``publish_rate``, ``publish_burst``, ``publish_wait``.
    PUBLISH_RATE: float = Field(ge=0)
    PUBLISH_BURST: int = Field(ge=1)
    PUBLISH_WAIT: float = Field(ge=0)
    #: the entry point an instance's table instantiates (``[plugins.gate_in] plugin = "om_welcome"``).
    plugin: str | None = Field(None, min_length=1)

    @field_validator("LOG_LEVEL")
    @classmethod
    def _known_level(cls, value: str) -> str:
        return _normalise_level(value)

    @field_validator("NAME")
    @classmethod
    def _safe_name(cls, value: str) -> str:
        return check_name(value)  # it becomes a file name, a schema and a role

    @field_validator("TIMEZONE")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ValueError, ZoneInfoNotFoundError):
            raise ValueError(f"unknown time zone {value!r}; use an IANA name such as 'Europe/Vienna'") from None
        return value

    @field_validator("PARENT")
    @classmethod
    def _unset_parent(cls, value: str | None) -> str | None:
        return value or None  # openmodule: "" is no parent

    @field_validator("LANGUAGE")
    @classmethod
    def _lower_language(cls, value: str | None) -> str | None:
        return value.lower() if value is not None else None


_STANDARD = frozenset(_StandardSettings.model_fields)
_STANDARD_BY_FOLDED = {key.upper(): key for key in _STANDARD}

#: the host's settings read from openmodule's environment variables (besides the broker's).
_HOST_ENV = (
    ("log_level", "LOG_LEVEL"), ("data_dir", "DATABASE_FOLDER"), ("database_url", "DATABASE_URL"),
    ("log_format", "LOG_FORMAT"), ("compute_id", "COMPUTE_ID"), ("sentry_dsn", "SENTRY_DSN"),
    ("sentry_environment", "SENTRY_ENVIRONMENT"), ("sentry_traces_sample_rate", "SENTRY_TRACES_SAMPLE_RATE"),
)
#: every plugin's standard settings read from openmodule's (global) environment variables. Not NAME or
#: VERSION: those name one service each; set them per plugin (table or ``<INSTANCE>__NAME``).
_PLUGIN_ENV = {
    "RESOURCE": "AUTH_RESOURCE", "DEBUG": "DEBUG", "TESTING": "TESTING", "LOG_LEVEL": "LOG_LEVEL",
    "COMPUTE_ID": "COMPUTE_ID", "PARENT": "PARENT", "TIMEZONE": "TIMEZONE", "CURRENCY": "CURRENCY",
    "LANGUAGE": "LANGUAGE", "LOCALE_DIR": "LOCALE_DIR", "DAEMON": "DAEMON", "DIST_FOLDER": "DIST_FOLDER",
    "DATABOX_UPLOAD_DIR": "DATABOX_UPLOAD_DIR",
}
_PLUGIN_ENV_BOOLS = frozenset({"DEBUG", "TESTING", "DAEMON"})


class PluginConfig:
    """What ``core.config`` is: openmodule's standard names plus the plugin's own settings.

    A setting reads as an attribute (``core.config.greeting``); :attr:`settings` is the validated
    settings model when the plugin declared one (``config_model`` hook), else a plain dict.
    ``DATABASE_FOLDER``, ``BROKER_SUB`` and ``BROKER_PUB`` are the host's (one for all plugins).
    """

    __slots__ = (
        "BROKER_PUB", "BROKER_SUB", "COMPUTE_ID", "CURRENCY", "DAEMON", "DATABASE_FOLDER", "DATABOX_UPLOAD_DIR",
        "DEBUG", "DEV_DEVICE", "DIST_FOLDER", "ISOLATION", "LANGUAGE", "LOCALE_DIR", "LOG_LEVEL", "NAME", "PARENT",
        "PUBLISH_BURST", "PUBLISH_RATE", "PUBLISH_WAIT", "REQUIRED", "RESOURCE", "TESTING", "TIMEZONE", "VERSION",
        "settings",
    )

    NAME: str
    VERSION: str
    RESOURCE: str
    DEBUG: bool
    TESTING: bool
    LOG_LEVEL: str
    COMPUTE_ID: int
    PARENT: str | None
    TIMEZONE: str
    CURRENCY: str
    LANGUAGE: str
    LOCALE_DIR: str
    DEV_DEVICE: bool
    DAEMON: bool
    DIST_FOLDER: str
    DATABOX_UPLOAD_DIR: str
    DATABASE_FOLDER: str
    BROKER_SUB: str
    BROKER_PUB: str
    REQUIRED: bool
    ISOLATION: str | None
    PUBLISH_RATE: float
    PUBLISH_BURST: int
    PUBLISH_WAIT: float
    settings: Any

    def __init__(self, standard: _StandardSettings, settings: Any, host: HostConfig | None = None) -> None:
        host = host or HostConfig()
        values = standard.model_dump(exclude={INSTANCE_KEY})
        values.update(DATABASE_FOLDER=host.data_dir, BROKER_SUB=host.broker_sub, BROKER_PUB=host.broker_pub)
        for key, value in values.items():
            object.__setattr__(self, key, value)
        object.__setattr__(self, "settings", settings)

    def __getattr__(self, name: str) -> Any:
        settings = object.__getattribute__(self, "settings")
        if isinstance(settings, dict):
            if name in settings:
                return settings[name]
        elif name in type(settings).model_fields:
            return getattr(settings, name)
        raise AttributeError(f"plugin {self.NAME!r} has no setting {name!r}")

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("plugin config is read-only")

    def __repr__(self) -> str:
        return f"PluginConfig(NAME={self.NAME!r}, VERSION={self.VERSION!r}, settings={self.settings!r})"


def _prefixed(instance: str, env: Mapping[str, str]) -> dict[str, tuple[str, str]]:
    """The instance's own environment variables: the part after ``<INSTANCE>__`` -> (variable, value)."""
    prefix = env_prefix(instance)
    return {name[len(prefix):]: (name, value) for name, value in env.items()
            if name.upper().startswith(prefix) and len(name) > len(prefix)}


def resolve_standard(
    plugin: str, version: str, table: Mapping[str, Any], host: HostConfig, env: Mapping[str, str] | None = None,
) -> _StandardSettings:
    """A plugin's standard settings: defaults < its table < openmodule's environment variables < its own
    ``<INSTANCE>__<KEY>`` variables < the command line (``--log-level``); raises :class:`ConfigError`."""
    env = os.environ if env is None else env
    layers = Layers(f"[plugins.{plugin}]", defaults={
        "NAME": plugin, "VERSION": version, "RESOURCE": socket.gethostname(), "LOG_LEVEL": host.log_level,
        "PUBLISH_RATE": host.publish_rate, "PUBLISH_BURST": host.publish_burst, "PUBLISH_WAIT": host.publish_wait,
    }, file={key: value for key, value in table.items() if key in _STANDARD})
    for key, env_key in _PLUGIN_ENV.items():
        if value := env_string(env, env_key):
            layers.env[key] = (f"env {env_key}", env_bool(env, env_key) if key in _PLUGIN_ENV_BOOLS else value)
    if "DEVICE_HOST" in env:
        layers.env["DEV_DEVICE"] = ("env DEVICE_HOST", "test" in env_string(env, "DEVICE_HOST"))
    layers.env.update(instance_env(_StandardSettings, plugin, env))
    layers.env.update(host._plugin_flags)
    standard = validate_layers(_StandardSettings, layers, f"invalid settings for plugin {plugin!r}")
    if standard.LANGUAGE is None:
        standard.LANGUAGE = "" if standard.TESTING else "de"
    if standard.DEV_DEVICE is None:
        standard.DEV_DEVICE = standard.DEBUG or standard.TESTING
    return standard


def _own_settings(
    plugin: str, table: Mapping[str, Any], settings_model: type[BaseModel] | None, env: Mapping[str, str],
) -> Any:
    """The plugin's own settings (its table without the standard keys, then its ``<INSTANCE>__`` variables)."""
    own = {key: value for key, value in table.items() if key not in _STANDARD}
    variables = {rest: source for rest, source in _prefixed(plugin, env).items()
                 if rest.upper() not in _STANDARD_BY_FOLDED}
    if settings_model is None:
        # No model to check against: every key is a setting, but a standard key in the wrong case is a typo.
        for key in own:
            if (standard := _STANDARD_BY_FOLDED.get(key.upper())) is not None:
                raise ConfigError(f"[plugins.{plugin}] {key}: unknown key; did you mean {standard}? "
                                  "(keys are case-sensitive)")
        by_folded = {key.upper(): key for key in own}
        for rest, (_name, value) in variables.items():
            own[by_folded.get(rest.upper(), rest)] = value
        return own
    accepted = accepted_keys(settings_model)
    if settings_model.model_config.get("extra") != "allow":
        unknown = sorted(set(own) - accepted)
        folded = {key.upper() for key in accepted}
        unknown_env = sorted(name for rest, (name, _value) in variables.items() if rest.upper() not in folded)
        if unknown or unknown_env:
            known = ", ".join(sorted(settings_model.model_fields)) or "(none)"
            lines = [f"  [plugins.{plugin}] {key}: unknown key" for key in unknown]
            lines += [f"  env {name}: unknown key" for name in unknown_env]
            raise ConfigError(f"invalid settings for plugin {plugin!r}:\n" + "\n".join(lines)
                              + f"\n  (its settings: {known}; the standard keys are in docs/cli.md)")
    layers = Layers(f"[plugins.{plugin}]", file=own, env=instance_env(settings_model, plugin, env))
    return validate_layers(settings_model, layers, f"invalid settings for plugin {plugin!r}")


def build_plugin_config(
    plugin: str,
    version: str,
    table: Mapping[str, Any],
    host: HostConfig,
    settings_model: type[BaseModel] | None = None,
    env: Mapping[str, str] | None = None,
) -> PluginConfig:
    """One plugin instance's :class:`PluginConfig` from its table and environment; raises :class:`ConfigError`
    naming the table and key (or the environment variable) of a wrong value.

    Each setting: its default < the table ``[plugins.<plugin>]`` < the environment (openmodule's global names
    for the standard keys, then ``<PLUGIN>__<KEY>``) < the command line."""
    env = os.environ if env is None else env
    standard = resolve_standard(plugin, version, table, host, env)
    return PluginConfig(standard, _own_settings(plugin, table, settings_model, env), host)


def check_plugin_tables(config: HostConfig, known: list[str], env: Mapping[str, str] | None = None) -> None:
    """Every ``[plugins.<name>]`` table at start, selected or not: it names an installed plugin (its own name
    or, for an instance, its ``plugin`` key) and its standard keys are valid; raises :class:`ConfigError`."""
    unknown = sorted(name for name, table in config.plugins.items()
                     if name not in known and table.get(INSTANCE_KEY) not in known)
    if unknown:
        raise ConfigError(
            f"config has table(s) for unknown plugin(s): {', '.join(f'[plugins.{name}]' for name in unknown)}; "
            f"installed plugins: {', '.join(known) or '(none)'}"
        )
    for name, table in config.plugins.items():
        resolve_standard(name, "0", table, config, env)
