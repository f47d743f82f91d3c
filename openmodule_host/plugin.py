"""A hosted plugin: its record (state, stats, core, worker) and how its core is put together."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

import pluggy
from openmodule_hookspecs import utcnow

from .config import PluginConfig
from .connection_status import ConnectionState, ConnectionStatusListener
from .core import HostedCore, PluginMessages
from .health import HookHealth, PluginHealth
from .isolation import Mailbox, Worker
from .loader import PluginCandidate, hookimpl_names
from .rpc import PluginRPCClient, PluginRPCServer, RPCCalls, RPCRouter
from .stats import PluginStats
from .wire import Intake, Publisher

__all__ = ["HostedPlugin", "PluginState", "SharedInfrastructure", "assemble_core"]


class PluginState(StrEnum):
    STARTING = "starting"
    RUNNING = "running"
    FAILED = "failed"
    STOPPED = "stopped"


@dataclass
class HostedPlugin:
    """The host's record of one plugin."""

    candidate: PluginCandidate
    state: PluginState = PluginState.STARTING
    reason: str = ""
    #: a required plugin that is not running makes the host unhealthy (``REQUIRED = false`` in its table).
    required: bool = True
    stats: PluginStats = field(default_factory=PluginStats)
    started_at: datetime = field(default_factory=utcnow)
    manager: pluggy.PluginManager | None = None
    core: HostedCore | None = None
    worker: Worker | None = None
    hook_health: HookHealth | None = None

    @property
    def name(self) -> str:
        return self.candidate.name

    @property
    def topics(self) -> list[str]:
        return self.core.messages.topics if self.core is not None else []

    @property
    def hookimpls(self) -> list[str]:
        return hookimpl_names(self.manager) if self.manager is not None else []

    def describe(self) -> str:
        """The start-up line: name, version, state, topics (or the reason it failed)."""
        line = f"plugin {self.name} {self.candidate.version} {self.state}"
        if self.core is not None and self.core.name != self.name:
            line += f" NAME={self.core.name}"
        if self.state is PluginState.FAILED:
            return f"{line}: {self.reason}"
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


def assemble_core(plugin: HostedPlugin, config: PluginConfig, shared: SharedInfrastructure) -> HostedCore:
    """Give the plugin its logger, mailbox, worker (not started) and scoped core."""
    name = plugin.name
    log = logging.getLogger(name)
    log.setLevel(config.LOG_LEVEL)
    mailbox = Mailbox(name, shared.mailbox_size, log)
    plugin.worker = Worker(mailbox, log)
    messages = PluginMessages(name, config.NAME, shared.intake, mailbox, plugin.stats, log)
    rpc_server = PluginRPCServer(
        name, config.NAME, config.RESOURCE, shared.rpc_router, shared.publisher, mailbox, plugin.stats, log
    )
    rpc_client = PluginRPCClient(shared.rpc_calls, config.NAME)
    health = PluginHealth(config.NAME, config.COMPUTE_ID, strict=config.DEBUG or config.TESTING, log=log,
                          parent=config.PARENT or None)
    connection_listener = ConnectionStatusListener(shared.connection, mailbox, log)
    plugin.core = HostedCore(
        name, config, log, messages, rpc_server, rpc_client, health, connection_listener, shared.publisher
    )
    if plugin.manager is not None and "health" in plugin.hookimpls:
        manager, core = plugin.manager, plugin.core
        plugin.hook_health = HookHealth(name, lambda: manager.hook.health(core=core))
    return plugin.core
