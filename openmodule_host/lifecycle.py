"""Starting and stopping the plugins on the host's shared infrastructure (see :mod:`.host` for the order).

:class:`PluginLifecycle` does the plugin half of the host's work: every plugin's NAME checked before any plugin
code runs; each plugin imported, checked, configured, migrated and started on its worker (or launched in a
child process of its own); and at stop, the child processes stopped, the mailboxes drained and each
``shutdown(core)`` called. The :class:`~.host.Host` builds the shared infrastructure the plugins run on and
decides when each of these steps happens.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import TimeoutError as FutureTimeout
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from .access import serve_backend_hooks
from .config import HostConfig, PluginConfig, build_plugin_config, resolve_standard
from .database import (
    DatabaseTarget,
    MigrationError,
    MigrationResult,
    prepare_postgres_schema,
    schema_name,
    target_for,
    upgrade_in_child,
)
from .errors import ConfigError, PluginLoadError, StartInterrupted
from .isolation import CallTimeout, call_bounded, wait_bounded
from .legacy import withdraw_backend
from .limits import public_text
from .loader import PluginCandidate, make_plugin_manager
from .names import check_name
from .observability import sentry
from .plugin import HostedPlugin, PluginState, SharedInfrastructure, assemble_core
from .privacy import subscribe_anonymize

if TYPE_CHECKING:
    from pluggy import HookCaller
    from sqlalchemy.engine import URL

__all__ = ["CHILD_STOP_MARGIN", "WORKER_JOIN_TIMEOUT", "PluginLifecycle", "StartFailed", "StartRunner",
           "check_plugin_name", "start_in_thread"]

log = logging.getLogger("openmodule_host")

T = TypeVar("T")

#: how long the stop waits for a plugin's worker after its shutdown hook (a busy one is abandoned: a daemon thread).
WORKER_JOIN_TIMEOUT = 0.2
#: a child process gets its own drain and shutdown time at stop, plus this for its intake, broker and exit.
CHILD_STOP_MARGIN = 5.0

#: ``alert_state(plugin, state, message)``: the host's ``plugin_state`` alert on a plugin's state change.
AlertState = Callable[[str, PluginState, "str | None"], None]


class PluginLifecycle:
    """Starts the plugins (sorted by name) on the shared infrastructure and stops them again."""

    def __init__(
        self,
        config: HostConfig,
        candidates: Sequence[PluginCandidate],
        stop_requested: threading.Event,
        alert_state: AlertState,
        *,
        database_url: URL | None,
        databases: Mapping[str, DatabaseTarget],
        child_cpu_placement: str = "off",
    ) -> None:
        self.config = config
        #: a plugin's child process's ``cpu_placement``: the CPUs this host chooses from (see :mod:`.placement`).
        self._child_cpu_placement = child_cpu_placement
        self.plugins: dict[str, HostedPlugin] = {}
        self._candidates = sorted(candidates, key=lambda candidate: candidate.name)
        self._stop_requested = stop_requested
        self._alert_state = alert_state
        self._names: dict[str, str] = {}  # NAME -> plugin
        self._database_url = database_url
        #: targets a parent host prepared, by plugin (a plugin's child process): used as they are.
        self._databases = dict(databases)
        self._shared: SharedInfrastructure | None = None
        #: sentry is on for the host: what the host reports about a plugin is tagged as the plugin's.
        self._sentry_enabled = False

    # -- start --------------------------------------------------------------------------------------

    def check_names(self) -> None:
        """Every plugin's standard settings and NAME, checked before any plugin code runs (raises
        :class:`ConfigError`): a wrong one stops the host before any plugin starts or migrates."""
        for candidate in self._candidates:
            table = self.config.plugins.get(candidate.name, {})
            standard = resolve_standard(candidate.name, candidate.version, table, self.config)
            self.claim_name(candidate.name, standard.NAME)

    def start_all(self, shared: SharedInfrastructure, *, sentry_enabled: bool) -> list[HostedPlugin]:
        """Start each plugin in load order, then wait for the child processes started side by side; returns
        the plugins that failed. Raises :class:`StartInterrupted` on a stop request, :class:`ConfigError` when a
        child process found a wrong setting."""
        self._shared = shared
        self._sentry_enabled = sentry_enabled
        for candidate in self._candidates:
            if self._stop_requested.is_set():
                raise StartInterrupted("stop requested during start")
            self._start_plugin(candidate)
        for plugin in self.plugins.values():  # the child processes started side by side
            if plugin.process is not None and plugin.state is PluginState.STARTING and not plugin.process.started():
                if plugin.process.config_error is not None:  # a wrong setting stops the host, as in a thread
                    raise ConfigError(plugin.process.config_error)
                log.error("plugin %s failed: %s", plugin.name, plugin.reason)
        return [plugin for plugin in self.plugins.values() if plugin.state is PluginState.FAILED]

    def _start_plugin(self, candidate: PluginCandidate) -> None:
        table = self.config.plugins.get(candidate.name, {})
        standard = resolve_standard(candidate.name, candidate.version, table, self.config)  # before any plugin code
        plugin = HostedPlugin(candidate, required=standard.REQUIRED)
        self.plugins[candidate.name] = plugin
        if (standard.ISOLATION or self.config.isolation) == "process":
            self._start_in_process(plugin, table, standard.NAME)
            return
        assert self._shared is not None
        runner = _HostStart(self.config, self._stop_requested)
        try:
            plugin_config = start_in_thread(plugin, table, self.config, self._shared, runner,
                                            claim_name=self.claim_name, database_url=self._database_url,
                                            prepared=self._databases.get(plugin.name))
        except StartFailed as failure:
            self._fail(plugin, failure.reason, failure.error)
            return
        log.info("plugin %s running as %s%s", candidate.name, plugin_config.NAME,
                 f" (an instance of {candidate.instance_of})" if candidate.instance_of else "")

    def _start_in_process(self, plugin: HostedPlugin, table: Mapping[str, Any], name: str) -> None:
        """Launch the plugin in a supervised child process: a host of its own with this one plugin, on this
        host's broker (see :mod:`.isolation.process`). Its code is imported only there. The host waits for
        all children together once every plugin is started."""
        candidate, config = plugin.candidate, self.config
        if not candidate.importable:
            self._fail(plugin, "runs in a child process only when installed or given as an import path, not as "
                               "an object of this process")
            return
        if candidate.problems:
            self._fail(plugin, "; ".join(candidate.problems))
            return
        self.claim_name(plugin.name, name)  # (its standard settings are valid; its child validates the rest)
        plugin.process_name = name
        child_config = config.model_dump(mode="json")
        child_config.update(  # never the DATABASE_URL: the child gets its plugin's prepared target instead
            name=f"{config.name}-{plugin.name}", broker="external", http=None, dsgvo=False, host_pong=False,
            isolation="thread", sentry_dsn=config.sentry_dsn.get_secret_value() if config.sentry_dsn else None,
            plugins={plugin.name: {key: value for key, value in table.items() if key != "ISOLATION"}},
            database_url=None, cpu_placement=self._child_cpu_placement,
        )
        spec = {"config": child_config, "plugin": {
            "name": plugin.name, "target": candidate.target, "version": candidate.version,
            "distribution": candidate.distribution, "instance_of": candidate.instance_of,
        }, "plugin_flags": {**config.plugin_flags, "ISOLATION": ("its child process", "thread")}}
        from .isolation import PluginProcess, RestartPolicy  # only for plugins in a child process

        policy = RestartPolicy(config.restart_backoff, config.restart_backoff_max, config.crash_loop_crashes,
                               config.crash_loop_window)

        def on_change(state: PluginState, reason: str) -> None:
            if state is PluginState.RUNNING:
                plugin.state, plugin.reason = PluginState.RUNNING, ""
                self._alert_state(plugin.name, PluginState.RUNNING, None)
            elif state is PluginState.RESTARTING:
                self._alert_state(plugin.name, PluginState.DEGRADED, reason)
            elif state in (PluginState.FAILED, PluginState.QUARANTINED):
                plugin.state = PluginState.FAILED
                plugin.reason = public_text(reason, config.max_health_message_bytes, plugin.stats.limits,
                                            "failure_reason")
                if plugin.process is None or plugin.process.config_error is None:
                    # (a wrong setting stops the host with exit 2 and no alert, as for a plugin in a thread)
                    self._alert_state(plugin.name, PluginState.FAILED, reason)
            elif state is PluginState.STOPPED:
                plugin.state = PluginState.STOPPED

        startup = config.start_timeout + config.migration_timeout + config.connect_timeout
        plugin.process = PluginProcess(plugin.name, spec, policy, startup, on_change, log,
                                       prepare_database=self._database_preparer(name))
        plugin.process.launch()

    def _database_preparer(self, name: str) -> Callable[[], dict[str, Any]] | None:
        """For a plugin in a child process on PostgreSQL: prepares its schema and role as the ``DATABASE_URL``
        user (before each launch: a new password each time) and returns the child's ``database`` spec entry,
        the role's own URL, so the child never sees the ``DATABASE_URL``. None on SQLite (the child opens its
        file itself)."""
        if self._database_url is None:
            return None
        target = target_for(name, Path(self.config.data_dir), self._database_url)

        def prepare() -> dict[str, Any]:
            prepared = prepare_postgres_schema(target)
            return {"database": {"url": prepared.url.render_as_string(hide_password=False),
                                 "schema": prepared.schema, "role": prepared.role}}

        return prepare

    def claim_name(self, plugin: str, name: Any) -> None:
        """``name`` is a safe NAME that no other plugin uses, nor another NAME with the same PostgreSQL
        schema (``om-x`` and ``om_x``); raises :class:`ConfigError`."""
        check_plugin_name(plugin, name)
        keys = [name] if self._database_url is None else [name, f"schema {schema_name(name)}"]
        for key in keys:
            other = self._names.setdefault(key, plugin)
            if other != plugin:
                what = f"NAME={name!r}" if key == name else f"the PostgreSQL {key}"
                raise ConfigError(
                    f"plugins {other!r} and {plugin!r} both use {what}; set a distinct NAME in [plugins.{plugin}]"
                )

    def _fail(self, plugin: HostedPlugin, reason: str, error: BaseException | None = None) -> None:
        reason = public_text(reason, self.config.max_health_message_bytes, plugin.stats.limits, "failure_reason")
        plugin.state = PluginState.FAILED
        plugin.reason = reason
        with self._sentry_scope(plugin):
            log.error("plugin %s failed: %s", plugin.name, reason, exc_info=error)
        self._alert_state(plugin.name, PluginState.FAILED, reason)
        if plugin.core is not None:
            plugin.core.detach()
        if plugin.worker is not None:
            plugin.worker.mailbox.close()

    # -- stop ---------------------------------------------------------------------------------------

    def stop_in_thread_plugins(self) -> None:
        """Drain the running in-thread plugins' mailboxes, call each ``shutdown(core)`` in reverse load order,
        then close their mailboxes and join their workers."""
        running = [plugin for plugin in self.plugins.values()
                   if plugin.state is PluginState.RUNNING and plugin.process is None]
        self._drain(running)
        for plugin in reversed(running):
            self._call_shutdown(plugin)
        for plugin in running:
            assert plugin.worker is not None
            plugin.worker.mailbox.close()
            if not plugin.worker.join(WORKER_JOIN_TIMEOUT):
                log.warning("plugin %s: worker still busy at stop; abandoning it", plugin.name)
            plugin.state = PluginState.STOPPED

    def stop_processes(self) -> None:
        """Stop the plugins' child processes together: each drains and shuts down as a host does."""
        processes = [plugin.process for plugin in self.plugins.values() if plugin.process is not None]
        allowed = self.config.drain_timeout + self.config.shutdown_timeout + CHILD_STOP_MARGIN
        stoppers = [threading.Thread(target=process.stop, args=(allowed,), name=f"omh-stop-{process.plugin}",
                                     daemon=True) for process in processes]
        for stopper in stoppers:
            stopper.start()
        for stopper in stoppers:
            stopper.join()

    def _drain(self, plugins: list[HostedPlugin]) -> None:
        deadline = time.monotonic() + self.config.drain_timeout
        for plugin in plugins:
            worker = plugin.worker
            assert worker is not None
            while (len(worker.mailbox) or worker.busy_since is not None) and time.monotonic() < deadline:
                time.sleep(0.005)
            if discarded := worker.mailbox.discard():
                log.warning(
                    "plugin %s: drain deadline passed, %d queued message(s) dropped", plugin.name, discarded
                )

    def _call_shutdown(self, plugin: HostedPlugin) -> None:
        assert plugin.worker is not None and plugin.manager is not None
        manager, core = plugin.manager, plugin.core
        withdraw_backend(plugin)
        future = plugin.worker.submit(lambda: manager.hook.shutdown(core=core))
        with self._sentry_scope(plugin):
            try:
                future.result(timeout=self.config.shutdown_timeout)
            except FutureTimeout:
                log.error("plugin %s: shutdown did not return within %g s", plugin.name, self.config.shutdown_timeout)
            except Exception:
                log.exception("plugin %s: shutdown raised", plugin.name)
        if plugin.core is not None:
            plugin.core.detach()

    def _sentry_scope(self, plugin: HostedPlugin) -> AbstractContextManager[object]:
        """For what the host reports about a plugin from its own threads: tagged as the plugin's events."""
        return sentry.tagged(plugin.sentry_tags) if self._sentry_enabled else nullcontext()


