"""The ``openmodule-host`` command.

    openmodule-host --plugins hello,backend_x     run the chosen plugins (``run`` is the default command)
    openmodule-host --all-plugins                 run every installed plugin
    openmodule-host plugins [--config FILE]       list installed plugins, their load problems and instances
    openmodule-host broker                        run a standalone broker (for several machines)
    openmodule-host db upgrade --plugin NAME      a plugin's database migrations (upgrade, current, history)
    openmodule-host makemessages | translate | checktranslation   a plugin's gettext catalogues

Exit status: 0 after a clean stop; 1 when a plugin failed under ``--strict`` or the host failed at run
time; 2 for usage and configuration errors (unknown plugin names included); 70 when the watchdog found a
host thread dead or stuck beyond repair and stopped the host (for a supervisor to restart it).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import threading
from collections.abc import Sequence
from typing import Any

import pluggy
import zmq

from .config import LOG_LEVELS, HostConfig, build_plugin_config, check_plugin_tables, load_host_config
from .database.operator import run_database_command
from .errors import BrokerAddressInUse, ConfigError, HostError, PluginLoadError, UnknownPluginError
from .host import Host
from .instances import resolve_instances, select_instances
from .isolation import CallTimeout, call_bounded
from .loader import discover, hookimpl_names, make_plugin_manager
from .masking import add_secrets, mask_secrets, secrets_of_settings
from .observability import configure_logging
from .stop_signals import stop_on_signals
from .translation_commands import COMMANDS as TRANSLATION_COMMANDS
from .translation_commands import add_translation_commands, run_translation_command
from .version import __version__
from .wire import Broker

__all__ = ["build_parser", "host_overrides", "main"]

_COMMANDS = ("run", "plugins", "broker", "db", *TRANSLATION_COMMANDS)


def _add_log_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--log-level", metavar="LEVEL",
                        help=f"one of {', '.join(LOG_LEVELS)}, in any case (env LOG_LEVEL; default INFO)")
    parser.add_argument("--log-format", choices=("human", "json"),
                        help="human-readable lines (default) or one JSON object per line (env LOG_FORMAT)")


def _add_broker_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--broker-sub", metavar="ADDRESS",
                        help="the broker's XSUB address, where publishers connect (env BROKER_SUB; "
                             "default tcp://127.0.0.1:10100)")
    parser.add_argument("--broker-pub", metavar="ADDRESS",
                        help="the broker's XPUB address, where subscribers connect (env BROKER_PUB; "
                             "default tcp://127.0.0.1:10200)")


def _add_database_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", metavar="DIR", help="the SQLite folder (env DATABASE_FOLDER; default data)")
    parser.add_argument("--database-url", metavar="URL", help="PostgreSQL instead of SQLite (env DATABASE_URL)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="openmodule-host",
        description="Run openmodule services as plugins in one process. Without a command, runs plugins "
                    "(`openmodule-host --plugins NAME[,NAME...]`).",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    run = commands.add_parser("run", help="run plugins (the default command)",
                              description="Run the selected plugins on one broker connection.")
    chosen = run.add_mutually_exclusive_group(required=True)
    chosen.add_argument("--plugins", metavar="NAMES",
                        help="comma-separated plugin (or instance) names, e.g. hello,backend_x or gate_in,gate_out")
    chosen.add_argument("--all-plugins", action="store_true",
                        help="run every installed plugin and every instance the config file names")
    run.add_argument("--config", metavar="FILE", help="TOML file with [host] and [plugins.<name>] tables")
    run.add_argument("--broker", choices=("embedded", "external"),
                     help="embedded: run the broker inside the host (default); external: join a running one")
    _add_broker_options(run)
    run.add_argument("--strict", action="store_true", help="exit 1 if any plugin fails to load or start")
    _add_log_options(run)
    run.add_argument("--http", metavar="HOST:PORT",
                     help="serve /healthz and /metrics over HTTP (off by default), e.g. 127.0.0.1:8080")
    _add_database_options(run)
    run.add_argument("--isolation", choices=("thread", "process"),
                     help="thread: every plugin on a worker thread of this process (default); process: every "
                          "plugin in a supervised child process, restarted after a crash ([plugins.<name>] "
                          "ISOLATION overrides)")
    run.add_argument("--cpu-placement", metavar="auto|off|CPUS",
                     help="auto: keep the host's Python threads together on one CPU, moved off a CPU other "
                          "processes keep busy (default); off: leave them to the kernel; CPUS (e.g. 2-3): one "
                          "CPU of these")

    plugins = commands.add_parser("plugins", help="list installed plugins and instances",
                                  description="List installed plugins: name, distribution, version, module, "
                                              "hookimpls and load problems; then the instances the config file "
                                              "names (instance, entry point, distribution, version). Imports "
                                              "every plugin.")
    plugins.add_argument("--json", action="store_true", help="print JSON instead of a table")
    plugins.add_argument("--config", metavar="FILE",
                         help="TOML file whose [plugins.<name>] tables may name instances (plugin = \"...\")")
    plugins.add_argument("--import-timeout", metavar="SECONDS", type=float, default=30.0,
                         help="report a plugin whose import does not finish within this time (default 30)")

    broker = commands.add_parser("broker", help="run a standalone broker",
                                 description="Run only the XSUB/XPUB broker, for hosts and services on "
                                             "several machines to share.")
    _add_broker_options(broker)
    _add_log_options(broker)

    database = commands.add_parser("db", help="a plugin's database migrations",
                                   description="Upgrade a plugin's database to its newest revision, or show the "
                                               "current revision or the history of its migrations.")
    database.add_argument("action", choices=("upgrade", "current", "history"))
    database.add_argument("--plugin", required=True, help="the plugin (entry point or instance name)")
    database.add_argument("--config", metavar="FILE", help="TOML file with [host] and [plugins.<name>] tables")
    _add_database_options(database)
    _add_log_options(database)
    add_translation_commands(commands)
    return parser


def _subcommand(parser: argparse.ArgumentParser, name: str) -> argparse.ArgumentParser:
    """The parser of the command ``name``: its ``error`` shows that command's usage, not the top level's."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            found: argparse.ArgumentParser = action.choices[name]
            return found
    raise KeyError(name)


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list and args_list[0] not in _COMMANDS and args_list[0] not in ("-h", "--help", "--version"):
        args_list.insert(0, "run")
    parser = build_parser()
    args = parser.parse_args(args_list)
    if args.command is None:
        parser.print_help()
        return 2
    if args.command == "run" and args.plugins is not None and not all(name.strip() for name in args.plugins.split(",")):
        _subcommand(parser, "run").error(
            f"--plugins {args.plugins!r}: an empty plugin name; give NAME[,NAME...] or --all-plugins")
    if args.command in TRANSLATION_COMMANDS:
        return run_translation_command(args, sys.stdout)
    try:
        if args.command == "plugins":
            return _list_plugins(args.json, args.import_timeout,
                                 load_host_config(args.config, env={}) if args.config else HostConfig())
        config = load_host_config(getattr(args, "config", None), overrides=host_overrides(args))
        configure_logging(config.log_level, config.log_format)
        # for this process's lifetime: a database error is printed after the host stopped
        add_secrets(secrets_of_settings(
            config.database_url, config.sentry_dsn.get_secret_value() if config.sentry_dsn else None))
        if args.command == "broker":
            return _run_broker(config)
        if args.command == "db":
            return run_database_command(args.action, args.plugin, config, sys.stdout)
        return _run(args, config)
    except (ConfigError, UnknownPluginError) as error:
        _error(f"error: {error}")
        return 2
    except PluginLoadError as error:
        _error(f"error: {error}" + (" (--strict)" if getattr(args, "strict", False) else ""))
        return 1
    except HostError as error:
        _error(f"error: {error}")
        return 1
    except Exception as error:
        if not _is_database_error(error):
            raise
        _error(f"database error: {error}")
        return 1


