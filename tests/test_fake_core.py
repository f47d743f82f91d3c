"""The fake core: a plugin started by the host's code on an in-memory transport, driven synchronously."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from openmodule_hookspecs import (
    AccessCheckRequest,
    ConnectionStatus,
    PluginCore,
    RPCTimeoutError,
    ServerFilterError,
    ServerHandlerError,
    ServerValidationError,
    hookimpl,
)
from sqlalchemy import text
from welcome_plugin import GreetRequest, GreetResponse, LookupRequest, LookupResponse

from openmodule_host.errors import ConfigError, PluginLoadError
from openmodule_host.testing import FakeCore, MockRPCClient, OpenModuleCoreTestMixin, wait_for_value
from tests.support.databases import Backend
from tests.support.fake_plugins import DoubleRequest, DoubleResponse, Order, Shop
from tests.test_legacy_backend import LEGACY_LPR, PlateBackend

WELCOME = {"plugin": "om_welcome", "gate": "in-1", "lookup_timeout": 0.3}

OmFake = Callable[..., FakeCore]
Shopping = tuple[FakeCore, Shop]


def response(fake: FakeCore, channel: str, type: str, request: dict[str, Any], **options: Any) -> dict[str, Any]:
    """The ``response`` of the plugin's reply (there must be one)."""
    reply = fake.rpc(channel, type, request, **options)
    assert reply is not None, f"no reply to {channel}/{type}"
    answer: dict[str, Any] = reply["response"]
    return answer


@pytest.fixture
def shop(om_fake: OmFake) -> tuple[FakeCore, Shop]:
    plugin = Shop()
    return om_fake(plugin, name="shop", config={"limit": 10}), plugin


def test_a_message_reaches_its_typed_handler_before_send_returns(shop: Shopping) -> None:
    fake, _ = shop
    fake.send("orders", Order(amount=3))
    assert [(body["what"], body["amount"], body["name"]) for body in fake.published("seen")] == [("order", 3, "shop")]
    assert fake.stats.handled == 1


def test_an_invalid_message_is_counted_and_dropped_and_a_raising_handler_is_counted(shop: Shopping) -> None:
    fake, _ = shop
    fake.send("orders", {"type": "order", "amount": "many"})
    fake.send("orders", {"type": "order", "amount": -1})
    assert (fake.stats.invalid, fake.stats.handler_errors) == (1, 1)
    assert fake.published("seen") == []


def test_messages_of_another_type_are_not_routed(shop: Shopping) -> None:
    fake, _ = shop
    fake.send("orders", {"type": "refund", "amount": 3})
    assert fake.stats.handled == 0 and fake.intake.stats.unrouted == 1


def test_dict_and_callable_filters_select_the_handler(shop: Shopping) -> None:
    fake, _ = shop
    for gate in ("in", "out", "side"):
        fake.send("gates", {"type": "gate", "gate": gate})
    assert [body["what"] for body in fake.published("seen")] == ["gate in", "gate out"]


def test_rpc_replies_carry_the_hosts_statuses(shop: Shopping) -> None:
    fake, _ = shop
    assert response(fake, "calc", "double", {"x": 2}) == {"y": 4, "status": "ok"}
    assert response(fake, "calc", "double", {"x": "two"})["status"] == "validation_error"
    assert response(fake, "calc", "double", {"x": 13}) == {"status": "handler_error", "exception": "unlucky 13"}
    assert response(fake, "calc", "double", {"x": 8})["status"] == "filter_error"
    assert response(fake, "calc", "double", {"x": 99})["status"] == "handler_error"


def test_rpcs_without_a_reply_return_none(shop: Shopping) -> None:
    fake, _ = shop
    assert fake.rpc("calc", "double", {"x": 7}) is None  # the filter rejects it
    assert fake.rpc("calc", "triple", {"x": 2}) is None  # nobody serves the type
    assert fake.rpc("calc", "double", {"x": 2}, resource="another-device") is None


