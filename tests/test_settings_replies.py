"""A settings reply that carries more than was asked: the provider takes only the keys it asked for, so a
malformed (or forged) ``get_many`` reply cannot put values for other keys into the cache."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from openmodule_hookspecs import response_topic

from openmodule_host.host import Host
from openmodule_host.testing import TestClient
from tests.test_settings_provider import GATES, Reader, on_worker


def test_get_many_ignores_keys_it_did_not_ask_for(om_host: Callable[..., Host], om_client: TestClient) -> None:
    plugin = Reader()
    host = om_host(("reader", plugin))
    om_client.subscribe("rpc-req-settings")
    assert plugin.settings is not None
    settings = plugin.settings
    results: list[dict[str, Any]] = []
    asking = threading.Thread(target=lambda: results.append(on_worker(
        host, "reader", lambda: settings.get_many({"common/gates": None}))))
    asking.start()
    request = om_client.wait_for_message("rpc-req-settings", lambda body: body.get("type") == "get_many", 10)
    om_client.publish(response_topic("settings"), {"type": "get_many", "rpc_id": request["rpc_id"], "response": {
        "status": "ok", "settings": {"common/gates": {"success": True, "value": GATES},
                                     "common/timezone": {"success": True, "value": "Forged/Zone"}}}})
    asking.join(30)

    assert list(results[0]) == ["common/gates"]
    # nothing of the key not asked for was cached: a get asks the service (which is silent here: the timeout)
    om_client.subscribe("rpc-req-settings")
    asking = threading.Thread(target=lambda: results.append(on_worker(
        host, "reader", lambda: _get_or_timeout(settings, "common/timezone"))))
    asking.start()
    om_client.wait_for_message("rpc-req-settings", lambda body: body.get("request", {}).get("key")
                               == "common/timezone", 10)
    asking.join(30)
    assert results[1] == {"timed out": True}


def _get_or_timeout(settings: Any, key: str) -> dict[str, Any]:
    try:
        return {"value": settings.get(key)}
    except TimeoutError:
        return {"timed out": True}
