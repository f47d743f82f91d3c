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
"""

from __future__ import annotations

import os
import socket
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import pytz
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
from sentry_sdk.utils import BadDsn, Dsn

from .errors import ConfigError
from .names import check_name

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
    #: metric values carry this ``compute_id`` label (env COMPUTE_ID).
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
    #: answer health pings with a pong for the host itself (off in a plugin's child process: its parent does).
    host_pong: bool = True
    #: the plugin tables, by plugin (entry point) name.
    plugins: dict[str, dict[str, Any]] = Field(default_factory=dict)

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        return _normalise_level(value)

    @field_validator("sentry_dsn", mode="before")
    @classmethod
    def _valid_dsn(cls, value: Any) -> Any:
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        if value is None or (isinstance(value, str) and not value.strip()):
            return None  # an empty DSN leaves sentry off
        if not isinstance(value, str):
            raise ValueError("the sentry DSN must be a string")
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
    """Merge the layers into a validated :class:`HostConfig`; raises :class:`ConfigError`."""
    env = os.environ if env is None else env
    values: dict[str, Any] = _read_toml(Path(path)) if path is not None else {}
    values.update(_broker_from_env(env))
    if level := env_string(env, "LOG_LEVEL"):
        values["log_level"] = level
    for key, env_key in (("data_dir", "DATABASE_FOLDER"), ("database_url", "DATABASE_URL")):
        if value := env_string(env, env_key):
            values[key] = value
    if log_format := env_string(env, "LOG_FORMAT"):
        values["log_format"] = log_format
    if compute_id := env_string(env, "COMPUTE_ID"):
        values["compute_id"] = compute_id
    for key in ("SENTRY_DSN", "SENTRY_ENVIRONMENT", "SENTRY_TRACES_SAMPLE_RATE"):
        if value := env_string(env, key):
            values[key.lower()] = value
    values.update({key: value for key, value in (overrides or {}).items() if value is not None})
    try:
        return HostConfig.model_validate(values)
    except ValidationError as error:
        where = f"config file {path}" if path is not None else "configuration"
        raise ConfigError(f"invalid {where}:\n{_describe(error, 'host')}") from None


def _describe(error: ValidationError, table: str) -> str:
    lines = []
    for item in error.errors():
        location = ".".join(str(part) for part in item["loc"])
        got = "" if item["loc"][:1] == ("sentry_dsn",) else f" (got {item.get('input')!r})"  # never the DSN
        lines.append(f"  [{table}] {location}: {item['msg']}{got}")
    return "\n".join(lines)


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
    PARENT: str = ""
    #: a required plugin that is not running makes /healthz answer 503.
    REQUIRED: bool = True
    #: ``thread`` or ``process``; unset: the host's ``isolation``.
    ISOLATION: Literal["thread", "process"] | None = None
    #: the plugin's publish budget; unset: the host's ``publish_rate``, ``publish_burst``, ``publish_wait``.
    PUBLISH_RATE: float = Field(ge=0)
    PUBLISH_BURST: int = Field(ge=1)
    PUBLISH_WAIT: float = Field(ge=0)
    #: the garage's time zone (an IANA name): ``core.scheduler``'s ``.at()`` times are in it (env TIMEZONE).
    TIMEZONE: str = "Europe/Vienna"

    @field_validator("LOG_LEVEL")
    @classmethod
    def _known_level(cls, value: str) -> str:
        return _normalise_level(value)

    @field_validator("TIMEZONE")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        if value not in pytz.all_timezones_set:
            raise ValueError(f"unknown time zone {value!r}; use an IANA name such as 'Europe/Vienna'")
        return value

    @field_validator("NAME")
    @classmethod
    def _safe_name(cls, value: str) -> str:
        return check_name(value)  # it becomes a file name, a schema and a role


_STANDARD = frozenset(_StandardSettings.model_fields)


class PluginConfig:
    """What ``core.config`` is: openmodule's standard names plus the plugin's own settings.

    A setting reads as an attribute (``core.config.greeting``); :attr:`settings` is the validated
    settings model when the plugin declared one (``config_model`` hook), else a plain dict.
    """

    __slots__ = (
        "COMPUTE_ID", "DEBUG", "ISOLATION", "LOG_LEVEL", "NAME", "PARENT", "PUBLISH_BURST", "PUBLISH_RATE",
        "PUBLISH_WAIT", "REQUIRED", "RESOURCE", "TESTING", "TIMEZONE", "VERSION", "settings",
    )

    NAME: str
    VERSION: str
    RESOURCE: str
    DEBUG: bool
    TESTING: bool
    LOG_LEVEL: str
    COMPUTE_ID: int
    PARENT: str
    REQUIRED: bool
    ISOLATION: str | None
    PUBLISH_RATE: float
    PUBLISH_BURST: int
    PUBLISH_WAIT: float
    TIMEZONE: str
    settings: Any

    def __init__(self, standard: _StandardSettings, settings: Any) -> None:
        for key, value in standard.model_dump().items():
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


def build_plugin_config(
    plugin: str,
    version: str,
    table: Mapping[str, Any],
    host: HostConfig,
    settings_model: type[BaseModel] | None = None,
    env: Mapping[str, str] | None = None,
) -> PluginConfig:
    """Validate one plugin's table into its :class:`PluginConfig`; raises :class:`ConfigError`."""
    env = os.environ if env is None else env
    standard_values: dict[str, Any] = {
        "NAME": plugin,
        "VERSION": version,
        "RESOURCE": env_string(env, "AUTH_RESOURCE") or socket.gethostname(),
        "DEBUG": env_bool(env, "DEBUG"),
        "TESTING": env_bool(env, "TESTING"),
        "LOG_LEVEL": host.log_level,
        "COMPUTE_ID": env_string(env, "COMPUTE_ID") or 1,
        "PARENT": env_string(env, "PARENT"),
        "PUBLISH_RATE": host.publish_rate,
        "PUBLISH_BURST": host.publish_burst,
        "PUBLISH_WAIT": host.publish_wait,
        "TIMEZONE": env_string(env, "TIMEZONE") or "Europe/Vienna",
    }
    standard_values.update({key: value for key, value in table.items() if key in _STANDARD})
    own = {key: value for key, value in table.items() if key not in _STANDARD and key != INSTANCE_KEY}
    try:
        standard = _StandardSettings.model_validate(standard_values)
        settings: Any = settings_model.model_validate(own) if settings_model is not None else dict(own)
    except ValidationError as error:
        raise ConfigError(f"invalid settings for plugin {plugin!r}:\n{_describe(error, f'plugins.{plugin}')}") from None
    return PluginConfig(standard, settings)


def check_plugin_tables(config: HostConfig, known: list[str]) -> None:
    """A ``[plugins.<name>]`` table for a plugin that is not installed is a typo: refuse it."""
    unknown = sorted(set(config.plugins) - set(known))
    if unknown:
        raise ConfigError(
            f"config has table(s) for unknown plugin(s): {', '.join(f'[plugins.{name}]' for name in unknown)}; "
            f"installed plugins: {', '.join(known) or '(none)'}"
        )
