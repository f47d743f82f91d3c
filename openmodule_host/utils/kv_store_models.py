"""The wire models of openmodule's KV store sync (wire-protocol.md 5.4 and 5.15): ``kv_sync`` ``set`` and ``sync``
(sent by the cloud through the bridge) and the ``rpc-websocket``/``server_rpc`` request that asks the cloud to
sync a store."""

from __future__ import annotations

from typing import Any

from openmodule_hookspecs import OpenModuleModel

__all__ = [
    "KVSetRequest",
    "KVSetRequestKV",
    "KVSetResponse",
    "KVSetResponseKV",
    "KVSyncRequest",
    "KVSyncResponse",
    "ServerRPCRequest",
    "ServerSyncResponse",
]


class KVSetRequestKV(OpenModuleModel):
    """One key to set: ``value`` is a JSON document as a string, ``"null"`` deletes the key; ``previous_e_tag``
    must be the key's current e-tag (absent for a new key)."""

    key: str
    value: str = "null"
    e_tag: int | None = None
    previous_e_tag: int | None = None


class KVSetRequest(OpenModuleModel):
    """``kv_sync``/``set``: the keys of the store named ``service``, applied all or none."""

    service: str
    kvs: list[KVSetRequestKV]


class KVSetResponseKV(OpenModuleModel):
    """A per-key result (declared by openmodule, not sent by its stores)."""

    key: str
    status: str = "error"
    error: str | None = None


class KVSetResponse(OpenModuleModel):
    """``kv_sync``/``set``'s answer: empty (``{"status": "ok"}`` on the wire)."""


class KVSyncRequest(OpenModuleModel):
    """``kv_sync``/``sync``: the cloud's key to e-tag map of the store named ``service``."""

    service: str
    kvs: dict[str, int | None]


class KVSyncResponse(OpenModuleModel):
    """How the store differs from the cloud's map: ``additions`` (keys only the device has, with its e-tags),
    ``changes`` (keys whose e-tags differ, with the device's), ``missing`` (keys the device lacks, with the
    cloud's)."""

    additions: dict[str, int | None]
    changes: dict[str, int | None]
    missing: dict[str, int | None]


class ServerRPCRequest(OpenModuleModel):
    """``rpc-websocket``/``server_rpc``: an RPC of the cloud, called through the bridge (``rpc="kvs_sync"``
    with ``data={"resource", "service", "timeout"}`` asks it to sync a store)."""

    rpc: str
    data: Any = None


class ServerSyncResponse(OpenModuleModel):
    """``server_rpc``'s answer to ``kvs_sync``: empty."""
