"""The legacy backend wire between plugins in ``openmodule-host`` and real openmodule 10.0.7 services.

On one broker: ``om_controller_1``, a 10.0.7 service playing the V2 controller (its ``RPCClient`` asks
``backend``/``auth`` and reads the answer with its own ``AccessResponse``; it publishes ``register_request``,
``count`` and ``session`` messages with its own models); ``om_backend10_1``, a 10.0.7 ``Backend`` subclass;
and a host with three plugins: ``om_plates_1`` (a ``Backend`` subclass of ours), ``om_whitelist_1`` (an 18.x
``check_access`` hook, converted) and ``counter`` (count and session hooks only).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from openmodule_host.host import Host
from openmodule_host.testing import PrivateBroker, start_host
from tests.support import eventually
from tests.test_access import COUNT, Whitelist
from tests.test_legacy_backend import ERRORS, FINISH, START, Counting, PlateBackend

from .peer import Event, OpenModulePeer

pytestmark = pytest.mark.interop

CONTROLLER, BACKEND10 = "om_controller_1", "om_backend10_1"
PLATES, WHITELIST = "om_plates_1", "om_whitelist_1"
LPR = {"gateway": {"gate": "entry1", "direction": "in"}, "medium_type": "lpr", "id": "GARIVO1"}


@dataclass
class Garage:
    broker: PrivateBroker
    host: Host
    plates: PlateBackend
    counting: Counting
    controller: OpenModulePeer
    backend10: OpenModulePeer


@pytest.fixture(scope="module")
def garage() -> Iterator[Garage]:
    with contextlib.ExitStack() as stack:
        broker = PrivateBroker()
        stack.callback(broker.close)
        controller = stack.enter_context(
            OpenModulePeer(CONTROLLER, broker.sub_address, broker.pub_address, legacy=True))
        controller.wait_ready()
        controller.command("subscribe", "subscribed", topic="backend")
        backend10 = stack.enter_context(OpenModulePeer(BACKEND10, broker.sub_address, broker.pub_address, legacy=True))
        backend10.wait_ready()
        backend10.command("backend", "backend_ready", timeout=15)
        plates, counting = PlateBackend(), Counting()
        host = start_host(broker, [("plates", plates), ("whitelist", Whitelist()), ("counter", counting)],
                          config={"plates": {"NAME": PLATES}, "whitelist": {"NAME": WHITELIST}})
        stack.callback(host.stop)
        yield Garage(broker, host, plates, counting, controller, backend10)


def registration(peer: OpenModulePeer, name: str, type: str, timeout: float = 5.0) -> Event:
    return peer.wait_for_message("backend", lambda body: body["name"] == name and body["type"] == type, timeout)


def ask(garage: Garage, name: str, medium: dict[str, Any] | None = None, timeout: float = 3.0) -> Event:
    return garage.controller.command("auth", "auth_result", timeout=timeout + 5,
                                     request={"name": name, **(medium or LPR)}, rpc_timeout=timeout)


def test_each_backend_registers_at_start_and_on_the_controllers_request(garage):
    registration(garage.controller, PLATES, "register")
    registration(garage.controller, WHITELIST, "register")
    garage.controller.publish("backend", {"type": "register_request"}, model="BackendRegisterRequestMessage")
    for name in (PLATES, WHITELIST, BACKEND10):
        registration(garage.controller, name, "register")
    with pytest.raises(AssertionError):  # the count and session plugin serves no backend/auth: never registers
        registration(garage.controller, "counter", "register", timeout=0.5)


def test_the_controller_reads_a_plugin_backends_answer_with_its_own_model(garage):
    result = ask(garage, PLATES)
    assert (result["ok"], result["status"]) == (True, "ok")
    assert result["response"] == {"success": True, "medium": {"id": "GARIVO1", "type": "lpr", "accesses": [
        {"category": "permanent-employee", "start": 1704067200.0, "occupant_check": False, "infos": {},
         "cost_entries": [], "user": f"{PLATES}-GARIVO1"}]}}
    assert ask(garage, PLATES, {"medium_type": "nfc", "id": "W-CARD"})["response"]["medium"]["accesses"] == []


def test_an_18x_access_service_plugin_answers_the_controller_converted(garage):
    response = ask(garage, WHITELIST)["response"]
    assert response["success"] is True
    assert [(access["category"], access["user"], access["start"]) for access in response["medium"]["accesses"]] == [
        ("permanent-employee", "acc-GARIVO1", 0.0)]


def test_a_10x_backend_and_a_plugin_backend_answer_side_by_side_each_for_its_name(garage):
    own = ask(garage, BACKEND10)["response"]
    assert [access["user"] for access in own["medium"]["accesses"]] == [f"{BACKEND10}-GARIVO1"]
    seen = garage.backend10.wait_for_event(
        lambda event: event["event"] == "backend_call" and event["message"].get("id") == "GARIVO1", 3.0,
        "check_access call")
    assert seen["message"]["name"] == BACKEND10

    plates = ask(garage, PLATES)["response"]
    assert [access["user"] for access in plates["medium"]["accesses"]] == [f"{PLATES}-GARIVO1"]
    with pytest.raises(AssertionError):  # the 10.x backend was not asked for the plugin's name
        garage.backend10.wait_for_event(lambda event: event["event"] == "backend_call"
                                        and event["message"].get("name") == PLATES, 0.5)
    assert ask(garage, "om_nobody", timeout=0.5)["error"] == "TimeoutError"


def test_the_controllers_counts_reach_both_backends(garage):
    garage.controller.publish("count", COUNT, model="CountMessage")
    garage.controller.publish("count", {**COUNT, "gateway": {"gate": "exit1", "direction": "out"},
                                        "transaction_id": "t-out"}, model="CountMessage")
    eventually(lambda: ("out", PLATES, "t-out") in garage.plates.counted)
    assert ("in", PLATES, "t-991") in garage.plates.counted
    for method in ("check_in", "check_out"):
        garage.backend10.wait_for_event(lambda event, method=method: event["event"] == "backend_call"
                                        and event["method"] == method, 3.0, method)


def test_the_controllers_session_messages_reach_the_session_hooks(garage):
    models = ["SessionStartMessage", "SessionFinishMessage", "SessionDeleteMessage",
              "SessionExitWithoutEntryMessage", "SessionIncompleteMessage"]
    for message, model in zip((START, FINISH, *ERRORS), models, strict=True):
        garage.controller.publish("session", message, model=model)
    eventually(lambda: len([got for got in garage.counting.got if got[0] != "check_in"]) == 5)
    sessions = [(hook, type(message).__name__, message.name) for hook, message in garage.counting.got
                if hook != "check_in"]
    assert sessions == [("check_in_session", "SessionStartMessage", CONTROLLER),
                        ("check_out_session", "SessionFinishMessage", CONTROLLER),
                        ("session_error", "SessionDeleteMessage", CONTROLLER),
                        ("session_error", "SessionExitWithoutEntryMessage", CONTROLLER),
                        ("session_error", "SessionIncompleteMessage", CONTROLLER)]

    def calls_of_the_10x_backend() -> list[str]:
        return [event["method"] for event in list(garage.backend10.events) if event["event"] == "backend_call"
                and event["method"].endswith(("session", "session_error_message"))]

    eventually(lambda: len(calls_of_the_10x_backend()) == 5)
    assert calls_of_the_10x_backend() == ["check_in_session", "check_out_session", "session_error_message",
                                          "session_error_message", "session_error_message"]


def test_a_stopping_host_unregisters_its_backends(garage):
    host = start_host(garage.broker, [("plates", PlateBackend())], config={"plates": {"NAME": "om_plates_2"}})
    registration(garage.controller, "om_plates_2", "register")
    host.stop()
    registration(garage.controller, "om_plates_2", "unregister")
