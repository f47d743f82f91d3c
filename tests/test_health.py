"""Health per plugin and for the host (wire-protocol.md 5.1), the health hook, and plugin states."""

import threading
import time

import pytest
from openmodule_hookspecs import HealthMetricType, HealthPongMessage, health_error, health_ok, hookimpl

from tests.support import eventually
from tests.support.plugins import Blocker, Ping, Recorder


class Healthy(Recorder):
    """Registers a check and metrics; its health hook answers what the test sets."""

    def __init__(self, result=None, raises=False, hangs=0.0):
        super().__init__()
        self.result, self.raises, self.hangs = result, raises, hangs

    @hookimpl
    def register_handlers(self, core):
        super().register_handlers(core)
        core.health.add_check("camera", "Camera", "camera reachable")
        core.health.add_metric("queue_len", HealthMetricType.gauge, "Queue length", "pending jobs", labels=["gate"])
        core.health.add_metric("seen", HealthMetricType.count, "Seen", "vehicles seen")

    @hookimpl
    def health(self, core):
        if self.hangs:
            time.sleep(self.hangs)
        if self.raises:
            raise RuntimeError("sensor bus gone")
        return self.result


def test_every_running_plugin_and_the_host_answer_a_ping_with_their_own_pong(om_host, om_client):
    om_host(("a", Recorder()), ("b", Recorder()), config={"a": {"NAME": "om_a_1"}})
    for name in ("om_a_1", "b", "openmodule_host"):
        pong = om_client.get_health(name)
        assert pong["type"] == "healthz"
        assert pong["pong"]["name"] == name and pong["pong"]["status"] == "ok"
        assert isinstance(pong["metrics"], list) and isinstance(pong["checks"], list)
        HealthPongMessage.model_validate(pong)
    assert om_client.get_health("b")["pong"]["version"] == "0.0.0"


def test_a_plugin_pong_has_openmodules_exact_shape(om_host, om_client):
    healthy = Healthy()
    om_host(("cam", healthy), config={"cam": {"NAME": "om_demo_1"}})
    healthy.core.health.check_fail("camera", message="camera offline")
    healthy.core.health.metric_set("queue_len", 4, gate="entry1")
    healthy.core.health.metric_inc("seen")

    pong = om_client.get_health("om_demo_1")

    assert list(pong) == ["timestamp", "name", "type", "pong", "metrics", "checks"]
    assert pong["pong"]["status"] == "error" and pong["pong"]["message"] == "camera offline"
    assert isinstance(pong["pong"]["startup"], str) and "T" in pong["pong"]["startup"]
    assert pong["checks"][0] == {"id": "camera", "package": "om_demo_1", "state": "fail", "name": "Camera",
                                 "description": "camera reachable", "message": "camera offline"}
    metrics = {metric["id"]: metric for metric in pong["metrics"]}
    assert metrics["queue_len"] == {
        "id": "queue_len", "name": "Queue length", "description": "pending jobs", "type": "gauge",
        "labels": ["gate"], "values": {'{"compute_id":"1","gate":"entry1"}': 4}, "package": "om_demo_1"}
    assert metrics["seen"]["values"] == {'{"compute_id":"1"}': 1}


def test_a_check_back_to_success_clears_its_message(om_host, om_client):
    healthy = Healthy()
    om_host(("cam", healthy))
    healthy.core.health.check_fail("camera", message="offline")
    healthy.core.health.check_success("camera", message="ignored")
    pong = om_client.get_health("cam")
    assert pong["pong"]["status"] == "ok" and "message" not in pong["pong"]
    assert pong["checks"][0]["state"] == "ok" and "message" not in pong["checks"][0]


def test_only_type_ping_is_answered(om_host, om_client):
    om_host(("a", Recorder()))
    om_client.subscribe("healthpong")
    om_client.publish("healthz", {"type": "pingX"})
    om_client.assert_no_message("healthpong", timeout=0.5)


def test_metric_misuse_raises_under_testing_and_is_logged_otherwise(om_host, caplog):
    strict, lenient = Healthy(), Healthy()
    om_host(("strict", strict), ("lenient", lenient), config={"strict": {"TESTING": True}})
    with pytest.raises(ValueError, match="cannot be decreased"):
        strict.core.health.metric_dec("seen")
    with pytest.raises(ValueError, match="labels do not match"):
        strict.core.health.metric_set("queue_len", 1, lane="x")
    with pytest.raises(ValueError, match="not registered"):
        strict.core.health.metric_inc("nope")
    with pytest.raises(ValueError, match="cannot be set to a non-numeric"):
        strict.core.health.metric_set("queue_len", "full", gate="entry1")
    with pytest.raises(ValueError, match="not registered"):
        strict.core.health.check_fail("nope")
    lenient.core.health.metric_dec("seen")
    assert "metric ('seen', 'lenient') of type count cannot be decreased" in caplog.text


