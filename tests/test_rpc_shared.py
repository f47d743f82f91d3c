"""Several plugins on one RPC (channel, type), as several openmodule services share one.

A request reaches every plugin serving it and each plugin's own key, resource and filters decide on its own
worker whether it answers; plugins keyed by the same request field get their requests routed by its value
without the others seeing them, and so do plugins told apart by openmodule's ``gateway_filter`` (applied on
the intake) or by their resource.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import pytest
from openmodule_hookspecs import Gateway, OpenModuleModel, gateway_filter, hookimpl

from tests.support.rpc_plugins import CHANNEL, TYPE, Caller, GateRequest, GateResponse, GateService
from tests.support.waiting import eventually

REPLIES = "rpc-rep-gates"


def replies_to(om_client: Any, rpc_id: str, count: int) -> list[dict[str, Any]]:
    """``count`` replies to the call ``rpc_id``, then none more within half a second."""
    replies = [om_client.wait_for_message(REPLIES, lambda body: body.get("rpc_id") == rpc_id, timeout=5)
               for _ in range(count)]
    om_client.assert_no_message(REPLIES, lambda body: body.get("rpc_id") == rpc_id)
    return replies


def answered_by(om_client: Any, request: dict[str, Any], count: int = 1) -> list[str]:
    return sorted(reply["name"] for reply in replies_to(om_client, om_client.rpc_send(CHANNEL, TYPE, request), count))


# -- fan-out: every plugin gets the request, its filters decide ------------------------------------------------


def test_per_gate_plugins_each_answer_only_their_gate(om_host, om_client):
    om_host(("gate_in", GateService("in-1")), ("gate_out", GateService("out-1")))
    assert answered_by(om_client, {"gate": "in-1"}) == ["gate_in"]
    assert answered_by(om_client, {"gate": "out-1"}) == ["gate_out"]
    assert answered_by(om_client, {"gate": "nowhere"}, count=0) == []


def test_a_request_both_filters_pass_gets_both_answers_and_a_client_takes_the_first(om_host, om_client):
    caller = Caller()
    om_host(("gate_in", GateService("in-1", also="both")), ("gate_out", GateService("out-1", also="both")),
            ("caller", caller))
    assert answered_by(om_client, {"gate": "both"}, count=2) == ["gate_in", "gate_out"]
    response = caller.core.rpc_client.rpc(CHANNEL, TYPE, GateRequest(gate="both"), GateResponse)
    assert response.by in ("gate_in", "gate_out")


def test_an_invalid_request_gets_validation_error_from_every_plugin_as_from_every_service(om_host, om_client):
    om_host(("gate_in", GateService("in-1")), ("gate_out", GateService("out-1")))
    rpc_id = om_client.rpc_send(CHANNEL, TYPE, {"gate": 7})
    assert {reply["response"]["status"] for reply in replies_to(om_client, rpc_id, 2)} == {"validation_error"}


def test_an_invalid_envelope_gets_validation_error_from_every_plugin(om_host, om_client):
    om_host(("gate_in", GateService("in-1", key="gate", value="in-1")),
            ("gate_out", GateService("out-1", key="gate", value="out-1")))
    om_client.subscribe(REPLIES)
    om_client.publish("rpc-req-gates", {"type": TYPE, "request": {"gate": "in-1"}})  # no rpc_id
    replies = [om_client.wait_for_message(REPLIES) for _ in range(2)]
    assert sorted(reply["name"] for reply in replies) == ["gate_in", "gate_out"]
    assert {(reply["type"], reply["response"]["status"]) for reply in replies} == {("unknown", "validation_error")}


def test_a_request_for_another_resource_is_left_to_it(om_host, om_client):
    host = om_host(("gate_in", GateService("in-1", filtered=False)),
                   ("gate_out", GateService("out-1", filtered=False)),
                   config={"gate_in": {"RESOURCE": "device-in"}, "gate_out": {"RESOURCE": "device-out"}})
    assert host.plugins["gate_in"].core.config.RESOURCE == "device-in"
    rpc_id = om_client.rpc_send(CHANNEL, TYPE, {"gate": "x"}, resource="device-out")
    assert [reply["name"] for reply in replies_to(om_client, rpc_id, 1)] == ["gate_out"]


def test_a_hung_plugin_delays_only_its_own_reply(om_host, om_client):
    hung, other = GateService("in-1", also="both"), GateService("out-1", also="both")
    om_host(("gate_in", hung), ("gate_out", other))
    try:
        first = om_client.rpc_send(CHANNEL, TYPE, {"gate": "both", "plate": "HANG in-1"})
        assert hung.entered.wait(5)
        # while gate_in's handler hangs, gate_out answers the same call, and the next ones
        assert om_client.wait_for_message(REPLIES, lambda body: body.get("rpc_id") == first)["name"] == "gate_out"
        for _ in range(5):
            assert om_client.rpc(CHANNEL, TYPE, {"gate": "out-1"})["response"]["by"] == "gate_out"
        assert not hung.hold.is_set()  # (still hanging)
    finally:
        hung.hold.set()
    assert om_client.wait_for_message(REPLIES, lambda body: body.get("rpc_id") == first)["name"] == "gate_in"


def test_when_one_plugin_stops_the_others_keep_serving(om_host, om_client):
    host = om_host(("gate_in", GateService("in-1")), ("gate_out", GateService("out-1")),
                   ("gate_3", GateService("in-3")))
    host.plugins["gate_in"].core.rpc_server.unregister_all()
    assert answered_by(om_client, {"gate": "out-1"}) == ["gate_out"]
    assert answered_by(om_client, {"gate": "in-3"}) == ["gate_3"]
    assert answered_by(om_client, {"gate": "in-1"}, count=0) == []
    host.plugins["gate_3"].core.rpc_server.unregister_all()
    route, sole = host.rpc_router._routes[CHANNEL]
    assert sole is not None and route.deliver_raw is not None  # one plugin left: its undecoded route
    assert answered_by(om_client, {"gate": "out-1"}) == ["gate_out"]


class FilterWatcher(GateService):
    """A GateService whose filter records the thread it runs on; plate ``RAISE <gate>`` makes it raise,
    ``HANG <gate>`` hold (until ``hold`` is set)."""

    def __init__(self, gate: str) -> None:
        super().__init__(gate, filtered=False)
        self.filter_threads: set[str] = set()

    @hookimpl
    def register_handlers(self, core: Any) -> None:
        super().register_handlers(core)
        core.rpc_server.add_filter(self.mine, channel=CHANNEL, type=TYPE)

    def mine(self, request: GateRequest, message: Any, handler: Any) -> bool:
        self.filter_threads.add(threading.current_thread().name)
        if request.plate == f"RAISE {self.gate}":
            raise RuntimeError(f"gate {self.gate}: filter broken")
        if request.plate == f"HANG {self.gate}":
            self.entered.set()
            self.hold.wait(30)
        return request.gate == self.gate or request.gate == "both"

    def open(self, request: GateRequest, message: Any) -> GateResponse:
        return GateResponse(gate=request.gate, by=self.core.name)


def test_each_plugins_filters_run_on_its_own_worker_and_a_raising_one_fails_only_its_reply(om_host, om_client):
    gate_in, gate_out = FilterWatcher("in-1"), FilterWatcher("out-1")
    om_host(("gate_in", gate_in), ("gate_out", gate_out))
    assert answered_by(om_client, {"gate": "both"}, count=2) == ["gate_in", "gate_out"]
    assert (gate_in.filter_threads, gate_out.filter_threads) == ({"omh-plugin-gate_in"}, {"omh-plugin-gate_out"})

    rpc_id = om_client.rpc_send(CHANNEL, TYPE, {"gate": "both", "plate": "RAISE in-1"})
    replies = {reply["name"]: reply["response"] for reply in replies_to(om_client, rpc_id, 2)}
    # as from two openmodule services: the one whose filter raised says filter_error, the other answers
    assert replies["gate_in"] == {"status": "filter_error", "exception": "gate in-1: filter broken"}
    assert replies["gate_out"] == {"status": "ok", "gate": "both", "by": "gate_out"}
    assert answered_by(om_client, {"gate": "in-1"}) == ["gate_in"]  # and it goes on filtering


def test_a_hung_filter_delays_only_its_own_plugin(om_host, om_client):
    hung, other = FilterWatcher("in-1"), FilterWatcher("out-1")
    om_host(("gate_in", hung), ("gate_out", other))
    try:
        first = om_client.rpc_send(CHANNEL, TYPE, {"gate": "both", "plate": "HANG in-1"})
        assert hung.entered.wait(5)
        assert om_client.wait_for_message(REPLIES, lambda body: body.get("rpc_id") == first)["name"] == "gate_out"
        for _ in range(5):
            assert om_client.rpc(CHANNEL, TYPE, {"gate": "out-1"})["name"] == "gate_out"
    finally:
        hung.hold.set()
    assert om_client.wait_for_message(REPLIES, lambda body: body.get("rpc_id") == first)["name"] == "gate_in"


# -- keyed: routed by a request field, no fan-out ----------------------------------------------------------


def keyed_by_service(om_host: Any) -> tuple[Any, dict[str, GateService]]:
    services = {name: GateService(name, filtered=False, key="service") for name in ("kv_a", "kv_b", "kv_c")}
    host = om_host(*services.items(), config={name: {"NAME": f"om_{name}_1"} for name in services})
    return host, services


def test_plugins_keyed_by_service_each_answer_the_requests_naming_their_name(om_host, om_client):
    keyed_by_service(om_host)
    for name in ("kv_a", "kv_b", "kv_c"):
        assert answered_by(om_client, {"gate": "g", "service": f"om_{name}_1"}) == [f"om_{name}_1"]


def test_a_keyed_request_never_reaches_the_other_plugins(om_host, om_client):
    host, services = keyed_by_service(om_host)
    hung = services["kv_b"]
    try:
        om_client.rpc_send(CHANNEL, TYPE, {"gate": "g", "service": "om_kv_b_1", "plate": "HANG kv_b"})
        assert hung.entered.wait(5)
        for _ in range(20):
            assert om_client.rpc(CHANNEL, TYPE, {"gate": "g", "service": "om_kv_a_1"})["name"] == "om_kv_a_1"
        # fanned out, each of the 20 would wait in kv_b's mailbox behind the hung call
        assert len(host.plugins["kv_b"].core.rpc_server.mailbox) == 0
        assert len(services["kv_a"].served) == 20 and services["kv_c"].served == []
    finally:
        hung.hold.set()


def test_a_keyed_request_naming_nobody_gets_no_reply_or_one_validation_error(om_host, om_client):
    keyed_by_service(om_host)
    assert answered_by(om_client, {"gate": "g", "service": "om_nobody"}, count=0) == []
    assert answered_by(om_client, {"gate": "g"}, count=0) == []  # the key field left out (its default: "")
    rpc_id = om_client.rpc_send(CHANNEL, TYPE, {"service": "om_nobody"})  # no gate: invalid
    assert [reply["response"]["status"] for reply in replies_to(om_client, rpc_id, 1)] == ["validation_error"]
    rpc_id = om_client.rpc_send(CHANNEL, TYPE, {"service": "om_kv_c_1"})  # invalid, for kv_c: kv_c says so
    assert [reply["name"] for reply in replies_to(om_client, rpc_id, 1)] == ["om_kv_c_1"]


def test_plugins_keyed_by_gate_with_a_value_of_their_own(om_host, om_client):
    host = om_host(("gate_in", GateService("in-1", filtered=False, key="gate", value="in-1")),
                   ("gate_out", GateService("out-1", filtered=False, key="gate", value="out-1")))
    assert answered_by(om_client, {"gate": "in-1"}) == ["gate_in"]
    assert answered_by(om_client, {"gate": "out-1"}) == ["gate_out"]
    assert answered_by(om_client, {"gate": "elsewhere"}, count=0) == []
    assert host.rpc_router._handlers[(CHANNEL, TYPE)].wire_key == "gate"  # routed on the intake


def test_keyed_and_unkeyed_plugins_mixed_fan_out_and_each_checks_its_key(om_host, om_client):
    om_host(("gate_in", GateService("in-1", filtered=False, key="gate", value="in-1")),
            ("gate_out", GateService("out-1", key="service", value="out-service")),
            ("audit", GateService("*", filtered=False)))
    assert answered_by(om_client, {"gate": "in-1"}, count=2) == ["audit", "gate_in"]
    # gate_out's key passes but its filter does not (its gate is out-1)
    assert answered_by(om_client, {"gate": "in-1", "service": "out-service"}, count=2) == ["audit", "gate_in"]
    assert answered_by(om_client, {"gate": "out-1", "service": "out-service"}, count=2) == ["audit", "gate_out"]


def test_register_handler_checks_key_and_value():
    from openmodule_host.isolation import Mailbox
    from openmodule_host.rpc.server import PluginRPCServer, RPCRouter
    from openmodule_host.stats import PluginStats
    from tests.test_rpc_routes import FakeIntake, Replies

    log = logging.getLogger("test")
    server = PluginRPCServer("p", "om_p", "", RPCRouter(FakeIntake(), log), Replies(), Mailbox("p", 10, log),
                             PluginStats(), log)

    def serve(request: Any, message: Any) -> None:
        return None

    with pytest.raises(TypeError, match="GateRequest has no name field to route by"):
        server.register_handler(CHANNEL, TYPE, GateRequest, GateResponse, serve, key="name")
    with pytest.raises(TypeError, match="needs a key"):
        server.register_handler(CHANNEL, TYPE, GateRequest, GateResponse, serve, value="in-1")
    with pytest.raises(TypeError, match="value must be a string"):
        server.register_handler(CHANNEL, TYPE, GateRequest, GateResponse, serve, key="gate", value=1)  # type: ignore[arg-type]
    server.register_handler(CHANNEL, TYPE, GateRequest, GateResponse, serve, key="gate")
    with pytest.raises(ValueError, match="a plugin registers a \\(channel, type\\) once"):
        server.register_handler(CHANNEL, TYPE, GateRequest, GateResponse, serve)


# -- the warning at start -----------------------------------------------------------------------------------


def test_plugins_that_would_all_answer_every_request_are_named_in_a_warning_at_start(om_host, om_client, caplog):
    with caplog.at_level(logging.WARNING, logger="openmodule_host"):
        om_host(("audit_a", GateService("a", filtered=False)), ("audit_b", GateService("b", filtered=False)),
                ("gate_in", GateService("in-1")))
    warnings = [record.getMessage() for record in caplog.records if "no key or filter" in record.getMessage()]
    assert warnings == [
        "RPC gates/open is served by plugins 'audit_a' and 'audit_b', with no key or filter that tells them "
        "apart: each of them answers every request (the caller takes the first reply)"]
    assert answered_by(om_client, {"gate": "in-1"}, count=3) == ["audit_a", "audit_b", "gate_in"]


def test_plugins_told_apart_by_filters_or_keys_start_without_a_warning(om_host, caplog):
    with caplog.at_level(logging.WARNING, logger="openmodule_host"):
        om_host(("gate_in", GateService("in-1")), ("gate_out", GateService("out-1")),
                ("kv_a", GateService("a", filtered=False, key="service")),
                ("kv_b", GateService("b", filtered=False, key="service")))
    assert "no key or filter" not in caplog.text


class GatewayRequest(OpenModuleModel):
    gateway: Gateway


class GatewayPlugin:
    """Serves gates/open for one gate and direction with openmodule's ``gateway_filter`` (``wrapped``: inside a
    filter of its own, which the intake cannot look into)."""

    def __init__(self, gate: str, direction: str, *, wrapped: bool = False) -> None:
        self.gate, self.direction, self.wrapped = gate, direction, wrapped

    @hookimpl
    def register_handlers(self, core: Any) -> None:
        core.rpc_server.register_handler(CHANNEL, TYPE, GatewayRequest, GateResponse,
                                         lambda request, message: GateResponse(gate=self.gate, by=core.name))
        check = gateway_filter(self.gate, self.direction)
        core.rpc_server.add_filter(
            (lambda request, message, handler: check(request, message, handler)) if self.wrapped else check,
            CHANNEL, TYPE)


def test_per_gate_plugins_with_openmodules_gateway_filter(om_host, om_client):
    om_host(("entry", GatewayPlugin("gate1", "in")), ("exit", GatewayPlugin("gate1", "out")))
    assert answered_by(om_client, {"gateway": {"gate": "gate1", "direction": "in"}}) == ["entry"]
    assert answered_by(om_client, {"gateway": {"gate": "gate1", "direction": "out"}}) == ["exit"]
    assert answered_by(om_client, {"gateway": {"gate": "gate2", "direction": "in"}}, count=0) == []


def hold_workers(host: Any, names: list[str], hold: threading.Event) -> None:
    """Keep these plugins' workers busy until ``hold`` is set: what the intake brings them waits in their mailboxes."""
    for name in names:
        entered = threading.Event()
        host.plugins[name].worker.submit(lambda entered=entered: (entered.set(), hold.wait(30)))
        assert entered.wait(5)