#: the ``[host]`` keys a command line flag sets (``--broker-sub`` sets ``broker_sub``); each command has some.
_HOST_FLAGS = ("broker", "broker_sub", "broker_pub", "data_dir", "database_url", "log_level", "log_format", "http",
               "isolation", "cpu_placement")


def host_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The ``[host]`` settings the command line gives, for :func:`load_host_config` (None: the flag is not
    given, or the command has no such flag)."""
    return {key: getattr(args, key, None) for key in _HOST_FLAGS}


def _is_database_error(error: Exception) -> bool:
    """An SQLAlchemy error; SQLAlchemy is loaded only when a plugin has a database, and so is checked only
    when it is."""
    exc = sys.modules.get("sqlalchemy.exc")
    return exc is not None and isinstance(error, exc.SQLAlchemyError)


def _error(text: str) -> None:
    print(f"openmodule-host: {mask_secrets(text)}", file=sys.stderr)


def _run(args: argparse.Namespace, config: HostConfig) -> int:
    installed = discover()
    check_plugin_tables(config, list(resolve_instances(installed, config.plugins)))
    names = args.plugins.split(",") if args.plugins else None
    candidates = select_instances(installed, config.plugins, names, all_plugins=args.all_plugins)
    host = Host(config, candidates, strict=args.strict)
    stop_on_signals(host.request_stop, logging.getLogger("openmodule_host"))
    with host:
        while not host.wait(0.5):  # wake up regularly so signals are handled promptly
            pass
    return host.exit_status


def _run_broker(config: HostConfig) -> int:
    stop = threading.Event()
    stop_on_signals(stop.set, logging.getLogger("openmodule_host"))
    context = zmq.Context()
    broker = Broker(context, config.broker_sub, config.broker_pub)
    try:
        try:
            broker.start()
        except BrokerAddressInUse as error:  # (its text is for a host, which can join with --broker external)
            raise HostError(f"cannot bind the broker on {error.address}: {error.error}. Another broker (or a "
                            "host's embedded one) already runs there: choose other addresses with "
                            "--broker-sub/--broker-pub") from None
        print(f"broker ready: XSUB {config.broker_sub} XPUB {config.broker_pub}", flush=True)
        while not stop.wait(0.5):
            pass
    finally:
        if broker.stop():
            context.destroy(linger=0)
        else:  # closing its sockets under the proxy could crash: the process's exit ends it
            logging.getLogger("openmodule_host").warning("broker did not stop within 5 s")
    return 0


def _list_plugins(as_json: bool, import_timeout: float, config: HostConfig) -> int:
    """The installed entry points, then the instances the config's tables name (checked as ``run`` does)."""
    installed = discover()
    known = resolve_instances(installed, config.plugins)
    check_plugin_tables(config, list(known))
    instances = [candidate for candidate in known.values() if candidate.instance_of]
    rows = []
    settings_errors: list[str] = []
    for candidate in installed.values():
        try:
            # each import on a daemon thread: one that hangs or spins is reported, and the listing goes on
            manager = call_bounded(lambda: make_plugin_manager(candidate),  # noqa: B023 - waited for right here
                                   import_timeout, f"import of {candidate.target}")
            hooks, problem = hookimpl_names(manager), ""
            tables = [name for name, known_as in known.items() if known_as.entry_point == candidate.name
                      and name in config.plugins]
            problem, errors = _check_settings(manager, candidate.version, tables, config, import_timeout)
            settings_errors += errors
        except PluginLoadError as error:
            hooks, problem = [], error.reason
        except CallTimeout as error:
            hooks, problem = [], str(error)
        rows.append({
            "name": candidate.name,
            "distribution": candidate.distribution,
            "version": candidate.version,
            "module": candidate.target,
            "hookimpls": hooks,
            "problem": problem,
        })
    by_name = {row["name"]: row for row in rows}
    # an instance loads as its entry point does: it shares that row's hookimpls and problem; only its rows
    # have "instance_of" (the rows of entry points are as they always were)
    rows += [{**by_name[candidate.instance_of], "name": candidate.name, "instance_of": candidate.instance_of}
             for candidate in instances]
    # 1 when any entry has a problem, for scripts and CI; 2 (after the listing) when a table's settings are wrong
    status = 1 if any(row["problem"] for row in rows) else 0
    if as_json:
        print(json.dumps(rows, indent=2))
        return _settings_status(settings_errors, status)
    if not installed:
        print("no plugins installed (entry point group 'openmodule.plugins')")
        return 0
    for row in rows:
        if "instance_of" not in row:
            print(f"{row['name']}  {row['distribution']} {row['version']}  {row['module']}")
            print(f"    hookimpls: {', '.join(row['hookimpls']) or '-'}")
        else:
            if row["name"] == instances[0].name:
                print("instances:")
            print(f"{row['name']}  instance of {row['instance_of']}  {row['distribution']} {row['version']}")
        print(f"    PROBLEM: {row['problem']}" if row["problem"] else "    ok")
    return _settings_status(settings_errors, status)


def _check_settings(manager: pluggy.PluginManager, version: str, tables: list[str], config: HostConfig,
                    timeout: float) -> tuple[str, list[str]]:
    """Each of ``tables`` (a plugin's and its instances') checked as ``run`` checks a plugin it starts, own
    settings included: the entry's problem ("" unless its ``config_model`` failed) and the settings errors."""
    if not tables:
        return "", []
    try:
        model = call_bounded(manager.hook.config_model, timeout, "config_model")
    except CallTimeout as error:
        return str(error), []
    except Exception as error:
        return f"config_model raised {type(error).__name__}: {error}", []
    errors = []
    for name in tables:
        try:
            build_plugin_config(name, version, config.plugins[name], config, model)
        except ConfigError as error:
            errors.append(str(error))
    return "", errors


def _settings_status(errors: list[str], status: int) -> int:
    for error in errors:
        _error(f"error: {error}")
    return 2 if errors else status
