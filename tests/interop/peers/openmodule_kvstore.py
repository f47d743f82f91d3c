"""The openmodule 18.5.0 service of ``openmodule_service.py`` plus openmodule's KV store. Run ONLY with the
interpreter of ``.venv-openmodule`` (openmodule is GPLv2: nothing in the project or the test process imports it).

Extra commands (stdin) and their events (stdout), besides those of ``openmodule_service.py``::

    {"cmd": "kv_store", "folder": "<DATABASE_FOLDER>", "alembic": "<database folder>", "sync_timeout": 30}
        -> {"event": "kv_store_ready", "service": NAME}
    {"cmd": "kv_rows"}  -> {"event": "kv_rows", "rows": {key: [e_tag, plate]}}
    {"cmd": "cloud_bridge"}  -> {"event": "rpc_server_ready", ...}; then for each request it serves
        {"event": "server_rpc", "request": <openmodule's ServerRPCRequest, dumped>}

``kv_store`` opens ``Database(folder, NAME, alembic_path=alembic)`` (migrated as every openmodule service's) and
runs a ``KVStoreHandler`` with one store on the table ``whitelist`` (``tests/kv_plugins.py``'s ``Whitelist``,
written with openmodule's ``KVEntry``): ``register_rpcs`` on an ``RPCServer`` of its own and ``run_as_thread``.
It answers once that server answered a ``kv_sync``/``sync`` of its own client through the broker and the
connection listener has its first status (``shutdown``: nobody answers ``connection``/``status`` here). Set
``TESTING=1`` in the environment for openmodule's sync without a random delay.

``cloud_bridge`` serves ``rpc-websocket``/``server_rpc`` with openmodule's ``ServerRPCRequest`` and
``ServerSyncResponse``, as the bridge would, and reports each request. The ``rpc`` command also knows openmodule's
``KVSetRequest``, ``KVSetResponse``, ``KVSyncRequest``, ``KVSyncResponse`` and ``ServerSyncResponse``.
"""

from __future__ import annotations

import sys
import time
from typing import Any

import openmodule_service as service
from openmodule.config import settings
from openmodule.core import core
from openmodule.database.database import Database
from openmodule.models.kv_store import KVSetRequest, KVSetResponse, KVSyncRequest, KVSyncResponse, ServerSyncResponse
from openmodule.models.rpc import ServerRPCRequest
from openmodule.rpc import RPCClient, RPCServer
from openmodule.utils.kv_store import KVEntry, KVStore, KVStoreHandler
from sqlalchemy import String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

READY_TIMEOUT = 10.0


class Base(DeclarativeBase):
    pass


class Whitelist(Base, KVEntry):
    __tablename__ = "whitelist"
    plate: Mapped[str] = mapped_column(String, nullable=False)

    @classmethod
    def parse_value(cls, value: Any) -> list[Any]:
        plate = value.get("plate") if isinstance(value, dict) else None
        if not isinstance(plate, str):
            raise ValueError(f"a value needs a plate, got {value!r}")
        return [cls(plate=plate)]


class WhitelistStore(KVStore):
    database_table = Whitelist


state: dict[str, Any] = {}


def cmd_kv_store(command: dict[str, Any]) -> None:
    database = state["database"] = Database(command["folder"], settings.NAME, alembic_path=command["alembic"])
    handler = state["handler"] = KVStoreHandler(database, core().rpc_client, WhitelistStore,
                                                sync_timeout=command.get("sync_timeout", 30.0))
    server = RPCServer(core().context)
    handler.register_rpcs(server)
    server.run_as_thread()
    service.rpc_servers.append(server)
    deadline = time.monotonic() + READY_TIMEOUT
    while True:  # an answer of its own server proves the server's subscription is through the broker
        try:
            core().rpc_client.rpc("kv_sync", "sync", KVSyncRequest(service=settings.NAME, kvs={}), KVSyncResponse,
                                  timeout=0.2)
            break
        except RPCClient.TimeoutError:
            if time.monotonic() > deadline:
                raise
    # openmodule asks om_rpc_client for the first connection status (3 s timeout, nobody answers in the tests)
    # and sets "shutdown" when that fails even if an "online" message came meanwhile: settle it before the test
    # announces a status.
    core().connection_listener.get()
    handler.run_as_thread()
    service.emit("kv_store_ready", service=settings.NAME)


def cmd_kv_rows(_command: dict[str, Any]) -> None:
    with state["database"]() as session:
        rows = {row.key: [row.e_tag, row.plate] for row in session.query(Whitelist).all()}
    service.emit("kv_rows", rows=rows)


def cmd_cloud_bridge(_command: dict[str, Any]) -> None:
    def server_rpc(request: ServerRPCRequest, _message: Any) -> ServerSyncResponse:
        service.emit("server_rpc", request=request.model_dump(mode="json"))
        return ServerSyncResponse()

    server = RPCServer(core().context)
    server.register_handler("rpc-websocket", "server_rpc", ServerRPCRequest, ServerSyncResponse, server_rpc)
    server.register_handler("rpc-websocket", service.PROBE_TYPE, service.Empty, service.Empty,
                            lambda _request, _message: service.Empty())
    server.run_as_thread()
    service.rpc_servers.append(server)
    service._wait_until_served("rpc-websocket")
    service.emit("rpc_server_ready", channel="rpc-websocket", type="server_rpc", name=server.name,
                 resource=server.resource)


def cmd_exit(command: dict[str, Any]) -> None:
    """Stop the KV store (its thread and database) before the service stops openmodule."""
    if "handler" in state:
        state["handler"].shutdown()
    if "database" in state:
        state["database"].shutdown()
    service.cmd_exit(command)


service.COMMANDS.update({"kv_store": cmd_kv_store, "kv_rows": cmd_kv_rows, "cloud_bridge": cmd_cloud_bridge,
                         "exit": cmd_exit})
service.RPC_MODELS.update({model.__name__: model for model in (KVSetRequest, KVSetResponse, KVSyncRequest,
                                                                KVSyncResponse, ServerSyncResponse)})


if __name__ == "__main__":
    sys.exit(service.main())
