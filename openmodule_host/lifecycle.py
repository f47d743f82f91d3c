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
from typing import TYPE_CHECKING, Any, TypeVar

from .access import serve_backend_hooks
from .config import HostConfig, build_plugin_config, resolve_standard
from .database import (
    DatabaseTarget,
    MigrationError,
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
    from sqlalchemy.engine import URL

__all__ = ["PluginLifecycle"]

log = logging.getLogger("openmodule_host")

T = TypeVar("T")

_WORKER_JOIN_TIMEOUT = 0.2
#: a child process gets its own drain and shutdown time at stop, plus this for its intake, broker and exit.
_CHILD_STOP_MARGIN = 5.0

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
    ) -> None:
        self.config = config
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
        try:
            plugin.manager = self._bounded(lambda: make_plugin_manager(candidate), f"import of {candidate.target}")
        except PluginLoadError as error:
            self._fail(plugin, error.reason)
            return
        except CallTimeout as error:
            self._fail(plugin, str(error))
            return
        try:
            settings_model = self._bounded(plugin.manager.hook.config_model, "config_model")
        except CallTimeout as error:
            self._fail(plugin, str(error))
            return
        except StartInterrupted:
            raise
        except Exception as error:
            self._fail(plugin, f"config_model raised {type(error).__name__}: {error}")
            return
        plugin_config = build_plugin_config(candidate.name, candidate.version, table, self.config, settings_model)
        self.claim_name(plugin.name, plugin_config.NAME)
        database = self._migrate(plugin, plugin_config.NAME)
        if database is None:
            return
        assert self._shared is not None
        assemble_core(plugin, plugin_config, self._shared, *database)
        assert plugin.worker is not None
        plugin.worker.start()

        manager, core = plugin.manager, plugin.core
        future = plugin.worker.submit(lambda: manager.hook.register_handlers(core=core))
        try:
            wait_bounded(future, self.config.start_timeout, "register_handlers", self._stop_requested)
        except CallTimeout:
            self._fail(plugin, f"register_handlers did not return within {self.config.start_timeout:g} s")
            return
        except StartInterrupted:
            raise
        except Exception as error:
            self._fail(plugin, f"register_handlers raised {type(error).__name__}: {error}", error)
            return
        subscribe_anonymize(plugin)
        try:
            serve_backend_hooks(plugin)
        except ValueError as error:  # e.g. another plugin serves access_service/auth without a name
            self._fail(plugin, f"its check_access cannot be served: {error}", error)
            return
        plugin.state = PluginState.RUNNING
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
            database_url=None,
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

    def _bounded(self, call: Callable[[], T], what: str) -> T:
        """Plugin code at start: on a daemon thread, bounded by ``start_timeout``, given up on a stop request."""
        return call_bounded(call, self.config.start_timeout, what, self._stop_requested)

    def _migrate(self, plugin: HostedPlugin, name: str) -> tuple[DatabaseTarget, bool] | None:
        """Bring the plugin's database to its newest revision; None when that failed (the plugin failed)."""
        prepared = self._databases.get(plugin.name)
        target = prepared or target_for(name, Path(self.config.data_dir), self._database_url)
        assert plugin.manager is not None
        try:
            versions = self._bounded(plugin.manager.hook.database_migrations, "database_migrations")
        except CallTimeout as error:
            self._fail(plugin, str(error))
            return None
        except StartInterrupted:
            raise
        except Exception as error:
            self._fail(plugin, f"database_migrations raised {type(error).__name__}: {error}")
            return None
        if versions is None:
            return target, prepared is not None
        from sqlalchemy.exc import SQLAlchemyError  # SQLAlchemy loads only for plugins with migrations

        try:
            if target.schema is not None and prepared is None:
                target = prepare_postgres_schema(target)
            result = upgrade_in_child(Path(versions), target, self.config.migration_timeout,
                                      self._stop_requested)
        except (MigrationError, SQLAlchemyError, OSError, ConfigError) as error:
            self._fail(plugin, f"database migration failed: {error}")
            return None
        log.info("plugin %s: database (%s) at revision %s (was %s)", plugin.name, target.description,
                 result.after, result.before)
        return target, True

    def claim_name(self, plugin: str, name: Any) -> None:
        """``name`` is a safe NAME that no other plugin uses, nor another NAME with the same PostgreSQL
        schema (``om-x`` and ``om_x``); raises :class:`ConfigError`."""
        try:
            check_name(name)
        except ValueError as error:
            raise ConfigError(f"[plugins.{plugin}] NAME {name!r}: {error}") from None
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
            if not plugin.worker.join(_WORKER_JOIN_TIMEOUT):
                log.warning("plugin %s: worker still busy at stop; abandoning it", plugin.name)
            plugin.state = PluginState.STOPPED

    def stop_processes(self) -> None:
        """Stop the plugins' child processes together: each drains and shuts down as a host does."""
        processes = [plugin.process for plugin in self.plugins.values() if plugin.process is not None]
        allowed = self.config.drain_timeout + self.config.shutdown_timeout + _CHILD_STOP_MARGIN
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