def test_metric_values_can_be_removed_and_cleared(om_host, om_client):
    healthy = Healthy()
    om_host(("cam", healthy))
    health = healthy.core.health
    for gate in ("a", "b", "c"):
        health.metric_set("queue_len", 1, gate=gate)
    health.metric_set("queue_len", None, gate="a")
    health.metric_clear("queue_len", values_to_keep=[{"gate": "b"}])
    metric = next(m for m in om_client.get_health("cam")["metrics"] if m["id"] == "queue_len")
    assert metric["values"] == {'{"compute_id":"1","gate":"b"}': 1}


@pytest.mark.parametrize(
    ("plugin", "status", "message"),
    [
        (Healthy(result=health_ok(meta={"x": 1})), "ok", None),
        (Healthy(result=health_error("disk full")), "error", "disk full"),
        (Healthy(raises=True), "error", "the health hook raised RuntimeError: sensor bus gone"),
        (Healthy(result="nonsense"), "error", "the health hook returned 'nonsense', expected health_ok()"),
    ],
)
def test_the_health_hook_decides_the_plugins_health_check(om_host, om_client, plugin, status, message):
    om_host(("p", plugin))
    pong = om_client.get_health("p")
    check = next(check for check in pong["checks"] if check["id"] == "health")
    assert pong["pong"]["status"] == status
    assert check["state"] == ("ok" if status == "ok" else "fail")
    if message:
        assert check["message"].startswith(message)


def test_a_hanging_health_hook_is_reported_without_delaying_the_other_pongs(om_host, om_client):
    om_host(("slow", Healthy(hangs=5)), ("fine", Healthy(result=health_ok())), health_timeout=0.3)
    started = time.monotonic()
    fine = om_client.get_health("fine")
    slow = om_client.get_health("slow")
    assert time.monotonic() - started < 1.5
    assert fine["pong"]["status"] == "ok"
    assert slow["pong"]["message"] == "the health hook did not return within 0.3 s"
    # the next ping does not call the hung hook again: it is reported as still running
    assert om_client.get_health("slow")["pong"]["message"] == "the health hook is still running since an earlier ping"


def test_a_stuck_handler_does_not_stop_the_pongs_and_shows_the_plugin_degraded(om_host, om_client):
    blocker = Blocker(hold=10)
    host = om_host(("stuck", blocker), ("fine", Recorder()), stall_after=0.2)
    om_client.publish("t", Ping(seq=1))
    assert blocker.entered.wait(5)
    time.sleep(0.3)
    try:
        assert om_client.get_health("stuck")["pong"]["status"] == "ok"  # answered although its worker is stuck
        checks = {check["id"]: check for check in om_client.get_health("openmodule_host")["checks"]}
    finally:
        blocker.release.set()
    assert checks["plugin_stuck"]["state"] == "fail"
    assert checks["plugin_stuck"]["message"].startswith("degraded: a handler has been running for")
    assert checks["plugin_fine"]["state"] == "ok"
    eventually(lambda: [status.state for status in host.statuses()] == ["running", "running"])


def test_the_host_pong_shows_failed_plugins_and_per_plugin_metrics(om_host, om_client):
    class Broken:
        @hookimpl
        def register_handlers(self, core):
            raise RuntimeError("no camera")

    host = om_host(("broken", Broken()), ("rec", Recorder()), strict=False)
    om_client.publish("t", Ping(seq=1))
    eventually(lambda: host.plugins["rec"].stats.handled == 1)
    pong = om_client.get_health("openmodule_host")
    checks = {check["id"]: check for check in pong["checks"]}
    assert pong["pong"]["status"] == "error"
    assert checks["plugin_broken"]["message"] == "failed: register_handlers raised RuntimeError: no camera"
    metrics = {metric["id"]: metric for metric in pong["metrics"]}
    assert metrics["plugin_messages_handled"]["values"]['{"compute_id":"1","plugin":"rec"}'] == 1
    assert set(metrics) >= {"plugin_handler_errors", "plugin_mailbox_depth", "plugin_mailbox_dropped",
                            "plugin_rpcs_served", "plugin_rpcs_failed", "plugin_busy_seconds"}
    assert not any(pong["name"] == "broken" for pong in om_client.received("healthpong"))


def test_pings_are_answered_while_many_arrive_at_once(om_host, om_client):
    host = om_host(("a", Recorder()))
    om_client.subscribe("healthpong")
    for _ in range(10):
        om_client.publish("healthz", {"type": "ping"})
    eventually(lambda: host.health.answered + host.health.dropped == 10)
    assert threading.active_count() < 50
