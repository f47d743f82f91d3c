"""What a plugin makes the host send is bounded: health messages, pongs, alert meta, metric label sets,
RPC replies and the messages it publishes; every cut and refusal is counted (docs/operations.md, Limits)."""

import json
import logging
import urllib.error
import urllib.request

import pytest
from openmodule_hookspecs import (
    HealthMetricType,
    HealthPongMessage,
    OpenModuleModel,
    ServerValidationError,
    ZMQMessage,
    health_error,
    hookimpl,
)
from prometheus_client.parser import text_string_to_metric_families

from openmodule_host.limits import truncate
from tests.support import eventually

MIB = 1024 * 1024


class EchoRequest(OpenModuleModel):
    size: int = 0
    raise_bytes: int = 0
    plates: list[str] = []


class EchoResponse(OpenModuleModel):
    text: str = ""


class Note(ZMQMessage):
    type: str = "note"
    text: str = ""


class Loud:
    """A plugin that says as much as the test tells it to: in its health hook, checks, metrics and RPC."""

    def __init__(self, rpc: bool = True) -> None:
        self.message: str | None = None
        self.rpc = rpc
        self.core = None

    @hookimpl
    def register_handlers(self, core):
        self.core = core
        core.health.add_check("camera", "Camera", "camera reachable")
        core.health.add_metric("queue_len", HealthMetricType.gauge, "Queue length", "pending jobs", labels=["gate"])
        core.health.add_metric("mood", HealthMetricType.str, "Mood", "what it says")
        if self.rpc:
            core.rpc_server.register_handler("big", "echo", EchoRequest, EchoResponse, self.echo)

    @hookimpl
    def health(self, core):
        return health_error(self.message) if self.message is not None else None

    @staticmethod
    def echo(request: EchoRequest, message) -> EchoResponse:
        if request.raise_bytes:
            raise RuntimeError("e" * request.raise_bytes)
        return EchoResponse(text="y" * request.size)


def healthz(host) -> dict:
    try:
        with urllib.request.urlopen(f"http://{host.http.address}/healthz", timeout=5) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as error:
        return json.loads(error.read())


def test_text_is_cut_to_its_limit_in_bytes_marker_included():
    assert truncate("short", 64) == "short"
    cut = truncate("ä" * 600, 256)
    assert cut.endswith(" ... (truncated, 1200 bytes)") and len(cut.encode()) <= 256
    assert cut.startswith("ää")


def test_an_8_mib_health_message_is_cut_in_the_pongs_healthz_and_the_alert(om_host, om_client):
    loud = Loud()
    loud.message = "m" * (8 * MIB)
    om_client.subscribe("alert")
    host = om_host(("loud", loud), http="127.0.0.1:0")
    marker = f" ... (truncated, {8 * MIB} bytes)"

    # generous timeouts: the 8 MiB message is built, cut and checked on a shared, loaded CI machine
    pong = om_client.get_health("loud", timeout=20)
    HealthPongMessage.model_validate(pong)
    assert pong["pong"]["status"] == "error" and pong["pong"]["message"].endswith(marker)
    assert len(pong["pong"]["message"].encode()) <= 1024
    assert len(json.dumps(pong)) < 8 * 1024  # the message is in the pong twice, as openmodule has it
    host_pong = om_client.get_health("openmodule_host", timeout=20)
    check = next(check for check in host_pong["checks"] if check["id"] == "plugin_loud")
    assert check["message"].startswith("degraded: m") and check["message"].endswith(marker)
    assert len(check["message"].encode()) <= 1024 + len("degraded: ")

    alert = om_client.wait_for_alert(timeout=20, alert_type="plugin_state", source="loud")
    assert alert["alert_meta"]["message"].endswith(marker) and len(alert["alert_meta"]["message"]) <= 1024
    message = healthz(host)["plugins"]["loud"]["message"]
    assert message.endswith(marker) and len(message.encode()) <= 1024
    assert host.plugins["loud"].stats.limits["health_message"] >= 1