def test_the_intake_brings_a_per_gate_request_only_to_the_plugins_whose_gateway_filter_passes(om_host, om_client):
    gates = {f"gate_{n}": GatewayPlugin(f"gate{n}", "in") for n in range(4)}
    host = om_host(*gates.items(), ("watcher", GatewayPlugin("gate0", "in", wrapped=True)))
    hold = threading.Event()
    try:
        hold_workers(host, ["gate_1", "gate_2", "gate_3", "watcher"], hold)
        for _ in range(2):
            rpc_id = om_client.rpc_send(CHANNEL, TYPE, {"gateway": {"gate": "gate0", "direction": "in"}})
            reply = om_client.wait_for_message(REPLIES, lambda body, rpc_id=rpc_id: body.get("rpc_id") == rpc_id)
            assert reply["name"] == "gate_0"
        # a filter that is plugin code runs on its worker: the watcher gets every request, the other gates none
        eventually(lambda: len(host.plugins["watcher"].worker.mailbox) == 2)
        assert [len(host.plugins[name].worker.mailbox) for name in ("gate_1", "gate_2", "gate_3")] == [0, 0, 0]
    finally:
        hold.set()
    assert answered_by(om_client, {"gateway": {"gate": "gate2", "direction": "in"}}) == ["gate_2"]
    assert answered_by(om_client, {"gateway": {"gate": "gate0", "direction": "in"}}, count=2) == ["gate_0", "watcher"]


