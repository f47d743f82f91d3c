"""The host: builds the shared infrastructure, has the plugins started on it, and stops in a bounded order.

Starting and stopping the plugins themselves is :mod:`.lifecycle`'s job; this module builds and tears down
what they share, and decides when each step happens.

Start order:
  1. the checks that need no plugin code: the ``--http`` address is bound (served from step 5 on), every
     plugin's standard settings and NAME are checked; a failure stops the host before any plugin starts;
  2. the embedded broker (``broker = "embedded"``) on a ZeroMQ context of its own; the host's threads placed
     on their CPU (see :mod:`.placement`); the host's ZeroMQ context, the shared publisher and the single
     intake; the broker connection check (``__ping_``; with an external broker it says at once what it waits
     for and where, and every 5 s that it still does);
  3. each plugin in load order (sorted by name): import and check against the contract, validate its
     config, run its migrations, start its worker, call ``register_handlers(core)`` on that worker (each
     bounded by ``start_timeout``; the import and the ``config_model``/``database_migrations`` hooks run on a
     daemon thread, see :mod:`.isolation.bounded`). A plugin that fails is marked failed with the reason;
     the rest go on (``strict`` makes any failure fatal);
  4. the watchdog over the host's own threads (see :mod:`.watchdog`);
  5. the HTTP endpoint; a warning for each RPC several plugins would all answer
     (:meth:`.RPCRouter.warn_unfiltered`), then one line per plugin, and ``ready`` once the intake thread has
     passed every subscription of the start on to its SUB socket.
A stop requested during start (SIGTERM) ends the start at the next wait (the broker check, an import, a
hook, a migration, whose process is killed): the host stops and is not ready.

Stop order (each stage bounded; the sum is the stop deadline, :func:`stop_bound`):
  1. stop the watchdog and the HTTP endpoint;                         <= 2 s each
  2. stop the plugins' child processes, all at once;                  <= drain + shutdown timeouts + 5 s,
                                                                         then 1 s for its supervisor
  3. stop the intake (no new messages), the scheduler thread (no new job runs)
     and the health thread;                                           <= 2 s each
  4. release the RPC channels, stop their sweeper;                    <= 1 s
  5. drain the mailboxes: queued messages are still handled;          <= drain_timeout (total)
  6. ``shutdown(core)`` in reverse load order on each plugin's worker; <= shutdown_timeout per plugin
     (a legacy backend's ``unregister`` on topic ``backend`` first)
  7. close mailboxes, join workers;                                   <= 0.2 s per plugin
  8. close the publisher and the embedded broker;                     <= 1 s
  9. send what sentry still has queued (when the host turned it on).  <= 2 s
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import zmq
from openmodule_hookspecs import AlertMessage, HealthCheck, HealthMetric

from .alerts import PluginAlerts
from .config import HostConfig
from .connection_status import ConnectionState
from .core import message_body
from .database import (
    DatabaseTarget,
    normalise_url,
)
from .errors import ConfigError, PluginLoadError, StartInterrupted
from .health import HealthResponder, PluginStatus, host_checks, host_metrics, plugin_status
from .isolation import CPUTurns
from .legacy import announce_backend
from .lifecycle import PluginLifecycle
from .limits import Limits, public_text
from .loader import PluginCandidate
from .masking import add_secrets, remove_secrets, secrets_of_settings, secrets_of_url
from .memory import release_free_memory
from .observability import sentry
from .placement import ThreadPlacement
from .plugin import HostedPlugin, PluginState, SharedInfrastructure
from .privacy import copy_dsgvo_files
from .rpc import PluginRPCClient, RPCCalls, RPCRouter
from .scheduling import SchedulerThread
from .version import __version__
from .watchdog import EXIT_SOFTWARE, Watchdog
from .wire import Broker, Intake, Publisher, wait_for_connection

if TYPE_CHECKING:
    from .isolation import PluginProcess
    from .observability.http import HTTPEndpoint

__all__ = ["Host", "stop_bound"]

log = logging.getLogger("openmodule_host")

#: the longest the stop waits for each of the intake, the scheduler and the health thread.
_THREAD_STOP_TIMEOUT = 2.0
#: the longest the stop waits for the embedded broker's thread (told to end, it ends at once).
_BROKER_STOP_TIMEOUT = 1.0
#: seconds between the "still waiting for the broker" lines at start.
_BROKER_PROGRESS_EVERY = 5.0


def _stdout(line: str) -> None:
    print(line, file=sys.stdout, flush=True)


def stop_bound(config: HostConfig, plugins: int, *, children: bool = False, sentry_on: bool = False) -> float:
    """The longest :meth:`Host.stop` can take, in seconds: the sum of the bounds of its stages (the figure
    docs/operations.md, "Stopping", gives for a supervisor's stop grace period), for ``plugins`` plugins on
    threads, with or without plugins in child processes (stopped all at once) and sentry. With an external
    broker it takes at most ``_BROKER_STOP_TIMEOUT`` less; a legacy backend's ``unregister`` may add its
    ``publish_wait``."""
    from .isolation.process import SUPERVISOR_STOP_TIMEOUT
    from .lifecycle import CHILD_STOP_MARGIN, WORKER_JOIN_TIMEOUT
    from .observability.http_server import STOP_TIMEOUT as HTTP_STOP_TIMEOUT
    from .observability.sentry import SHUTDOWN_TIMEOUT as SENTRY_SHUTDOWN_TIMEOUT
    from .rpc.client import SWEEPER_STOP_TIMEOUT
    from .watchdog import STOP_TIMEOUT as WATCHDOG_STOP_TIMEOUT

    bound = WATCHDOG_STOP_TIMEOUT + HTTP_STOP_TIMEOUT
    if children:  # each killed after its drain, shutdown and margin; then its supervisor reads its last report
        bound += config.drain_timeout + config.shutdown_timeout + CHILD_STOP_MARGIN + SUPERVISOR_STOP_TIMEOUT
    bound += 3 * _THREAD_STOP_TIMEOUT  # the intake, the scheduler, the health thread
    bound += SWEEPER_STOP_TIMEOUT  # the RPC client's channel sweeper
    bound += config.drain_timeout + plugins * (config.shutdown_timeout + WORKER_JOIN_TIMEOUT)
    bound += _BROKER_STOP_TIMEOUT
    return bound + (SENTRY_SHUTDOWN_TIMEOUT if sentry_on else 0.0)


def _supervisor_of(process: PluginProcess) -> Callable[[], threading.Thread | None]:
    """What the watchdog watches for a child process: its supervisor thread, whichever is current."""
    return lambda: process.supervisor


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
        self.context: zmq.Context[zmq.Socket[bytes]] | None = None
        self._broker_context: zmq.Context[zmq.Socket[bytes]] | None = None
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
        #: when the plugins' workers give their CPU up for a moment (see :mod:`.isolation.turns`).
        self.turns: CPUTurns | None = None
        self.http: HTTPEndpoint | None = None
        #: the host's own alerts (a plugin failed, or is degraded), sent under the host's name.
        self.alerts: PluginAlerts | None = None
        #: one look at the plugins' states and its ``plugin_state`` alerts at a time (the watchdog's round, a
        #: ping's answer, a child's supervisor): an older look never alerts after a newer one.
        self._state_alerts = threading.RLock()
        self._shared: SharedInfrastructure | None = None
        self._databases = dict(databases or {})
        try:
            #: keeps the host's Python threads together on one CPU (``cpu_placement``, see :mod:`.placement`).
            self.placement = ThreadPlacement(config.cpu_placement, log)
        except ValueError as error:
            raise ConfigError(f"[host] {error}") from None
        #: starts the plugins on the infrastructure built here, and stops them (see :mod:`.lifecycle`).
        self.lifecycle = PluginLifecycle(
            config, candidates, self._stop_requested, self._alert_state,
            database_url=normalise_url(config.database_url) if config.database_url else None,
            databases=self._databases, child_cpu_placement=self.placement.child_setting,
        )
        #: every plugin by name, in load order (the lifecycle's record).
        self.plugins: dict[str, HostedPlugin] = self.lifecycle.plugins
        #: the DATABASE_URL password, the sentry key and the prepared targets' passwords: masked in every
        #: reason, message and log line.
        self._secrets = secrets_of_settings(
            config.database_url, config.sentry_dsn.get_secret_value() if config.sentry_dsn else None)
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
        finally:
            self.placement.release()  # the calling thread is the embedding program's

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
        self.lifecycle.check_names()
        if config.broker == "embedded":
            # Its own context, made before the placement: the broker forwards every service's traffic, in C, on
            # threads that stay where the kernel puts them (see .placement).
            self._broker_context = zmq.Context()
            self.broker = Broker(self._broker_context, config.broker_sub, config.broker_pub)
            self.broker.start()
            log.info("embedded broker on %s (XSUB) / %s (XPUB)", config.broker_sub, config.broker_pub)
        # From here on, every thread the host starts (and every thread those start) begins on the host's CPU: the
        # I/O thread libzmq starts with the first socket of the host's context too (see .placement).
        self.placement.place()
        self.context = zmq.Context()
        self.publisher = Publisher(self.context, config.broker_sub)
        self.placement.adopt_io_threads()  # (the context's first socket started them)
        publisher = self.publisher

        def publish(message: AlertMessage, topic: str) -> None:
            publisher.send(topic, message_body(message, config.name))

        self.alerts = PluginAlerts(config.name, __version__, publish, log, meta_bytes=config.max_alert_meta_bytes)
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
        self.turns = CPUTurns(self.publisher, lambda: self.placement.io_batched)
        self._shared = SharedInfrastructure(
            self.intake, self.publisher, self.rpc_router, self.rpc_calls, self.connection, config.mailbox_size,
            sentry=self.sentry_enabled, limits=Limits.of(config), scheduler=self.scheduler,
            turns=self.turns,
        )

        failed = self.lifecycle.start_all(self._shared, sentry_enabled=self.sentry_enabled)
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
        # Every subscription made during start (the plugins' topics, healthz last) is on the intake's SUB socket,
        # on its way to the broker, before `ready`: a ping sent once the host is ready is not lost to one
        # the intake thread has not applied yet.
        self.intake.wait_subscribed()
        release_free_memory()  # what start-up freed goes back to the OS, not kept in RSS
        self._report(f"ready: {running} running, {len(failed)} failed")

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
        # Each round also looks at the plugins' states and the threads' CPU (see _watchdog_round).
        self.watchdog = Watchdog(self.config.watchdog_timeout, log, on_change=self._alert_thread,
                                 on_fatal=lambda reason: self.request_stop(EXIT_SOFTWARE),
                                 every_round=self._watchdog_round)
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
                self.watchdog.watch(process.heartbeat, _supervisor_of(process), process.restart_supervisor)
        self.watchdog.start()

    def _watchdog_round(self) -> None:
        """What the watchdog's thread does each round besides watching: a look at the plugins' states (their alerts
        follow a change whether or not anyone pings the host; the checks it makes are what a pong would carry), and
        at the threads' CPU (every few seconds)."""
        try:
            self.health_checks()
        finally:  # (one failing does not keep the other from its round; the watchdog counts what was raised)
            self.placement.review()

    def _alert_thread(self, thread: str, state: str, reason: str) -> None:
        """Alert ``host_thread`` (source: the thread) on error while dead or stuck, back to ok after."""
        if self.alerts is not None:
            self.alerts.send("host_thread", "state_change", source=thread, status="ok" if state == "ok" else "error",
                             meta={"thread": thread, "state": state, "message": reason})

    # -- health -----------------------------------------------------------------------------------

    def statuses(self) -> list[PluginStatus]:
        """Each plugin's state as health reports it (running may show as degraded)."""
        return [plugin_status(plugin, self.config.stall_after, self.config.max_health_message_bytes)
                for plugin in self.plugins.values()]

    def health_checks(self) -> list[HealthCheck]:
        """The checks a pong carries; the ``plugin_state`` alerts follow the states looked at (each watchdog
        round calls this too, so they follow whether or not anyone pings)."""
        with self._state_alerts:
            statuses = self.statuses()
            for status in statuses:
                self._alert_state(status.name, status.state, status.message)
        return host_checks(self.config.name, statuses, self.watchdog)

    def _alert_state(self, plugin: str, state: PluginState, message: str | None) -> None:
        """Alert ``plugin_state`` (source: the plugin) on error while failed or degraded, back to ok after. Not
        in a plugin's child process (``host_pong`` false): its parent alerts with the state the child reports,
        and one change must not alert twice, under two names."""
        if self.alerts is None or not self.config.host_pong:
            return
        message = public_text(message or "", self.config.max_health_message_bytes)
        meta = {"plugin": plugin, "state": state, "message": message}
        with self._state_alerts:  # (sent only when the status differs from the last one sent: once per change)
            if state in (PluginState.FAILED, PluginState.DEGRADED):
                self.alerts.send("plugin_state", "state_change", source=plugin, status="error", meta=meta)
            elif state is PluginState.RUNNING and self._alerted(plugin):
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

    def _close_context(self, context: zmq.Context[zmq.Socket[bytes]]) -> None:
        """Close every socket and end the context, unless a thread that still runs uses some of them: libzmq's
        sockets are not thread-safe, and closing one under a thread that reads it (with the GIL released) can
        crash the process. Such a context is left to the process's exit, and said so."""
        if self.intake is not None and self.intake.thread.is_alive():
            log.warning("ZeroMQ context left open: the intake thread still uses its sockets")
            return
        context.destroy(linger=0)

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
        self.lifecycle.stop_processes()
        if self.intake is not None and not self.intake.stop(_THREAD_STOP_TIMEOUT):
            log.warning("intake did not stop within %.1f s", _THREAD_STOP_TIMEOUT)
        if self.scheduler is not None and not self.scheduler.stop(_THREAD_STOP_TIMEOUT):
            log.warning("scheduler thread did not stop within %.1f s", _THREAD_STOP_TIMEOUT)
        if self.health is not None:
            self.health.stop(_THREAD_STOP_TIMEOUT)
        if self.connection is not None:
            self.connection.close()
        if self.rpc_calls is not None:
            self.rpc_calls.close()
        self.lifecycle.stop_in_thread_plugins()

        if self.publisher is not None:
            self.publisher.close()
        if self.context is not None:
            self._close_context(self.context)
        if self.broker is not None:
            assert self._broker_context is not None
            if self.broker.stop(_BROKER_STOP_TIMEOUT):
                self._broker_context.destroy(linger=0)
            else:  # its thread may still use its sockets: left to the process's exit
                log.warning("broker did not stop within %.1f s; its ZeroMQ context left open", _BROKER_STOP_TIMEOUT)
        self.placement.close()
        log.info("host stopped in %.2f s", time.monotonic() - started)
        if self._sentry_owned:
            sentry.close_sentry()
        remove_secrets(self._secrets)
