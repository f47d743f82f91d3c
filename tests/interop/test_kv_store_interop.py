"""The KV store against openmodule 18.5.0's, each a separate service on one broker.

An openmodule KV-store service (``peers/openmodule_kvstore.py``: openmodule's ``KVStoreHandler`` with a store on
the same table) and a plugin's KV store (``tests/support/kv_plugins.py``) sync against the same cloud stand-in
(``KVSyncCloud``) and end with the same rows; the same bad ``kv_sync`` requests get the same answers from both.
Then openmodule's own RPC client and models play the cloud against the plugin, and the random delay before a
sync is compared with openmodule's, name by name.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from openmodule_host.host import Host
from openmodule_host.testing import KVSyncCloud, PrivateBroker, TestClient
from tests.support.kv_plugins import MIGRATIONS, KVPlugin

from .peer import OpenModulePeer, openmodule_python

pytestmark = pytest.mark.interop

KVSTORE_SCRIPT = Path(__file__).resolve().with_name("peers") / "openmodule_kvstore.py"
PLUGIN = "om_kv_plugin_1"
OPENMODULE = "om_kv_openmodule_1"
OmHost = Callable[..., Host]


@pytest.fixture
def openmodule_kvstore(om_broker: PrivateBroker, tmp_path: Path) -> Iterator[OpenModulePeer]:
    """openmodule's KV-store service ``OPENMODULE`` on the test broker, its database in ``tmp_path``."""
    with OpenModulePeer(OPENMODULE, om_broker.sub_address, om_broker.pub_address, script=KVSTORE_SCRIPT,
                        env={"TESTING": "1"}) as peer:
        peer.wait_ready()
        peer.command("kv_store", "kv_store_ready", timeout=60, folder=str(tmp_path / "openmodule"),
                     alembic=str(MIGRATIONS))
        yield peer


def openmodule_rows(peer: OpenModulePeer) -> dict[str, tuple[int, str]]:
    return {key: (e_tag, plate) for key, (e_tag, plate) in peer.command("kv_rows", "kv_rows")["rows"].items()}


def plates(rows: dict[str, tuple[int, str]]) -> dict[str, str]:
    return {key: plate for key, (_, plate) in rows.items()}


def cloud_rows(cloud: KVSyncCloud, service: str) -> dict[str, tuple[int, str]]:
    return {key: (e_tag, value.split('"')[3]) for key, (e_tag, value) in cloud.data[service].items()}


def test_openmodule_and_a_plugin_sync_against_the_same_cloud_and_end_with_the_same_rows(
        om_host: OmHost, om_client: TestClient, openmodule_kvstore: OpenModulePeer) -> None:
    cloud = KVSyncCloud(om_client)
    for service in (PLUGIN, OPENMODULE):
        for key, plate in (("acc-1", "GARIVO1"), ("acc-2", "GARIVO2"), ("acc-3", "GARIVO3")):
            cloud.put(service, key, {"plate": plate})
    plugin = KVPlugin()
    om_host((PLUGIN, plugin), config={PLUGIN: {"TESTING": True}}, strict=True)

    core = plugin.core
    assert core is not None
    om_client.set_connection_status("online")
    first = {request["data"]["service"]: request for request in
             (cloud.serve_sync_request(timeout=30)["request"] for _ in range(2))}
    assert first == {
        PLUGIN: {"rpc": "kvs_sync", "data": {"resource": core.config.RESOURCE, "service": PLUGIN,
                                             "timeout": 25}},
        OPENMODULE: {"rpc": "kvs_sync", "data": {"resource": "interop-test", "service": OPENMODULE, "timeout": 25}},
    }
    assert plugin.rows() == cloud_rows(cloud, PLUGIN)
    assert openmodule_rows(openmodule_kvstore) == cloud_rows(cloud, OPENMODULE)

    for service in (PLUGIN, OPENMODULE):  # the cloud changes while the garage is offline
        cloud.put(service, "acc-1", {"plate": "GNEW1"})
        cloud.delete(service, "acc-2")
        cloud.put(service, "acc-4", {"plate": "GARIVO4"})
    om_client.set_connection_status("offline")
    om_client.set_connection_status("online")
    again = {cloud.serve_sync_request(timeout=30)["request"]["data"]["service"] for _ in range(2)}

    assert again == {PLUGIN, OPENMODULE}
    assert plugin.rows() == cloud_rows(cloud, PLUGIN)
    assert openmodule_rows(openmodule_kvstore) == cloud_rows(cloud, OPENMODULE)
    assert plates(plugin.rows()) == plates(openmodule_rows(openmodule_kvstore)) == {
        "acc-1": "GNEW1", "acc-3": "GARIVO3", "acc-4": "GARIVO4"}


BAD_SETS = [
    pytest.param([{"key": "a", "value": '{"plate": "A2"}', "e_tag": 9, "previous_e_tag": 7}], id="wrong-previous"),
    pytest.param([{"key": "a", "value": '{"plate": "A2"}', "e_tag": 9}], id="no-previous-for-existing"),
    pytest.param([{"key": "new", "value": '{"plate": "N"}', "e_tag": 9, "previous_e_tag": 1}],
                 id="previous-for-missing"),
    pytest.param([{"key": "new", "value": '{"plate": "N"}', "e_tag": 9},
                  {"key": "a", "value": "null", "previous_e_tag": 5}], id="one-bad-of-two"),
    pytest.param([{"key": "new", "value": "{plate", "e_tag": 9}], id="not-json"),
    pytest.param([{"key": "new", "value": '{"colour": "red"}', "e_tag": 9}], id="refused-by-parse_value"),
    pytest.param("a", id="kvs-not-a-list"),
    pytest.param([{"value": "1"}], id="kv-without-key"),
]