def test_a_check_message_and_a_text_metric_are_cut_to_max_health_message_bytes(om_host, om_client):
    loud = Loud()
    host = om_host(("loud", loud), max_health_message_bytes=256)
    loud.core.health.check_fail("camera", message="c" * 5000)
    loud.core.health.metric_set("mood", "s" * 5000)

    pong = om_client.get_health("loud")
    assert pong["checks"][0]["message"].endswith("(truncated, 5000 bytes)")
    assert len(pong["checks"][0]["message"]) <= 256 and pong["pong"]["message"] == pong["checks"][0]["message"]
    mood = next(metric for metric in pong["metrics"] if metric["id"] == "mood")
    assert [len(value) <= 256 for value in mood["values"].values()] == [True]
    assert host.plugins["loud"].stats.limits["health_message"] == 2


def test_a_pong_over_max_message_bytes_goes_out_without_checks_and_metrics_but_valid(om_host, om_client):
    loud = Loud()
    host = om_host(("loud", loud), ("quiet", Loud(rpc=False)), max_message_bytes=8192)
    for number in range(100):
        loud.core.health.add_check(f"lane_{number}", f"Lane {number} " + "l" * 100)

    pong = om_client.get_health("loud")
    HealthPongMessage.model_validate(pong)
    assert (pong["checks"], pong["metrics"]) == ([], [])
    assert pong["pong"]["status"] == "error" and "checks and metrics are left out" in pong["pong"]["message"]
    assert host.plugins["loud"].stats.limits["pong"] == 1
    assert om_client.get_health("quiet")["checks"] and om_client.get_health("openmodule_host")["checks"]


def test_a_metric_keeps_at_most_max_metric_label_sets_and_refusals_are_logged_once(om_host, om_client, caplog):
    loud = Loud()
    host = om_host(("loud", loud), max_metric_label_sets=3)
    with caplog.at_level(logging.ERROR):
        for gate in "abcdef":
            loud.core.health.metric_set("queue_len", 1, gate=gate)
    loud.core.health.metric_set("queue_len", 7, gate="a")  # a known label set still changes

    metric = next(metric for metric in om_client.get_health("loud")["metrics"] if metric["id"] == "queue_len")
    assert metric["values"] == {f'{{"compute_id":"1","gate":"{gate}"}}': value for gate, value in
                                (("a", 7), ("b", 1), ("c", 1))}
    assert host.plugins["loud"].stats.limits["metric_label_sets"] == 3
    refused = [record for record in caplog.records if "max_metric_label_sets" in record.getMessage()]
    assert len(refused) == 1


def test_an_alert_meta_over_the_limit_raises_to_the_plugin_and_changes_nothing(om_host, om_client):
    loud = Loud()
    host = om_host(("loud", loud), max_alert_meta_bytes=1024)
    om_client.subscribe("alert")
    with pytest.raises(ValueError, match=r"alert meta is \d+ bytes as JSON, .*max_alert_meta_bytes"):
        loud.core.alerts.send("camera_offline", "state_change", meta={"dump": "d" * 2000})
    om_client.assert_no_message("alert", timeout=0.3)
    assert loud.core.alerts.send("camera_offline", "state_change", meta={"ip": "10.1.2.3"})  # still a first send
    assert om_client.wait_for_alert(alert_type="camera_offline")["alert_meta"] == {"ip": "10.1.2.3", "sender": "loud"}
    assert host.plugins["loud"].stats.limits["alert_meta"] == 1


def test_publishing_a_body_over_max_message_bytes_raises_and_is_counted(om_host, om_client):
    loud = Loud()
    host = om_host(("loud", loud), max_message_bytes=4096)
    om_client.subscribe("notes")
    with pytest.raises(ValueError, match=r"message for topic 'notes' is \d+ bytes, .*max_message_bytes"):
        loud.core.publish(Note(text="n" * 5000), "notes")
    loud.core.publish(Note(text="fits"), "notes")
    assert om_client.wait_for_message("notes")["text"] == "fits"
    assert host.plugins["loud"].stats.limits["publish"] == 1