# -- one plugin's start in this process: the same steps for the host and the fake core ------------------------


def check_plugin_name(plugin: str, name: Any) -> None:
    """``name`` is a safe NAME for ``plugin``; raises :class:`ConfigError` naming its settings table."""
    try:
        check_name(name)
    except ValueError as error:
        raise ConfigError(f"[plugins.{plugin}] NAME {name!r}: {error}") from None


class StartFailed(Exception):
    """The plugin failed to start: ``reason`` is what its health and alert say; ``error`` the exception to log
    with its traceback, if any."""

    def __init__(self, reason: str, error: BaseException | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.error = error


class StartRunner(Protocol):
    """How the plugin's code runs while it starts: the host's bounded threads, or the fake core's test thread."""

    def bounded(self, call: Callable[[], T], what: str) -> T:
        """Run plugin code (import, ``config_model``, ``database_migrations``); may raise :class:`CallTimeout`
        or :class:`StartInterrupted`."""

    def migrate(self, versions: Path, target: DatabaseTarget) -> MigrationResult:
        """Bring the database at ``target`` to the newest revision in ``versions``."""

    def on_worker(self, plugin: HostedPlugin, call: Callable[[], None]) -> None:
        """Run ``call`` (``register_handlers``) on the plugin's worker, its core assembled; may raise
        :class:`CallTimeout` (then it did not return within ``start_timeout``) or :class:`StartInterrupted`."""


def start_in_thread(
    plugin: HostedPlugin,
    table: Mapping[str, Any],
    config: HostConfig,
    shared: SharedInfrastructure,
    runner: StartRunner,
    *,
    claim_name: Callable[[str, Any], None],
    database_url: URL | None,
    prepared: DatabaseTarget | None = None,
) -> PluginConfig:
    """Start one plugin in this process: import it, validate its settings against its ``config_model``, claim
    its NAME, migrate its database, assemble its core, run ``register_handlers`` on its worker and wire its
    privacy and backend hooks; the plugin is then RUNNING and its validated config is returned. Raises
    :class:`StartFailed` with the reason when a step failed, :class:`StartInterrupted` on a stop request,
    :class:`ConfigError` for a wrong setting (the host stops). ``prepared``: the database target a parent host
    prepared for this plugin (a plugin's child process), used as it is."""
    candidate = plugin.candidate
    try:
        plugin.manager = manager = runner.bounded(lambda: make_plugin_manager(candidate),
                                                  f"import of {candidate.target}")
    except PluginLoadError as error:
        raise StartFailed(error.reason) from None
    except CallTimeout as error:
        raise StartFailed(str(error)) from None
    settings_model = _hook_at_start(runner, manager.hook.config_model, "config_model")
    plugin_config = build_plugin_config(candidate.name, candidate.version, table, config, settings_model)
    claim_name(plugin.name, plugin_config.NAME)
    target = prepared or target_for(plugin_config.NAME, Path(config.data_dir), database_url)
    versions = _hook_at_start(runner, manager.hook.database_migrations, "database_migrations")
    if versions is not None:
        from sqlalchemy.exc import SQLAlchemyError  # SQLAlchemy loads only for plugins with migrations

        try:
            if target.schema is not None and prepared is None:
                target = prepare_postgres_schema(target)
            result = runner.migrate(Path(versions), target)
        except (MigrationError, SQLAlchemyError, OSError, ConfigError) as error:
            raise StartFailed(f"database migration failed: {error}") from None
        log.info("plugin %s: database (%s) at revision %s (was %s)", plugin.name, target.description,
                 result.after, result.before)
    core = assemble_core(plugin, plugin_config, shared, target, versions is not None or prepared is not None)
    try:
        runner.on_worker(plugin, lambda: manager.hook.register_handlers(core=core))
    except CallTimeout:
        raise StartFailed(f"register_handlers did not return within {config.start_timeout:g} s") from None
    except StartInterrupted:
        raise
    except Exception as error:
        raise StartFailed(f"register_handlers raised {type(error).__name__}: {error}", error) from None
    subscribe_anonymize(plugin)
    try:
        serve_backend_hooks(plugin)
    except ValueError as error:  # e.g. another plugin serves access_service/auth without a name
        raise StartFailed(f"its check_access cannot be served: {error}", error) from None
    plugin.state = PluginState.RUNNING
    return plugin_config


def _hook_at_start(runner: StartRunner, hook: HookCaller, what: str) -> Any:
    """A hook the plugin answers at start (``config_model``, ``database_migrations``, both ``firstresult``),
    run by ``runner``; None at once where the plugin does not implement it (no plugin code to bound)."""
    if not hook.get_hookimpls():
        return None
    try:
        return runner.bounded(hook, what)
    except CallTimeout as error:
        raise StartFailed(str(error)) from None
    except StartInterrupted:
        raise
    except Exception as error:
        raise StartFailed(f"{what} raised {type(error).__name__}: {error}") from None


class _HostStart:
    """The host's way: plugin code on a daemon thread bounded by ``start_timeout``, the migration in a child
    process bounded by ``migration_timeout``, the worker a thread of its own; each given up on a stop request."""

    def __init__(self, config: HostConfig, stop_requested: threading.Event) -> None:
        self._config = config
        self._stop = stop_requested

    def bounded(self, call: Callable[[], T], what: str) -> T:
        return call_bounded(call, self._config.start_timeout, what, self._stop)

    def migrate(self, versions: Path, target: DatabaseTarget) -> MigrationResult:
        return upgrade_in_child(versions, target, self._config.migration_timeout, self._stop)

    def on_worker(self, plugin: HostedPlugin, call: Callable[[], None]) -> None:
        assert plugin.worker is not None
        plugin.worker.start()
        future = plugin.worker.submit(call)
        wait_bounded(future, self._config.start_timeout, "register_handlers", self._stop)