@pytest.mark.parametrize("kvs", BAD_SETS)
def test_bad_sets_get_the_same_answers_from_openmodule_and_the_plugin_and_change_nothing(
        om_host: OmHost, om_client: TestClient, openmodule_kvstore: OpenModulePeer, kvs: Any) -> None:
    plugin = KVPlugin()
    om_host((PLUGIN, plugin), config={PLUGIN: {"TESTING": True}}, strict=True)
    replies = {}
    for service in (PLUGIN, OPENMODULE):
        first = {"service": service, "kvs": [{"key": "a", "value": '{"plate": "A1"}', "e_tag": 1}]}
        assert om_client.rpc("kv_sync", "set", first, timeout=10)["response"] == {"status": "ok"}
        reply = om_client.rpc("kv_sync", "set", {"service": service, "kvs": kvs}, timeout=10)["response"]
        replies[service] = reply

    ours, theirs = replies[PLUGIN], replies[OPENMODULE]
    assert ours["status"] == theirs["status"] != "ok"
    if ours["status"] == "handler_error":
        assert ours["exception"] == theirs["exception"]
    assert plugin.rows() == openmodule_rows(openmodule_kvstore) == {"a": (1, "A1")}


def test_neither_answers_a_request_for_another_service(
        om_host: OmHost, om_client: TestClient, openmodule_kvstore: OpenModulePeer) -> None:
    om_host((PLUGIN, KVPlugin()), config={PLUGIN: {"TESTING": True}}, strict=True)
    om_client.rpc_no_response("kv_sync", "sync", {"service": "om_kv_nobody_1", "kvs": {}}, timeout=2)
    om_client.rpc_no_response("kv_sync", "set", {"service": "om_kv_nobody_1", "kvs": []}, timeout=2)


def test_openmodules_rpc_client_and_models_play_the_cloud_against_the_plugin(
        om_host: OmHost, om_broker: PrivateBroker) -> None:
    with OpenModulePeer("om_rpc_client_1", om_broker.sub_address, om_broker.pub_address,
                        script=KVSTORE_SCRIPT) as cloud:
        cloud.wait_ready()
        cloud.command("cloud_bridge", "rpc_server_ready")
        plugin = KVPlugin()
        om_host((PLUGIN, plugin), config={PLUGIN: {"TESTING": True}}, strict=True)

        cloud.publish("connection_internal", {"type": "connection_status", "connected": "online"})
        asked = cloud.wait_for_event(lambda event: event["event"] == "server_rpc", 30, "server_rpc request")
        assert asked["request"]["rpc"] == "kvs_sync" and asked["request"]["data"]["service"] == PLUGIN

        def call(type: str, request: dict[str, Any], response_model: str) -> dict[str, Any]:
            result = cloud.rpc("kv_sync", type, request, request_model=f"KV{type.capitalize()}Request",
                               response_model=response_model, timeout=10)
            assert result["ok"], result
            return result

        empty = call("sync", {"service": PLUGIN, "kvs": {"acc-1": 5, "acc-2": 6}}, "KVSyncResponse")
        assert empty["response"] == {"additions": {}, "changes": {}, "missing": {"acc-1": 5, "acc-2": 6}}
        call("set", {"service": PLUGIN, "kvs": [{"key": "acc-1", "value": '{"plate": "GARIVO1"}', "e_tag": 5},
                                                {"key": "acc-2", "value": '{"plate": "GARIVO2"}', "e_tag": 6}]},
             "KVSetResponse")
        synced = call("sync", {"service": PLUGIN, "kvs": {"acc-1": 5, "acc-2": 7}}, "KVSyncResponse")

        assert synced["response"] == {"additions": {}, "changes": {"acc-2": 6}, "missing": {}}
        assert plugin.rows() == {"acc-1": (5, "GARIVO1"), "acc-2": (6, "GARIVO2")}
        bad = cloud.rpc("kv_sync", "set", {"service": PLUGIN, "kvs": [
            {"key": "acc-1", "value": "null", "previous_e_tag": 4}]}, request_model="KVSetRequest",
            response_model="KVSetResponse", timeout=10)
        assert (bad["ok"], bad["error"], bad["message"]) == (False, "RPCClient.ServerHandlerError",
                                                             "Previous ETag does not match")


OFFSET_SCRIPT = """
import json, sys, types
from openmodule.config import settings
from openmodule.utils.kv_store import KVStoreHandler
offsets = {}
for name in json.loads(sys.argv[1]):
    settings.reset()
    settings.configure(types.SimpleNamespace(NAME=name))
    offsets[name] = KVStoreHandler._random_offset_for_sync_with_server()
print(json.dumps(offsets))
"""


def test_the_random_delay_before_a_sync_is_openmodules_for_each_name(om_host: OmHost) -> None:
    names = ["om_kv_plugin_1", "om_access_whitelist_1", "om_access_whitelist_2"]
    plugins = {name: KVPlugin() for name in names}
    om_host(*plugins.items(), strict=True)  # not TESTING: with the delay
    env = {key: value for key, value in os.environ.items() if key != "TESTING"}
    theirs = json.loads(subprocess.run([str(openmodule_python()), "-c", OFFSET_SCRIPT, json.dumps(names)],
                                       capture_output=True, text=True, check=True, env=env, timeout=60).stdout)

    ours = {name: plugin.handler.random_offset() for name, plugin in plugins.items() if plugin.handler}
    assert ours == theirs
    assert len(set(ours.values())) == len(names) and all(0 <= offset <= 10 for offset in ours.values())