def test_an_rpc_request_over_max_message_bytes_raises_and_is_counted_and_nothing_is_sent(om_host, om_client):
    loud = Loud()
    host = om_host(("loud", loud), max_message_bytes=4096)
    om_client.subscribe("rpc-req-echo")
    with pytest.raises(ValueError, match=r"RPC echo/echo request is \d+ bytes, .*max_message_bytes"):
        loud.core.rpc_client.rpc_non_blocking("echo", "echo", {"text": "n" * 5000})
    om_client.assert_no_message("rpc-req-echo", timeout=0.3)
    assert host.plugins["loud"].stats.limits["rpc_request"] == 1


def test_a_validation_error_does_not_echo_a_megabyte_back(om_host, om_client):
    loud = Loud()
    host = om_host(("loud", loud))
    exception = om_client.rpc("big", "echo", {"size": "x" * MIB})["response"]["exception"]
    assert len(exception.encode()) <= 4096
    (error,) = json.loads(exception)  # still pydantic's JSON array
    assert error["loc"] == ["size"] and error["input"].endswith(f"(truncated, {MIB + 2} bytes)")

    reply = om_client.rpc("big", "echo", {"plates": [1] * 20_000}, timeout=10)
    errors = json.loads(reply["response"]["exception"])
    assert errors[0]["loc"] == ["plates", 0] and errors[-1]["type"] == "too_many_errors"
    assert errors[-1]["msg"] == f"{20_000 - len(errors) + 1} more error(s) not shown"
    small = om_client.rpc("big", "echo", {"size": "nope"})["response"]["exception"]
    assert '"url":"https://errors.pydantic.dev' in small  # what fits goes out as openmodule sends it
    with pytest.raises(ServerValidationError, match="truncated"):
        loud.core.rpc_client.rpc("big", "echo", {"size": "x" * 10_000}, EchoResponse)
    assert host.plugins["loud"].stats.limits["rpc_error"] == 3


def test_a_handler_error_text_is_cut_to_max_error_bytes(om_host, om_client):
    om_host(("loud", Loud()), max_error_bytes=512)
    response = om_client.rpc("big", "echo", {"raise_bytes": 100_000})["response"]
    assert response["status"] == "handler_error"
    assert response["exception"].endswith("(truncated, 100000 bytes)") and len(response["exception"]) <= 512


def test_a_response_over_max_message_bytes_becomes_a_handler_error(om_host, om_client):
    host = om_host(("loud", Loud()), max_message_bytes=65536)
    response = om_client.rpc("big", "echo", {"size": 100_000})["response"]
    assert response["status"] == "handler_error"
    assert "more than the limit of 65536 (max_message_bytes)" in response["exception"]
    assert om_client.rpc("big", "echo", {"size": 10})["response"] == {"text": "y" * 10, "status": "ok"}
    assert host.plugins["loud"].stats.limits["rpc_reply"] == 1


def test_limit_hits_are_exposed_per_plugin_and_limit_in_prometheus(om_host):
    loud = Loud()
    host = om_host(("loud", loud), http="127.0.0.1:0")
    with pytest.raises(ValueError):
        loud.core.publish(Note(text="n" * (5 * MIB)), "notes")

    def hits() -> dict:
        with urllib.request.urlopen(f"http://{host.http.address}/metrics", timeout=5) as response:
            text = response.read().decode()
        family = next(family for family in text_string_to_metric_families(text)
                      if family.name == "openmodule_host_limit_hits")
        return {(sample.labels["plugin"], sample.labels["limit"]): sample.value for sample in family.samples
                if sample.name.endswith("_total")}

    eventually(lambda: hits() == {("loud", "publish"): 1.0})
