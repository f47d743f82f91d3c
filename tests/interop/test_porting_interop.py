"""The two ported example plugins in a real ``openmodule-host`` process, against a real openmodule 18.5.0 service.

One garage, as ``plugins_example/garage.toml`` describes it: the host runs ``gate_in`` and ``gate_out`` (two
instances of ``om_welcome``; gate_in's gate ``in-2`` comes from the environment, ``GATE_IN__GATE``) and
``om_access_demo``; the openmodule service ``om_interop_1`` (``peers/openmodule_service.py``, its own process)
serves ``plates``/``lookup`` (plates starting with "G" are known) and talks to them. A wire tap sees every
frame on the broker.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from openmodule_host.testing import free_tcp_address
from tests.support import HostProcess

from .peer import OpenModulePeer
from .wire_tap import WireTap

pytestmark = pytest.mark.interop

SERVICE = "om_interop_1"
GATE_IN, GATE_OUT, ACCESS = "om_welcome_in_1", "om_welcome_out_1", "om_access_demo_1"
GARAGE_TOML = f"""
[plugins.gate_in]
plugin = "om_welcome"
NAME = "{GATE_IN}"
lookup_timeout = 2.0

[plugins.gate_out]
plugin = "om_welcome"
NAME = "{GATE_OUT}"
gate = "out-1"
welcome_text = "Goodbye"
lookup_timeout = 2.0