def test_call_reads_the_reply_as_the_rpc_client_does(shop: Shopping) -> None:
    fake, _ = shop
    assert fake.call("calc", "double", DoubleRequest(x=5), DoubleResponse) == DoubleResponse(y=10)
    with pytest.raises(ServerValidationError):
        fake.call("calc", "double", {"x": "five"}, DoubleResponse)
    with pytest.raises(ServerHandlerError, match="unlucky 13"):
        fake.call("calc", "double", {"x": 13}, DoubleResponse)
    with pytest.raises(ServerFilterError):
        fake.call("calc", "double", {"x": 8}, DoubleResponse)
    with pytest.raises(RPCTimeoutError):
        fake.call("calc", "double", {"x": 7}, DoubleResponse)


def test_alerts_health_checks_metrics_and_the_health_hook_after_events(shop: Shopping) -> None:
    fake, _ = shop
    fake.assert_health_ok()
    fake.send("orders", Order(amount=50))
    [alert] = fake.sent_alerts(alert_type="big_order")
    assert (alert["status"], alert["value"], alert["alert_meta"]["amount"], alert["package"]) == ("error", 50.0, 50,
                                                                                       "shop")
    fake.assert_health_error(message="an order was too big")
    assert fake.metric_value("orders", kind="big") == 1
    fake.send("orders", Order(amount=-5))
    assert fake.checks()["orders"].state == "fail"
    assert fake.checks()["orders"].message == "negative order -5"


def test_connection_status_changes_fire_on_connect_and_on_disconnect(shop: Shopping) -> None:
    fake, plugin = shop
    assert fake.connection_listener.get() is ConnectionStatus.online  # the first status, from connection/status
    fake.set_connection_status("offline")
    fake.set_connection_status("online")
    assert plugin.connection_events == [("disconnect", "offline"), ("connect", "online")]
    assert fake.connection_listener.previous is ConnectionStatus.offline


def test_the_fake_is_a_plugin_core() -> None:
    def takes_a_core(core: PluginCore) -> str:
        return core.name

    with FakeCore(Shop(), name="shop") as fake:
        assert takes_a_core(fake) == "shop"
        assert fake.health is fake.core.health and fake.alerts is fake.core.alerts


def test_settings_are_validated_with_the_plugins_model() -> None:
    with pytest.raises(ConfigError, match="limit"):
        FakeCore(Shop(), name="shop", config={"limit": "lots"})


def test_a_plugin_that_fails_to_start_raises_with_the_hosts_reason() -> None:
    class Broken:
        @hookimpl
        def register_handlers(self, core: Any) -> None:
            raise RuntimeError("no camera")

    with pytest.raises(PluginLoadError, match="register_handlers raised RuntimeError: no camera"):
        FakeCore(Broken(), name="broken")


def test_scheduled_jobs_run_when_due(om_fake: OmFake) -> None:
    fake = om_fake("gate_in", config=WELCOME)
    assert fake.run_jobs() == 0
    fake.run_jobs(after=61)
    assert [body["text"] for body in fake.published("display")] == ["Welcome to the garage"]


def test_the_plugins_rpc_calls_get_scripted_responses_and_last_request_is_kept(om_fake: OmFake) -> None:
    mock = MockRPCClient(responses={("plates", "lookup"): LookupResponse(known=True)})
    fake = om_fake("gate_in", config=WELCOME, rpc_client=mock)
    assert fake.call("welcome", "greet", GreetRequest(gate="in-1", plate="G 1"), GreetResponse).text == "Welcome, G 1!"
    assert mock.last_request[("plates", "lookup")] == {"plate": "G 1"}
    assert fake.checks()["lookup"].state == "ok"


def test_an_unscripted_call_times_out_and_a_raising_callback_answers_handler_error(om_fake: OmFake) -> None:
    fake = om_fake("gate_in", config=WELCOME)
    fake.call("welcome", "greet", GreetRequest(gate="in-1", plate="G 1"), GreetResponse)
    assert fake.checks()["lookup"].message == "lookup failed: RPCTimeoutError"

    def refuse(request: Any, _: None) -> LookupResponse:
        raise RuntimeError("database locked")

    fake.mock_rpc = MockRPCClient(callbacks={("plates", "lookup"): refuse})
    fake.call("welcome", "greet", GreetRequest(gate="in-1", plate="G 1"), GreetResponse)
    assert fake.checks()["lookup"].message == "lookup failed: ServerHandlerError"


