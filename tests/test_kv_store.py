"""The KV store for plugins (openmodule's ``KVStore`` / ``KVStoreHandler`` semantics) on a real host and broker,
with real SQLite files (one test also on the real PostgreSQL), against a cloud stand-in (``KVSyncCloud``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from openmodule_hookspecs import PluginCore

from openmodule_host.host import Host
from openmodule_host.rpc.routing import _Shared
from openmodule_host.testing import KVSyncCloud, TestClient, wait_for_value
from openmodule_host.utils import KVStore
from tests.support.databases import Backend
from tests.support.kv_plugins import (
    BlocklistStore,
    KVPlugin,
    NotifyingWhitelistStore,
    Whitelist,
    WhitelistStore,
)

SERVICE = "om_kv_1"
OmHost = Callable[..., Host]


def start(om_host: OmHost, *plugins: tuple[str, KVPlugin], **settings: Any) -> Host:
    return om_host(*plugins, config={name: {"TESTING": True} for name, _ in plugins}, strict=True, **settings)


def core(plugin: KVPlugin) -> PluginCore:
    assert plugin.core is not None
    return plugin.core


def plates(plugin: KVPlugin, table: Any = Whitelist) -> dict[str, str]:
    return {key: plate for key, (_, plate) in plugin.rows(table).items()}


def cloud_plates(cloud: KVSyncCloud, service: str) -> dict[str, str]:
    return {key: value.split('"')[3] for key, (_, value) in cloud.data.get(service, {}).items()}


def set_request(om_client: TestClient, kvs: list[dict[str, Any]], service: str = SERVICE) -> dict[str, Any]:
    response: dict[str, Any] = om_client.rpc("kv_sync", "set", {"service": service, "kvs": kvs}, timeout=10)["response"]
    return response


def test_a_store_asks_the_cloud_to_sync_when_the_connection_comes_online_and_ends_with_its_rows(
        om_host: OmHost, om_client: TestClient) -> None:
    cloud = KVSyncCloud(om_client)
    cloud.put(SERVICE, "acc-1", {"plate": "GARIVO1"})
    cloud.put(SERVICE, "acc-2", {"plate": "GARIVO2"})
    plugin = KVPlugin()
    start(om_host, (SERVICE, plugin))

    om_client.set_connection_status("online")
    request = cloud.serve_sync_request(timeout=30)

    assert request["name"] == SERVICE
    assert request["request"] == {"rpc": "kvs_sync", "data": {
        "resource": core(plugin).config.RESOURCE, "service": SERVICE, "timeout": 25}}
    assert plugin.rows() == {key: (e_tag, value.split('"')[3]) for key, (e_tag, value) in cloud.data[SERVICE].items()}


def test_after_a_reconnect_the_store_syncs_again_changes_deletions_and_additions(
        om_host: OmHost, om_client: TestClient) -> None:
    cloud = KVSyncCloud(om_client)
    cloud.put(SERVICE, "acc-1", {"plate": "GARIVO1"})
    cloud.put(SERVICE, "acc-2", {"plate": "GARIVO2"})
    plugin = KVPlugin()
    start(om_host, (SERVICE, plugin))
    om_client.set_connection_status("online")
    cloud.serve_sync_request(timeout=30)

    cloud.put(SERVICE, "acc-1", {"plate": "GNEW1"})
    cloud.delete(SERVICE, "acc-2")
    cloud.put(SERVICE, "acc-3", {"plate": "GARIVO3"})
    om_client.set_connection_status("offline")
    om_client.set_connection_status("online")
    cloud.serve_sync_request(timeout=30)

    assert plates(plugin) == {"acc-1": "GNEW1", "acc-3": "GARIVO3"}
    assert {key: e_tag for key, (e_tag, _) in plugin.rows().items()} == {
        key: e_tag for key, (e_tag, _) in cloud.data[SERVICE].items()}


def test_a_sync_the_cloud_does_not_answer_is_asked_again_after_sync_timeout(
        om_host: OmHost, om_client: TestClient) -> None:
    cloud = KVSyncCloud(om_client)
    cloud.put(SERVICE, "acc-1", {"plate": "GARIVO1"})
    plugin = KVPlugin(sync_timeout=3)
    start(om_host, (SERVICE, plugin))
    om_client.set_connection_status("online")

    unanswered = cloud.wait_for_sync_request(timeout=30)
    assert unanswered["request"]["data"]["timeout"] == -2  # sync_timeout - 5, as openmodule sends it
    bridge_timeout = cloud.wait_for_sync_request(timeout=30)
    cloud.answer(bridge_timeout, {"status": "error", "error": "request_timeout"})
    served = cloud.serve_sync_request(timeout=30)

    assert len({unanswered["rpc_id"], bridge_timeout["rpc_id"], served["rpc_id"]}) == 3
    assert plates(plugin) == {"acc-1": "GARIVO1"}


def test_no_sync_is_asked_while_offline_and_none_after_the_plugin_stopped(
        om_host: OmHost, om_client: TestClient) -> None:
    cloud = KVSyncCloud(om_client)
    plugin = KVPlugin(sync_timeout=3)
    host = start(om_host, (SERVICE, plugin))
    om_client.set_connection_status("offline")
    with pytest.raises(AssertionError):
        cloud.wait_for_sync_request(timeout=2.5)

    om_client.set_connection_status("online")
    pending = cloud.wait_for_sync_request(timeout=30)  # never answered: the stop cancels it
    host.stop()
    assert plugin.handler is not None and not plugin.handler.running
    assert all(store.sync_rpc_entry is None for store in plugin.handler.stores)
    with pytest.raises(AssertionError):
        cloud.wait_for_sync_request(timeout=4)
    assert pending["request"]["data"]["service"] == SERVICE


def test_set_checks_e_tags_and_applies_all_keys_or_none(om_host: OmHost, om_client: TestClient) -> None:
    plugin = KVPlugin()
    start(om_host, (SERVICE, plugin))
    assert set_request(om_client, [{"key": "a", "value": '{"plate": "A1"}', "e_tag": 1}])["status"] == "ok"

    cases = [
        ([{"key": "a", "value": '{"plate": "A2"}', "e_tag": 2, "previous_e_tag": 7}], "Previous ETag does not match"),
        ([{"key": "a", "value": '{"plate": "A2"}', "e_tag": 2}], "No previous ETag"),
        ([{"key": "b", "value": '{"plate": "B1"}', "e_tag": 3, "previous_e_tag": 1}],
         "Previous ETag given but not in database"),
        ([{"key": "b", "value": '{"plate": "B1"}', "e_tag": 3},  # valid, but not applied with the invalid one
          {"key": "a", "value": "null", "previous_e_tag": 5}], "Previous ETag does not match"),
    ]
    for kvs, error in cases:
        assert set_request(om_client, kvs) == {"status": "handler_error", "exception": error}
    assert plugin.rows() == {"a": (1, "A1")}

    assert set_request(om_client, [{"key": "a", "value": '{"plate": "A2"}', "e_tag": 2, "previous_e_tag": 1},
                                   {"key": "b", "value": '{"plate": "B1"}', "e_tag": 3}])["status"] == "ok"
    assert plugin.rows() == {"a": (2, "A2"), "b": (3, "B1")}
    assert set_request(om_client, [{"key": "a", "value": "null", "previous_e_tag": 2},
                                   {"key": "b", "previous_e_tag": 3}])["status"] == "ok"  # value defaults to "null"
    assert plugin.rows() == {}
    assert set_request(om_client, []) == {"status": "ok"}


def test_invalid_values_and_requests_get_openmodules_errors_and_change_nothing(
        om_host: OmHost, om_client: TestClient) -> None:
    plugin = KVPlugin()
    host = start(om_host, (SERVICE, plugin))

    not_json = set_request(om_client, [{"key": "a", "value": "{plate", "e_tag": 1}])
    assert not_json["status"] == "handler_error" and "char 1" in not_json["exception"]
    refused = set_request(om_client, [{"key": "a", "value": '{"colour": "red"}', "e_tag": 1}])
    assert refused == {"status": "handler_error", "exception": "a value needs a plate, got {'colour': 'red'}"}
    for bad in ({"service": SERVICE, "kvs": "a"}, {"service": SERVICE, "kvs": [{"value": "1"}]}, {"service": SERVICE}):
        reply = om_client.rpc("kv_sync", "set", bad, timeout=10)["response"]
        assert reply["status"] == "validation_error"
    bad_sync = om_client.rpc("kv_sync", "sync", {"service": SERVICE, "kvs": {"a": "x"}}, timeout=10)["response"]
    assert bad_sync["status"] == "validation_error"
    assert plugin.rows() == {}
    assert host.plugins[SERVICE].state == "running"


def test_requests_for_another_service_get_no_reply(om_host: OmHost, om_client: TestClient) -> None:
    plugin = KVPlugin()
    start(om_host, (SERVICE, plugin))
    om_client.rpc_no_response("kv_sync", "set", {"service": "om_other_1", "kvs": [
        {"key": "a", "value": '{"plate": "A1"}', "e_tag": 1}]})
    om_client.rpc_no_response("kv_sync", "sync", {"service": "om_other_1", "kvs": {}})
    assert plugin.rows() == {}


def test_sync_reports_additions_changes_and_missing_keys(om_host: OmHost, om_client: TestClient) -> None:
    plugin = KVPlugin()
    start(om_host, (SERVICE, plugin))
    set_request(om_client, [{"key": "same", "value": '{"plate": "S"}', "e_tag": 1},
                            {"key": "changed", "value": '{"plate": "C"}', "e_tag": 2},
                            {"key": "device_only", "value": '{"plate": "D"}', "e_tag": 3}])

    reply = om_client.rpc("kv_sync", "sync", {"service": SERVICE, "kvs": {
        "same": 1, "changed": 20, "cloud_only": 4, "cloud_null": None}}, timeout=10)["response"]

    assert reply == {"additions": {"device_only": 3}, "changes": {"changed": 2},
                     "missing": {"cloud_only": 4, "cloud_null": None}, "status": "ok"}


def test_two_kv_store_plugins_in_one_host_each_answer_only_for_their_service_by_keyed_routing(
        om_host: OmHost, om_client: TestClient) -> None:
    cloud = KVSyncCloud(om_client)
    for service, plate in (("om_kv_a_1", "GA"), ("om_kv_b_1", "GB")):
        cloud.put(service, "acc-1", {"plate": plate})
        cloud.put(service, f"only-{service}", {"plate": plate + "2"})
    a, b = KVPlugin(), KVPlugin()
    host = start(om_host, ("om_kv_a_1", a), ("om_kv_b_1", b))
    assert host.rpc_router is not None
    for type in ("set", "sync"):  # the host routes each request by its service to one plugin: no fan-out
        shared = host.rpc_router._handlers[("kv_sync", type)]
        assert isinstance(shared, _Shared)
        assert shared.wire_key == "service" and set(shared.by_value) == {"om_kv_a_1", "om_kv_b_1"}

    om_client.set_connection_status("online")
    served = {cloud.serve_sync_request(timeout=30)["request"]["data"]["service"] for _ in range(2)}

    assert served == {"om_kv_a_1", "om_kv_b_1"}
    assert plates(a) == cloud_plates(cloud, "om_kv_a_1") == {"acc-1": "GA", "only-om_kv_a_1": "GA2"}
    assert plates(b) == cloud_plates(cloud, "om_kv_b_1") == {"acc-1": "GB", "only-om_kv_b_1": "GB2"}
    # each sync (1 sync + 1 set per service) reached only its own plugin
    assert host.plugins["om_kv_a_1"].stats.rpcs_served == host.plugins["om_kv_b_1"].stats.rpcs_served == 2


def test_a_plugin_with_two_stores_answers_for_name_and_name_suffix_and_syncs_both(
        om_host: OmHost, om_client: TestClient) -> None:
    cloud = KVSyncCloud(om_client)
    cloud.put(SERVICE, "acc-1", {"plate": "GWHITE"})
    cloud.put(f"{SERVICE}_block", "acc-9", {"plate": "GBLOCK"})
    plugin = KVPlugin(WhitelistStore, BlocklistStore)
    start(om_host, (SERVICE, plugin))

    om_client.set_connection_status("online")
    with pytest.warns(DeprecationWarning, match="parse_value"):  # Blocklist.parse_value returns a dict
        served = [cloud.serve_sync_request(timeout=30)["request"]["data"]["service"] for _ in range(2)]

    assert served == [SERVICE, f"{SERVICE}_block"]  # one store after the other, in order
    assert plates(plugin) == {"acc-1": "GWHITE"}
    assert plugin.rows(BlocklistStore.database_table) == {"acc-9": (2, "GBLOCK")}
    om_client.rpc_no_response("kv_sync", "sync", {"service": f"{SERVICE}_other", "kvs": {}})


def test_a_store_with_changed_notification_reports_the_keys_a_set_changed(
        om_host: OmHost, om_client: TestClient) -> None:
    NotifyingWhitelistStore.notified = []
    plugin = KVPlugin(NotifyingWhitelistStore)
    start(om_host, (SERVICE, plugin))
    set_request(om_client, [{"key": "a", "value": '{"plate": "A"}', "e_tag": 1},
                            {"key": "b", "value": '{"plate": "B"}', "e_tag": 2}])
    set_request(om_client, [{"key": "a", "value": '{"plate": "A"}', "e_tag": 3, "previous_e_tag": 1},  # same plate
                            {"key": "b", "value": '{"plate": "B2"}', "e_tag": 4, "previous_e_tag": 2}])
    set_request(om_client, [{"key": "a", "value": "null", "previous_e_tag": 3}])

    assert NotifyingWhitelistStore.notified == [["a", "b"], ["b"], ["a"]]


def test_store_and_handler_mistakes_are_refused_with_clear_errors(om_host: OmHost) -> None:
    class NoTable(KVStore):
        pass

    plugin = KVPlugin()
    start(om_host, (SERVICE, plugin))
    assert plugin.core is not None and plugin.handler is not None
    with pytest.raises(TypeError, match="database_table must be a model with the KVEntry mixin"):
        NoTable(core=plugin.core)
    with pytest.raises(RuntimeError, match="before starting"):
        plugin.handler.add_kvstore(BlocklistStore)


def test_a_store_syncs_on_postgresql_too(om_host: OmHost, om_client: TestClient, postgres_backend: Backend) -> None:
    service = postgres_backend.name("om_kv")
    cloud = KVSyncCloud(om_client)
    cloud.put(service, "acc-1", {"plate": "GARIVO1"})
    cloud.put(service, "acc-2", {"plate": "GARIVO2"})
    plugin = KVPlugin()
    start(om_host, (service, plugin), **postgres_backend.settings)

    om_client.set_connection_status("online")
    cloud.serve_sync_request(timeout=30)
    cloud.delete(service, "acc-1")
    wait_for_value(lambda: cloud.sync(service)["additions"], {"acc-1": 1}, timeout=10)

    assert plates(plugin) == {"acc-2": "GARIVO2"}


def test_a_store_in_a_plugin_of_its_own_process_syncs_as_in_a_thread(om_host: OmHost, om_client: TestClient) -> None:
    cloud = KVSyncCloud(om_client)
    cloud.put(SERVICE, "acc-1", {"plate": "GARIVO1"})
    om_host((SERVICE, "tests.support.kv_plugins:kv_process_plugin"),
            config={SERVICE: {"TESTING": True, "ISOLATION": "process"}}, strict=True)

    om_client.set_connection_status("online")
    cloud.serve_sync_request(timeout=30)

    assert cloud.sync(SERVICE) == {"additions": {}, "changes": {}, "missing": {}, "status": "ok"}
    assert set_request(om_client, [{"key": "acc-1", "value": "null", "previous_e_tag": 7}]) == {
        "status": "handler_error", "exception": "Previous ETag does not match"}