def test_a_per_gate_request_no_plugin_wants_gets_no_reply_and_an_invalid_one_validation_error(om_host, om_client):
    om_host(*((f"gate_{n}", GatewayPlugin(f"gate{n}", "in")) for n in range(3)))
    for unwanted in ({"gate": "gate9", "direction": "in"}, {"gate": "gate1", "direction": "out"}, {"gate": "gate1"},
                     {}):
        assert answered_by(om_client, {"gateway": unwanted}, count=0) == [], unwanted
    for malformed in ({}, {"gateway": None}, {"gateway": "gate1"}, {"gateway": {"gate": 1, "direction": "in"}},
                      {"gateway": {"gate": "gate1", "direction": "sideways"}}):
        rpc_id = om_client.rpc_send(CHANNEL, TYPE, malformed)
        reply = om_client.wait_for_message(REPLIES, lambda body, rpc_id=rpc_id: body.get("rpc_id") == rpc_id)
        assert reply["response"]["status"] == "validation_error", malformed


def test_a_request_for_another_resource_wakes_no_gate_plugin(om_host, om_client):
    host = om_host(("gate_0", GatewayPlugin("gate0", "in")), ("gate_1", GatewayPlugin("gate0", "in")),
                   config={"gate_0": {"RESOURCE": "device-0"}, "gate_1": {"RESOURCE": "device-1"}})
    hold = threading.Event()
    try:
        hold_workers(host, ["gate_0"], hold)
        rpc_id = om_client.rpc_send(CHANNEL, TYPE, {"gateway": {"gate": "gate0", "direction": "in"}},
                                    resource="device-1")
        assert [reply["name"] for reply in replies_to(om_client, rpc_id, 1)] == ["gate_1"]
        assert len(host.plugins["gate_0"].worker.mailbox) == 0
    finally:
        hold.set()
