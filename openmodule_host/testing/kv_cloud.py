"""A stand-in for the cloud side of openmodule's KV store sync, on a :class:`TestClient`.

The cloud keeps each service's keys (a JSON value and an e-tag per key). When a device asks it to sync a store
(``rpc-websocket``/``server_rpc`` with ``rpc="kvs_sync"``, what the bridge forwards), it compares with the device
(``kv_sync``/``sync``), sends what differs in one ``kv_sync``/``set`` (new and changed keys with their values,
``"null"`` for keys it no longer has, each with the device's e-tag as ``previous_e_tag``) and then answers the
``server_rpc``. It runs on the test's thread: the test calls :meth:`KVSyncCloud.serve_sync_request` to serve
the next request.
"""

from __future__ import annotations

import itertools
from typing import Any

import orjson
from openmodule_hookspecs import response_topic

from .client import TestClient

__all__ = ["KVSyncCloud"]

_SERVER_RPC_CHANNEL = "rpc-websocket"


class KVSyncCloud:
    """The cloud's keys per service and its side of the sync; ``client`` is the test's client on the broker."""

    def __init__(self, client: TestClient, *, timeout: float = 10.0) -> None:
        self.client = client
        #: each service's keys: {service: {key: (e_tag, value as a JSON string)}}.
        self.data: dict[str, dict[str, tuple[int, str]]] = {}
        #: the ``server_rpc`` requests served so far (whole envelopes), oldest first.
        self.sync_requests: list[dict[str, Any]] = []
        self.timeout = timeout
        self._e_tags = itertools.count(1)
        client.subscribe(f"rpc-req-{_SERVER_RPC_CHANNEL}")

    def put(self, service: str, key: str, value: Any) -> int:
        """Give ``key`` of ``service`` a new value (any JSON value) and a new e-tag, which is returned."""
        e_tag = next(self._e_tags)
        self.data.setdefault(service, {})[key] = (e_tag, orjson.dumps(value).decode())
        return e_tag

    def delete(self, service: str, key: str) -> None:
        self.data.get(service, {}).pop(key, None)

    def wait_for_sync_request(self, timeout: float | None = None) -> dict[str, Any]:
        """The next ``server_rpc`` request with ``rpc="kvs_sync"`` (the whole envelope), not answered yet."""
        return self.client.wait_for_message(
            f"rpc-req-{_SERVER_RPC_CHANNEL}",
            lambda body: body.get("type") == "server_rpc" and isinstance(body.get("request"), dict)
            and body["request"].get("rpc") == "kvs_sync",
            self.timeout if timeout is None else timeout)

    def serve_sync_request(self, timeout: float | None = None) -> dict[str, Any]:
        """Wait for the next sync request, sync the service it names and answer it; returns the request."""
        request = self.wait_for_sync_request(timeout)
        self.sync_requests.append(request)
        self.sync(request["request"]["data"]["service"])
        self.answer(request)
        return request

    def answer(self, request: dict[str, Any], response: dict[str, Any] | None = None) -> None:
        """Answer a ``server_rpc`` request (default ``{"status": "ok"}``; e.g. ``{"status": "error", "error":
        "request_timeout"}`` as the bridge answers when the cloud does not)."""
        self.client.publish(response_topic(_SERVER_RPC_CHANNEL), {
            "type": request.get("type", "server_rpc"), "rpc_id": request.get("rpc_id"),
            "response": response if response is not None else {"status": "ok"}})

    def sync(self, service: str) -> dict[str, Any]:
        """Bring the device's store of ``service`` to the cloud's keys; returns the device's ``sync`` answer."""
        keys = self.data.get(service, {})
        differences = self.call("sync", {"service": service, "kvs": {key: e_tag for key, (e_tag, _) in keys.items()}})
        kvs = [{"key": key, "value": keys[key][1], "e_tag": keys[key][0]} for key in differences["missing"]]
        kvs += [{"key": key, "value": keys[key][1], "e_tag": keys[key][0], "previous_e_tag": e_tag}
                for key, e_tag in differences["changes"].items()]
        kvs += [{"key": key, "value": "null", "previous_e_tag": e_tag}
                for key, e_tag in differences["additions"].items()]
        if kvs:
            self.call("set", {"service": service, "kvs": kvs})
        return differences

    def call(self, type: str, request: dict[str, Any]) -> dict[str, Any]:
        """Call ``kv_sync``/``type`` and return the ``response``; any status but ``ok`` raises ``AssertionError``."""
        response: dict[str, Any] = self.client.rpc("kv_sync", type, request, timeout=self.timeout)["response"]
        if response.get("status") != "ok":
            raise AssertionError(f"kv_sync/{type} for {request.get('service')!r} answered {response!r}")
        return response