def test_a_callback_reads_the_wire_request_as_a_dict_or_as_attributes(om_fake: OmFake) -> None:
    def lookup(request: Any, _: None) -> LookupResponse:
        return LookupResponse(known=request.plate == request["plate"] == "G 1")

    fake = om_fake("gate_in", config=WELCOME, rpc_client=MockRPCClient(callbacks={("plates", "lookup"): lookup}))
    assert fake.call("welcome", "greet", GreetRequest(gate="in-1", plate="G 1"), GreetResponse).known is True
    with pytest.raises(AttributeError, match="no field 'owner'"):
        getattr(fake.mock_rpc.last_request[("plates", "lookup")], "owner")  # noqa: B009


def test_a_delayed_answer_within_the_timeout_arrives_and_one_past_it_times_out(om_fake: OmFake) -> None:
    def slow(seconds: float) -> Any:
        def answer(request: Any, _: None) -> LookupResponse:
            time.sleep(seconds)
            return LookupResponse(known=True)
        return answer

    fake = om_fake("gate_in", config=WELCOME, rpc_client=MockRPCClient(callbacks={("plates", "lookup"): slow(0.05)}))
    assert fake.call("welcome", "greet", GreetRequest(gate="in-1", plate="X"), GreetResponse).known is True
    fake.mock_rpc = MockRPCClient(callbacks={("plates", "lookup"): slow(1.0)}, default_timeout=0.3)
    assert fake.call("welcome", "greet", GreetRequest(gate="in-1", plate="X"), GreetResponse).known is False


@pytest.mark.parametrize(("error", "seen"), [
    (ServerValidationError("bad plate"), "ServerValidationError"),
    (ServerFilterError, "ServerFilterError"),
    (RPCTimeoutError, "RPCTimeoutError"),
    (KeyError("plate"), "ServerHandlerError"),
])
def test_an_exception_as_the_scripted_answer_is_the_error_the_caller_sees(
        om_fake: OmFake, error: Any, seen: str) -> None:
    fake = om_fake("gate_in", config=WELCOME, rpc_client=MockRPCClient(responses={("plates", "lookup"): error}))
    fake.call("welcome", "greet", GreetRequest(gate="in-1", plate="X"), GreetResponse)
    assert fake.checks()["lookup"].message == f"lookup failed: {seen}"


def test_mock_rpc_client_used_directly_keeps_openmodule_tests_semantics() -> None:
    calls: list[Any] = []

    def later(request: Any, _: None) -> LookupResponse:
        calls.append(request)
        return LookupResponse(known=True, owner="me")

    mock = MockRPCClient(callbacks={("plates", "lookup"): later},
                         immediate_callbacks={("plates", "now"): lambda request, _: LookupResponse(owner="now")},
                         default_timeout=0.2)
    entry = mock.rpc_non_blocking("plates", "lookup", LookupRequest(plate="A"))
    assert calls == []  # a callback runs at result(), as in openmodule-test
    assert entry.result(LookupResponse).owner == "me"
    assert mock.last_request[("plates", "lookup")] == LookupRequest(plate="A")
    assert mock.rpc("plates", "now", {"plate": "B"}, LookupResponse).owner == "now"
    with pytest.raises(RPCTimeoutError):
        mock.rpc("plates", "unknown", {"plate": "C"}, LookupResponse)


def test_the_database_is_migrated_and_check_access_is_served(om_fake: OmFake) -> None:
    fake = om_fake("om_access_demo")
    assert response(fake, "access_demo", "set", {"name": "om_access_demo", "accesses": {
        "a1": {"plate": "G ARIVO1", "category": "permanent"}}}) == {"changed": 1, "total": 1, "status": "ok"}
    checked = response(fake, "access_service", "auth", {
        "name": "om_access_demo", "gate": "in-1", "vehicle": {"lpr": {"id": "GARIVO1", "type": "lpr"}}})
    assert checked["success"] is True
    assert [access["id"] for access in checked["accesses"]] == ["a1"]
    assert fake.metric_value("accesses") == 1


