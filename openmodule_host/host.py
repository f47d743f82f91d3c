"""The host: shared infrastructure, plugin start-up, and an orderly, bounded stop.

Start order:
  1. the checks that need no plugin code: the ``--http`` address is bound (served from step 5 on), every
     plugin's standard settings and NAME are checked; a failure stops the host before any plugin starts;
  2. the ZeroMQ context; the embedded broker (``broker = "embedded"``); the shared publisher and the single
     intake; the broker connection check (``__ping_``; with an external broker it says at once what it waits
     for and where, and every 5 s that it still does);
  3. each plugin in load order (sorted by name): import and check against the contract, validate its
     config, run its migrations, start its worker, call ``register_handlers(core)`` on that worker (each
     bounded by ``start_timeout``; the import and the ``config_model``/``database_migrations`` hooks run on a
     daemon thread, see :mod:`.isolation.bounded`). A plugin that fails is marked failed with the reason;
     the rest go on (``strict`` makes any failure fatal);
  4. the watchdog over the host's own threads (see :mod:`.watchdog`);
  5. the HTTP endpoint; a warning for each RPC several plugins would all answer
     (:meth:`.RPCRouter.warn_unfiltered`), then one line per plugin and ``ready``.
A stop requested during start (SIGTERM) ends the start at the next wait (the broker check, an import, a
hook, a migration, whose process is killed): the host stops and is not ready.

Stop order (each stage bounded; the sum is the stop deadline):
  1. stop the watchdog and the HTTP endpoint;                         <= 2 s each
  2. stop the plugins' child processes, all at once;                  <= drain + shutdown timeouts + 5 s
  3. stop the intake (no new messages), the scheduler thread (no new job runs)
     and the health thread;                                           <= 2 s each
  4. drain the mailboxes: queued messages are still handled;          <= drain_timeout (total)
  5. ``shutdown(core)`` in reverse load order on each plugin's worker; <= shutdown_timeout per plugin
     (a legacy backend's ``unregister`` on topic ``backend`` first)
  6. close mailboxes, join workers, close the publisher and broker.   <= 0.2 s per plugin + 1 s
  7. send what sentry still has queued (when the host turned it on).  <= 2 s
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import TimeoutError as FutureTimeout
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import zmq
from openmodule_hookspecs import HealthCheck, HealthMetric

from .access import serve_backend_hooks
from .alerts import PluginAlerts
from .config import HostConfig, build_plugin_config, resolve_standard
from .connection_status import ConnectionState
from .core import message_body
from .database import (
    DatabaseTarget,
    MigrationError,
    normalise_url,
    prepare_postgres_schema,
    schema_name,
    target_for,
    upgrade_in_child,
)
from .errors import ConfigError, PluginLoadError, StartInterrupted
from .health import HealthResponder, PluginStatus, host_checks, host_metrics, plugin_status
from .isolation import CallTimeout, call_bounded, wait_bounded
from .legacy import announce_backend, withdraw_backend
from .limits import Limits, public_text
from .loader import PluginCandidate, make_plugin_manager
from .masking import add_secrets, remove_secrets, secrets_of_url
from .memory import release_free_memory
from .names import check_name
from .observability import sentry
from .plugin import HostedPlugin, PluginState, SharedInfrastructure, assemble_core
from .privacy import copy_dsgvo_files, subscribe_anonymize
from .rpc import PluginRPCClient, RPCCalls, RPCRouter
from .scheduling import SchedulerThread
from .version import __version__
from .watchdog import EXIT_SOFTWARE, Watchdog
from .wire import Broker, Intake, Publisher, wait_for_connection

if TYPE_CHECKING:
    from .isolation import ChildState
    from .observability.http import HTTPEndpoint

__all__ = ["Host"]

log = logging.getLogger("openmodule_host")

T = TypeVar("T")

_INTAKE_STOP_TIMEOUT = 2.0
_WORKER_JOIN_TIMEOUT = 0.2
#: a child process gets its own drain and shutdown time at stop, plus this for its intake, broker and exit.
_CHILD_STOP_MARGIN = 5.0
#: seconds between the "still waiting for the broker" lines at start.
_BROKER_PROGRESS_EVERY = 5.0


def _stdout(line: str) -> None:
    print(line, file=sys.stdout, flush=True)


class Host:
    """Runs the given plugins on one broker connection. Use as a context manager or start()/stop()."""

    def __init__(
        self,
        config: HostConfig,
        candidates: Sequence[PluginCandidate],
        *,
        strict: bool = False,
        report: Callable[[str], None] = _stdout,
        sentry_options: Mapping[str, Any] | None = None,
        databases: Mapping[str, DatabaseTarget] | None = None,
    ) -> None:
        self.config = config
        self.strict = strict
        self.plugins: dict[str, HostedPlugin] = {}
        self._candidates = sorted(candidates, key=lambda candidate: candidate.name)
        self._report = report
        #: further ``sentry_sdk.init`` options (e.g. ``transport``), used when a sentry DSN is configured.
        self._sentry_options = dict(sentry_options or {})
        #: sentry is on for this host (a DSN is configured); decided at start.
        self.sentry_enabled = False
        self._sentry_owned = False
        self._stop_requested = threading.Event()
        #: what ``openmodule-host`` exits with after the stop: 0, or 70 when the watchdog stopped the host.
        self.exit_status = 0
        #: watches the host's own threads (from the end of start to the beginning of stop).
        self.watchdog: Watchdog | None = None
        self._started = False
        self._stopped = False
        self.context: zmq.Context | None = None
        self.broker: Broker | None = None
        self.publisher: Publisher | None = None
        self.intake: Intake | None = None
        self.rpc_router: RPCRouter | None = None
        self.rpc_calls: RPCCalls | None = None
        self.health: HealthResponder | None = None
        self.connection: ConnectionState | None = None
        self.rpc_client: PluginRPCClient | None = None
        #: queues the plugins' due jobs (``core.scheduler``) to their mailboxes.
        self.scheduler: SchedulerThread | None = None
        self.http: HTTPEndpoint | None = None
        #: the host's own alerts (a plugin failed, or is degraded), sent under the host's name.
        self.alerts: PluginAlerts | None = None
        self._shared: SharedInfrastructure | None = None
        self._names: dict[str, str] = {}  # NAME -> plugin
        self._database_url = normalise_url(config.database_url) if config.database_url else None
        #: targets a parent host prepared, by plugin (a plugin's child process): used as they are.
        self._databases = dict(databases or {})
        #: the DATABASE_URL password, the sentry key and the prepared targets' passwords: masked in every
        #: reason, message and log line.
        self._secrets = secrets_of_url(config.database_url or "") + secrets_of_url(
            config.sentry_dsn.get_secret_value() if config.sentry_dsn else "")
        for target in self._databases.values():
            self._secrets += secrets_of_url(target.url.render_as_string(hide_password=False))
        add_secrets(self._secrets)

    # -- start --------------------------------------------------------------------------------------

    def start(self) -> None:
        """Start everything and return once the host is ready; raises on fatal errors (after cleaning up).

        A stop requested during start (:meth:`request_stop`, e.g. from a signal handler) stops what was started
        and returns at once, not ready.
        """
        if self._started:
            raise RuntimeError("host already started")
        self._started = True
        try:
            self._start()
        except StartInterrupted as interrupted:
            log.info("%s; stopping", interrupted)
            self.stop()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> None:
        config = self.config
        if config.sentry_dsn is not None:
            self._sentry_owned = sentry.init_sentry(config, self._sentry_options)
            self.sentry_enabled = True
        if config.dsgvo:
            copy_dsgvo_files(config.dsgvo_files)
        if config.http:  # bound now, served once the plugins started: an address in use stops the host first
            from .observability.http import HTTPEndpoint  # only with --http

            self.http = HTTPEndpoint(self, config.http)
        self._check_names()
        self.context = zmq.Context()
        if config.broker == "embedded":
            self.broker = Broker(self.context, config.broker_sub, config.broker_pub)
            self.broker.start()
            log.info("embedded broker on %s (XSUB) / %s (XPUB)", config.broker_sub, config.broker_pub)
        self.publisher = Publisher(self.context, config.broker_sub)
        publisher = self.publisher
        self.alerts = PluginAlerts(
            config.name, __version__, lambda message, topic: publisher.send(topic, message_body(message, config.name)),
            log, meta_bytes=config.max_alert_meta_bytes,
        )
        self.intake = Intake(self.context, config.broker_pub, max_body_bytes=config.max_message_bytes,
                             max_depth=config.max_depth, log=log)
        self.intake.start()
        self.rpc_router = RPCRouter(self.intake, log)
        self.rpc_calls = RPCCalls(self.intake, self.publisher, config.name, config.connect_timeout, log,
                                  channel_idle=config.rpc_channel_idle, max_body_bytes=config.max_message_bytes)
        #: calls the host makes itself (e.g. the first connection status), under the host's name.
        self.rpc_client = PluginRPCClient(self.rpc_calls, config.name)
        self.connection = ConnectionState(self.intake, self.rpc_client.rpc, log)
        self._wait_for_broker()
        self.scheduler = SchedulerThread(log)
        self.scheduler.start()
        self._shared = SharedInfrastructure(
            self.intake, self.publisher, self.rpc_router, self.rpc_calls, self.connection, config.mailbox_size,
            sentry=self.sentry_enabled, limits=Limits.of(config), scheduler=self.scheduler,
        )

        for candidate in self._candidates:
            if self._stop_requested.is_set():
                raise StartInterrupted("stop requested during start")
            self._start_plugin(candidate)
        for plugin in self.plugins.values():  # the child processes started side by side
            if plugin.process is not None and plugin.state is PluginState.STARTING and not plugin.process.started():
                if plugin.process.config_error is not None:  # a wrong setting stops the host, as in a thread
                    raise ConfigError(plugin.process.config_error)
                log.error("plugin %s failed: %s", plugin.name, plugin.reason)
        failed = [plugin for plugin in self.plugins.values() if plugin.state is PluginState.FAILED]
        if failed and self.strict:
            raise PluginLoadError(failed[0].name, failed[0].reason)

        self.health = HealthResponder(
            config.name, __version__, lambda: list(self.plugins.values()),
            self.health_checks, self.health_metrics,
            self.publisher, log, config.health_timeout, host_pong=config.host_pong, limits=Limits.of(config),
        )
        self.health.start()
        self.intake.add("healthz", self.health.route)
        if self.http is not None:
            self.http.start()
        self._start_watchdog()
        self.rpc_router.warn_unfiltered()  # every plugin has registered its handlers and filters by now
        for plugin in self.plugins.values():
            if plugin.state is PluginState.RUNNING:
                announce_backend(plugin)
            self._report(plugin.describe())
        running = sum(plugin.state is PluginState.RUNNING for plugin in self.plugins.values())
        release_free_memory()  # what start-up freed goes back to the OS, not kept in RSS
        self._report(f"ready: {running} running, {len(failed)} failed")

    def _check_names(self) -> None:
        """Every plugin's standard settings and NAME, checked before any plugin code runs (raises
        :class:`ConfigError`): a wrong one stops the host before any plugin starts or migrates."""
        for candidate in self._candidates:
            table = self.config.plugins.get(candidate.name, {})
            standard = resolve_standard(candidate.name, candidate.version, table, self.config)
            self._claim_name(candidate.name, standard.NAME)

    def _wait_for_broker(self) -> None:
        """The broker connection check, before any plugin starts: says at once what it waits for and where,
        and every :data:`_BROKER_PROGRESS_EVERY` seconds that it still does."""
        config = self.config
        assert self.intake is not None and self.publisher is not None
        where = f"XSUB {config.broker_sub}, XPUB {config.broker_pub}"
        if config.broker == "external":
            log.info("waiting for the broker (%s), up to %g s", where, config.connect_timeout)

        def progress(waited: float) -> None:
            log.warning("still waiting for the broker (%s): %.0f s of %g s; is it running?", where, waited,
                        config.connect_timeout)

        took = wait_for_connection(self.intake, self.publisher, config.name, config.connect_timeout,
                                   self._stop_requested, progress=progress, progress_every=_BROKER_PROGRESS_EVERY)
        log.debug("broker connection check took %.1f ms", took * 1000)

    def _start_watchdog(self) -> None:
        assert self.intake is not None and self.health is not None and self.connection is not None
        assert self.scheduler is not None
        # Each round also looks at the plugins' states, so that their alerts follow a change whether or not
        # anyone pings the host (the checks it makes are what a pong would carry).
        self.watchdog = Watchdog(self.config.watchdog_timeout, log, on_change=self._alert_thread,
                                 on_fatal=lambda reason: self.request_stop(EXIT_SOFTWARE),
                                 every_round=self.health_checks)
        intake, connection, health, scheduler = self.intake, self.connection, self.health, self.scheduler
        # (A stuck or dead intake cannot be replaced safely while it lives; a dead one, on new sockets.)
        self.watchdog.watch(intake.heartbeat, lambda: intake.thread, intake.restart)
        self.watchdog.watch(health.heartbeat, lambda: health.thread, health.restart)
        self.watchdog.watch(connection.heartbeat, lambda: connection.ticker, connection.restart_ticker)
        self.watchdog.watch(scheduler.heartbeat, lambda: scheduler.thread, scheduler.restart)
        if (http := self.http) is not None:
            self.watchdog.watch(http.heartbeat, lambda: http.thread, http.restart)
        for plugin in self.plugins.values():
            if (process := plugin.process) is not None:
                self.watchdog.watch(process.heartbeat, lambda process=process: process.supervisor,
                                    process.restart_supervisor)
        self.watchdog.start()

    def _alert_thread(self, thread: str, state: str, reason: str) -> None:
        """Alert ``host_thread`` (source: the thread) on error while dead or stuck, back to ok after."""
        if self.alerts is not None:
            self.alerts.send("host_thread", "state_change", source=thread, status="ok" if state == "ok" else "error",
                             meta={"thread": thread, "state": state, "message": reason})

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
        self._claim_name(plugin.name, plugin_config.NAME)
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
        self._claim_name(plugin.name, name)  # (its standard settings are valid; its child validates the rest)
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
        from .isolation import ChildState, PluginProcess, RestartPolicy  # only for plugins in a child process

        policy = RestartPolicy(config.restart_backoff, config.restart_backoff_max, config.crash_loop_crashes,
                               config.crash_loop_window)

        def on_change(state: ChildState, reason: str) -> None:
            if state is ChildState.RUNNING:
                plugin.state, plugin.reason = PluginState.RUNNING, ""
                self._alert_state(plugin.name, "running", None)
            elif state is ChildState.RESTARTING:
                self._alert_state(plugin.name, "degraded", reason)
            elif state in (ChildState.FAILED, ChildState.QUARANTINED):
                plugin.state = PluginState.FAILED
                plugin.reason = public_text(reason, config.max_health_message_bytes, plugin.stats.limits,
                                            "failure_reason")
                self._alert_state(plugin.name, "failed", reason)
            elif state is ChildState.STOPPED:
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

    def _claim_name(self, plugin: str, name: Any) -> None:
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
        self._alert_state(plugin.name, "failed", reason)
        if plugin.core is not None:
            plugin.core.detach()
        if plugin.worker is not None:
            plugin.worker.mailbox.close()

    # -- health -----------------------------------------------------------------------------------

    def statuses(self) -> list[PluginStatus]:
        """Each plugin's state as health reports it (running may show as degraded)."""
        return [plugin_status(plugin, self.config.stall_after, self.config.max_health_message_bytes)
                for plugin in self.plugins.values()]

    def health_checks(self) -> list[HealthCheck]:
        statuses = self.statuses()
        for status in statuses:
            self._alert_state(status.name, status.state, status.message)
        return host_checks(self.config.name, statuses, self.watchdog)

    def _alert_state(self, plugin: str, state: str, message: str | None) -> None:
        """Alert ``plugin_state`` (source: the plugin) on error while failed or degraded, back to ok after."""
        if self.alerts is None:
            return
        message = public_text(message or "", self.config.max_health_message_bytes)
        meta = {"plugin": plugin, "state": state, "message": message}
        if state in ("failed", "degraded"):
            self.alerts.send("plugin_state", "state_change", source=plugin, status="error", meta=meta)
        elif state == "running" and self._alerted(plugin):
            self.alerts.send("plugin_state", "state_change", source=plugin, status="ok", meta=meta)

    def _alerted(self, plugin: str) -> bool:
        assert self.alerts is not None
        return self.alerts.has_alert("plugin_state", "state_change", source=plugin)

    def health_metrics(self) -> list[HealthMetric]:
        return host_metrics(self.config.name, self.config.compute_id, self.plugins.values(), self.watchdog)

    # -- run ----------------------------------------------------------------------------------------

    def request_stop(self, exit_status: int = 0) -> None:
        """Ask :meth:`wait` to return (safe from signal handlers and other threads); a non-zero
        ``exit_status`` becomes :attr:`exit_status` (the watchdog's 70 when it gives up)."""
        if exit_status:
            self.exit_status = exit_status
        self._stop_requested.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until a stop is requested; returns whether one was."""
        return self._stop_requested.wait(timeout)

    def __enter__(self) -> Host:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- stop ---------------------------------------------------------------------------------------

    def stop(self) -> None:
        """Stop in the documented order; every stage is bounded, so this always returns."""
        if self._stopped:
            return
        self._stopped = True
        started = time.monotonic()
        if self.watchdog is not None:
            self.watchdog.stop()
        if self.http is not None:
            self.http.stop()
        self._stop_processes()
        if self.intake is not None and not self.intake.stop(_INTAKE_STOP_TIMEOUT):
            log.warning("intake did not stop within %.1f s", _INTAKE_STOP_TIMEOUT)
        if self.scheduler is not None and not self.scheduler.stop(_INTAKE_STOP_TIMEOUT):
            log.warning("scheduler thread did not stop within %.1f s", _INTAKE_STOP_TIMEOUT)
        if self.health is not None:
            self.health.stop()
        if self.connection is not None:
            self.connection.close()
        if self.rpc_calls is not None:
            self.rpc_calls.close()
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

        if self.publisher is not None:
            self.publisher.close()
        if self.broker is not None:
            self.broker.stop()
        if self.context is not None:
            self.context.destroy(linger=0)
        log.info("host stopped in %.2f s", time.monotonic() - started)
        if self._sentry_owned:
            sentry.close_sentry()
        remove_secrets(self._secrets)

    def _stop_processes(self) -> None:
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
        return sentry.tagged(plugin.sentry_tags) if self.sentry_enabled else nullcontext()
