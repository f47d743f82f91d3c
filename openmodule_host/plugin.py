"""A hosted plugin: its record (state, stats, core, worker) and how its core is put together."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

import pluggy
from openmodule_hookspecs import utcnow

from .budget import PublishBudget
from .compat import plugin_context
from .config import PluginConfig
from .connection_status import ConnectionState, ConnectionStatusListener
from .core import HostedCore, PluginMessages
from .database import DatabaseTarget, PluginDatabase
from .health import HookHealth, PluginHealth
from .isolation import CPUTurns, Mailbox, Worker
from .limits import Limits
from .loader import PluginCandidate, hookimpl_names
from .observability import sentry
from .rpc import PluginRPCClient, PluginRPCServer, RPCCalls, RPCRouter
from .scheduling import PluginScheduler, SchedulerThread
from .states import PluginState
from .stats import PluginStats
from .throttle import KeyedLogThrottle
from .wire import Intake, Publisher

if TYPE_CHECKING:
    from .isolation import PluginProcess

__all__ = ["HostedPlugin", "PluginState", "SharedInfrastructure", "assemble_core"]


@dataclass
class HostedPlugin:
    """The host's record of one plugin."""

    candidate: PluginCandidate
    state: PluginState = PluginState.STARTING
    reason: str = ""
    #: a required plugin that is not running makes the host unhealthy (``REQUIRED = false`` in its table).
    required: bool = True
    stats: PluginStats = field(default_factory=PluginStats)
    #: its error lines per message: one per (plugin, topic or RPC, reason) per 5 s (see ``throttle``).
    log_throttle: KeyedLogThrottle = field(default_factory=KeyedLogThrottle)
    started_at: datetime = field(default_factory=utcnow)
    manager: pluggy.PluginManager | None = None
    core: HostedCore | None = None
    worker: Worker | None = None
    hook_health: HookHealth | None = None
    #: how fast it may publish (a plugin in a child process has its budget there).
    budget: PublishBudget | None = None
    #: set for a plugin that runs in a child process of its own (``ISOLATION = "process"``) ...
    process: PluginProcess | None = None
    #: ... and its NAME there (in this process it has no core).
    process_name: str = ""
    #: it serves the legacy ``backend``/``auth``: it registers on topic ``backend`` (see ``legacy``).
    legacy_backend: bool = False

    @property
    def name(self) -> str:
        return self.candidate.name

    @property
    def topics(self) -> list[str]:
        return self.core.messages.topics if self.core is not None else []

    @property
    def hookimpls(self) -> list[str]:
        return hookimpl_names(self.manager) if self.manager is not None else []

    @property
    def sentry_tags(self) -> dict[str, str]:
        """The tags of the sentry events this plugin causes (its NAME is known once its core is built)."""
        if self.core is None:
            return {"plugin": self.name, "plugin_version": self.candidate.version}
        return sentry.plugin_tags(self.name, self.core.config.VERSION, self.core.name)

    def describe(self) -> str:
        """The start-up line: name, version, state, topics (or the reason it failed)."""
        line = f"plugin {self.name} {self.candidate.version} {self.state}"
        if self.candidate.instance_of:
            line += f" instance_of={self.candidate.instance_of}"
        service_name = self.core.name if self.core is not None else self.process_name
        if service_name and service_name != self.name:
            line += f" NAME={service_name}"
        if self.state is PluginState.FAILED:
            return f"{line}: {self.reason}"
        if self.process is not None:
            return f"{line} in process {self.process.pid}"
        return f"{line} topics={','.join(self.topics) or '-'}"


@dataclass
class SharedInfrastructure:
    """What every plugin's core is built over: one of each per host."""

    intake: Intake
    publisher: Publisher
    rpc_router: RPCRouter
    rpc_calls: RPCCalls
    connection: ConnectionState
    mailbox_size: int
    #: sentry is on for this host: plugins get their sentry scope, and trace messages and RPCs.
    sentry: bool = False
    #: the bounds on what a plugin makes the host send (docs/operations.md, "Limits").
    limits: Limits = field(default_factory=Limits)
    #: queues the plugins' due jobs to their mailboxes (None: jobs run only when the plugin calls run_pending).
    scheduler: SchedulerThread | None = None
    #: when the plugins' workers give their CPU up for a moment (None: never; see :mod:`.isolation.turns`).
    turns: CPUTurns | None = None


def assemble_core(
    plugin: HostedPlugin, config: PluginConfig, shared: SharedInfrastructure, database: DatabaseTarget,
    database_prepared: bool = False,
) -> HostedCore:
    """Give the plugin its logger, mailbox, worker (not started) and scoped core."""
    name = plugin.name
    log = logging.getLogger(name)
    log.setLevel(config.LOG_LEVEL)
    mailbox = Mailbox(name, shared.mailbox_size, log)
    budget = plugin.budget = PublishBudget(name, config.PUBLISH_RATE, config.PUBLISH_BURST, config.PUBLISH_WAIT, log)
    tracing = shared.sentry
    tags = sentry.plugin_tags(name, config.VERSION, config.NAME)

    @contextmanager
    def on_worker() -> Iterator[None]:
        """The worker's thread: bound to the core (``compat.core()``), in the plugin's sentry scope if traced."""
        assert plugin.core is not None  # assembled before the worker starts
        with plugin_context(plugin.core), sentry.plugin_scope(tags) if tracing else nullcontext():
            yield

    plugin.worker = Worker(mailbox, log, on_worker, shared.turns)
    messages = PluginMessages(name, config.NAME, shared.intake, mailbox, plugin.stats, log, tracing=tracing,
                              throttle=plugin.log_throttle)
    rpc_server = PluginRPCServer(
        name, config.NAME, config.RESOURCE, shared.rpc_router, shared.publisher, mailbox, plugin.stats, log,
        tracing=tracing, limits=shared.limits, throttle=plugin.log_throttle, budget=budget,
    )
    rpc_client = PluginRPCClient(shared.rpc_calls, config.NAME, tracing=tracing, budget=budget,
                                 hits=plugin.stats.limits)
    health = PluginHealth(config.NAME, config.COMPUTE_ID, strict=config.DEBUG or config.TESTING, log=log,
                          parent=config.PARENT or None, limits=shared.limits, hits=plugin.stats.limits)
    connection_listener = ConnectionStatusListener(shared.connection, mailbox, log)
    scheduler = PluginScheduler(name, config.TIMEZONE, mailbox, plugin.stats, log, throttle=plugin.log_throttle,
                                thread=shared.scheduler)
    plugin.core = HostedCore(
        name, config, log, messages, rpc_server, rpc_client, health, connection_listener,
        PluginDatabase(database, prepared=database_prepared), shared.publisher, tracing=tracing,
        limits=shared.limits, stats=plugin.stats, budget=budget, scheduler=scheduler,
    )
    if plugin.manager is not None and "health" in plugin.hookimpls:
        manager, core = plugin.manager, plugin.core

        def call_health() -> object:
            with plugin_context(core):
                return manager.hook.health(core=core)

        # the health hook runs on a thread of its own, not on the worker: tag what it reports there
        plugin.hook_health = HookHealth(name, sentry.with_tags(tags, call_health) if tracing else call_health,
                                        message_bytes=shared.limits.health_message_bytes, hits=plugin.stats.limits)
    return plugin.core