def test_hooks_run_on_the_worker_with_the_plugins_core(om_fake: OmFake, shop: Shopping) -> None:
    fake, _ = shop
    assert fake.run_hook("health").status == "ok"
    fake.send("orders", Order(amount=50))
    assert fake.run_hook("health").message == "an order was too big"
    with pytest.raises(ValueError, match="not a hook"):
        fake.run_hook("helth")

    demo = om_fake("om_access_demo")
    demo.rpc("access_demo", "set", {"name": "om_access_demo",
                                    "accesses": {"a1": {"plate": "W 1", "category": "booked"}}})
    request = AccessCheckRequest.model_validate({"name": "om_access_demo", "gate": "in-1",
                                                 "vehicle": {"lpr": {"id": "W1", "type": "lpr"}}})
    [access] = demo.run_hook("check_access", request=request)
    assert access.id == "a1"


def test_an_envelope_can_replace_the_rpc_id_and_the_reply_is_still_found(shop: Shopping) -> None:
    fake, _ = shop
    reply = fake.rpc("calc", "double", {"x": 1}, envelope={"rpc_id": "8b7e4c1e-8d1b-4d7c-9a55-0f4c1f0e2a11"})
    assert reply is not None and reply["rpc_id"] == "8b7e4c1e-8d1b-4d7c-9a55-0f4c1f0e2a11"


def test_a_mixin_class_that_names_no_plugin_says_what_to_set() -> None:
    class Forgot(OpenModuleCoreTestMixin):
        def test_nothing(self) -> None:
            pass

    with pytest.raises(TypeError, match="set plugin = "):
        Forgot("test_nothing").setUp()


def test_closing_fakes_leaves_no_threads_behind() -> None:
    before = threading.active_count()
    for _ in range(5):
        with FakeCore(Shop(), name="shop") as fake:
            fake.rpc("calc", "double", {"x": 1})
            fake.connection_listener.get()  # the first status: an RPC call, which opens the client's channel
    wait_for_value(lambda: threading.active_count() <= before, True, timeout=10)


def test_the_database_is_the_plugins_own_on_sqlite_and_postgresql(backend: Backend) -> None:
    name = backend.name("demo")
    with FakeCore("om_access_demo", config={"NAME": name}, **backend.settings) as fake:
        accesses = {"a1": {"plate": "W 1", "category": "booked"}}
        assert response(fake, "access_demo", "set", {"name": name, "accesses": accesses})["total"] == 1
    with backend.admin_connection(name) as connection:
        assert connection.execute(text(f"SELECT id FROM {backend.table(name, 'accesses')}")).scalars().all() == ["a1"]


def test_a_failing_migration_fails_the_start_with_the_hosts_reason(tmp_path: Path) -> None:
    versions = tmp_path / "versions"
    versions.mkdir()
    (versions / "0001_broken.py").write_text(
        'revision = "0001"\ndown_revision = None\n\n\ndef upgrade():\n    raise RuntimeError("no disk")\n')

    class Migrating:
        @hookimpl
        def database_migrations(self) -> Any:
            return versions

        @hookimpl
        def register_handlers(self, core: Any) -> None:
            pass

    with pytest.raises(PluginLoadError, match=r"database migration failed: .*no disk"):
        FakeCore(Migrating(), name="migrating")


def test_a_legacy_backend_registers_answers_backend_auth_and_unregisters_as_on_the_host() -> None:
    fake = FakeCore(PlateBackend(), name="plates", config={"NAME": "om_plates_1"})
    try:
        assert [body["type"] for body in fake.published("backend")] == ["register"]
        fake.send("backend", {"type": "register_request"}, sender="om_controller_1")
        accesses = response(fake, "backend", "auth", {"name": "om_plates_1", **LEGACY_LPR})["medium"]["accesses"]
        assert [access["user"] for access in accesses] == ["om_plates_1-GARIVO1"]
        assert fake.rpc("backend", "auth", {"name": "om_nobody", **LEGACY_LPR}) is None
    finally:
        fake.close()
    assert [(body["name"], body["type"]) for body in fake.published("backend")] == [
        ("om_plates_1", "register"), ("om_plates_1", "register"), ("om_plates_1", "unregister")]