[plugins.om_access_demo]
NAME = "{ACCESS}"
"""


@dataclass
class Garage:
    host: HostProcess
    service: OpenModulePeer
    tap: WireTap


@pytest.fixture(scope="module")
def garage(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Garage]:
    config = tmp_path_factory.mktemp("garage") / "garage.toml"
    config.write_text(GARAGE_TOML)
    broker = {"BROKER_SUB": free_tcp_address(), "BROKER_PUB": free_tcp_address()}
    with contextlib.ExitStack() as stack:
        host = stack.enter_context(HostProcess(
            ["--plugins", "gate_in,gate_out,om_access_demo", "--config", str(config)],
            env={**broker, "GATE_IN__GATE": "in-2"}))
        stack.callback(host.stop)
        host.wait_ready()
        service = stack.enter_context(OpenModulePeer(SERVICE, broker["BROKER_SUB"], broker["BROKER_PUB"]))
        service.wait_ready()
        service.serve_rpc("plates", "lookup")
        tap = WireTap(broker["BROKER_SUB"], broker["BROKER_PUB"])
        stack.callback(tap.close)
        yield Garage(host, service, tap)


def assert_not_on_the_wire(tap: WireTap, topic: str, predicate: Callable[[bytes], bool], timeout: float = 1.0) -> None:
    """Nothing on ``topic`` matching ``predicate`` was sent, nor arrives within ``timeout``."""
    try:
        body = tap.wait_for(topic, predicate, timeout)
    except AssertionError:
        return
    raise AssertionError(f"unexpected message on {topic!r}: {body!r}")


def greet(garage: Garage, gate: str, plate: str | None = None, timeout: float | None = None) -> dict[str, Any]:
    request = {"gate": gate} if plate is None else {"gate": gate, "plate": plate}
    return garage.service.rpc("welcome", "greet", request, timeout=timeout)


# -- RPC both ways ---------------------------------------------------------------------------------------------

def test_openmodule_calls_the_shared_greet_rpc_and_only_that_gates_instance_answers_on_the_wire(garage):
    result = greet(garage, "out-1")

    assert result["ok"], result
    assert result["response"] == {"gate": "out-1", "text": "Goodbye!", "known": False, "status": "ok"}
    request = json.loads(garage.tap.wait_for("rpc-req-welcome", lambda body: b'"out-1"' in body))
    rpc_id = request["rpc_id"].encode()
    reply = json.loads(garage.tap.wait_for("rpc-rep-welcome", lambda body: rpc_id in body))
    assert reply["name"] == GATE_OUT
    # gate_in got the same request (both instances serve welcome/greet) and sent nothing
    assert_not_on_the_wire(garage.tap, "rpc-rep-welcome", lambda body: rpc_id in body and GATE_IN.encode() in body)
    replies = [body for topic, body in garage.tap.frames if topic == b"rpc-rep-welcome" and rpc_id in body]
    assert len(replies) == 1


def test_the_gate_of_an_instance_comes_from_its_environment_variable(garage):
    result = greet(garage, "in-2")
    assert result["ok"], result
    assert result["response"]["gate"] == "in-2"
    assert greet(garage, "in-1", timeout=0.5)["error"] == "RPCClient.TimeoutError"  # the default, overridden

    assert greet(garage, "lane-9", timeout=0.5)["error"] == "RPCClient.TimeoutError"  # no instance has that gate


def test_the_plugin_asks_openmodules_lookup_rpc_and_welcomes_a_known_plate_by_plate(garage):
    result = greet(garage, "out-1", plate="G ARIVO1")

    assert result["response"] == {"gate": "out-1", "text": "Goodbye, G ARIVO1!", "known": True, "status": "ok"}
    asked = garage.service.wait_for_event(
        lambda event: event["event"] == "rpc_request" and event["message"]["request"] == {"plate": "G ARIVO1"})
    assert (asked["channel"], asked["message"]["name"], asked["message"]["type"]) == ("plates", GATE_OUT, "lookup")
    assert greet(garage, "out-1", plate="W 12345")["response"]["text"] == "Goodbye!"  # not known by the service


# -- pub/sub both ways -----------------------------------------------------------------------------------------

def test_a_vehicle_openmodule_announces_at_a_gate_is_welcomed_on_that_gates_display(garage):
    garage.service.subscribe("display", type="text")

    garage.service.publish("present_vehicle", {
        "type": "enter", "vehicle_id": "1717236006900000000", "gate": "out-1", "enter_direction": "forward",
        "lpr_front": {"source": "hw_cam_1", "plate": "GARIVO1", "country": "A", "state": "G", "track_id": 17},
        "enter_time": "2024-06-01T10:00:06",
    }, model="PresentVehicleEnterMessage")

    shown = garage.service.wait_for_message("display", lambda message: message["text"].startswith("Goodbye"),
                                            timeout=5)["message"]
    assert (shown["name"], shown["gate"], shown["text"]) == (GATE_OUT, "out-1", "Goodbye, GARIVO1!")


# -- health ----------------------------------------------------------------------------------------------------

def test_openmodule_pings_and_gets_a_pong_from_each_instance_under_its_own_name(garage):
    garage.service.subscribe("healthpong", type="healthz", model="HealthPongMessage")
    greet(garage, "out-1", plate="G ARIVO1")  # a successful lookup: gate_out's lookup check is ok

    garage.service.publish("healthz", {"type": "ping", "ping": "ping"})

    pongs: dict[str, dict[str, Any]] = {}
    while len(pongs) < 4:  # three plugin instances and the host (the service's own pong is not counted)
        event = garage.service.wait_for_message(
            "healthpong", lambda pong: pong["name"] != SERVICE and pong["name"] not in pongs, timeout=5)
        pongs[event["message"]["name"]] = event["message"]
    assert set(pongs) == {GATE_IN, GATE_OUT, ACCESS, "openmodule_host"}
    gate_out = pongs[GATE_OUT]
    assert gate_out["pong"]["status"] == "ok"
    assert [(check["id"], check["state"]) for check in gate_out["checks"] if check["id"] == "lookup"] == [
        ("lookup", "ok")]
    assert {metric["id"] for metric in pongs[GATE_IN]["metrics"]} >= {"greetings"}
    assert {metric["id"] for metric in pongs[ACCESS]["metrics"]} >= {"accesses"}


# -- the access service ----------------------------------------------------------------------------------------

def test_openmodule_sets_accesses_and_reads_the_access_services_answer_with_its_own_model(garage):
    stored = garage.service.rpc("access_demo", "set", {"name": ACCESS, "accesses": {
        "acc-1": {"plate": "G-ARIVO 1", "infos": {"customer": "Arivo"}}}})
    assert stored["response"] == {"changed": 1, "total": 1, "status": "ok"}

    result = garage.service.rpc("access_service", "auth", {
        "name": ACCESS, "gate": "in-1", "vehicle_data": {"vehicle_id": "7", "lpr_front": {"plate": "GARIVO1",
                                                                                          "country": "A"}}},
        request_model="AccessCheckRequest", response_model="AccessCheckResponse")

    assert result["ok"], result
    [access] = result["response"]["accesses"]
    assert (access["id"], access["source"], access["accepted"]) == ("acc-1", ACCESS, True)
    assert access["access_data"] == {"plate": "G-ARIVO 1", "customer": "Arivo"}
