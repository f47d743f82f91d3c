"""The host's core satisfies the plugin contract: mypy checks these assignments (``tests/test_typing.py``).

Never run, only type-checked: each assignment fails the check when the host's implementation of a part
(a name, a parameter's name or type, a return type) drifts from its Protocol in ``openmodule_hookspecs``.
"""

from __future__ import annotations

from openmodule_hookspecs import (
    Alerts,
    ConnectionListener,
    Database,
    Health,
    Messages,
    PluginConfig,
    PluginCore,
    RPCClient,
    RPCEntry,
    RPCServer,
    Scheduler,
    Subscription,
)

from openmodule_host import HostedCore
from openmodule_host.rpc import RPCCall
from openmodule_host.wire import Listener


def the_core(core: HostedCore) -> PluginCore:
    return core


def its_parts(core: HostedCore) -> None:
    config: PluginConfig = core.config
    messages: Messages = core.messages
    rpc_server: RPCServer = core.rpc_server
    rpc_client: RPCClient = core.rpc_client
    health: Health = core.health
    alerts: Alerts = core.alerts
    connection_listener: ConnectionListener = core.connection_listener
    database: Database = core.database
    scheduler: Scheduler = core.scheduler
    del config, messages, rpc_server, rpc_client, health, alerts, connection_listener, database, scheduler


def what_they_return(call: RPCCall, listener: Listener) -> tuple[RPCEntry, Subscription]:
    return call, listener
