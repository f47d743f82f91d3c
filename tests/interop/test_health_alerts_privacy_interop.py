"""Health, alerts and privacy between plugins in the host and a real openmodule 18.5.0 service.

The host runs in this process; the openmodule service in its own (``peer.py``). Every message the
service receives is validated into openmodule's own model (``HealthPongMessage``, ``AlertMessage``).
"""

from __future__ import annotations

import pytest
from openmodule_hookspecs import HealthMetricType, health_error, hookimpl

from tests.support import eventually
from tests.support.plugins import Recorder

pytestmark = pytest.mark.interop


class Camera(Recorder):
    """A check, a labelled metric, a health hook, alerts and an anonymize hook."""

    def __init__(self, healthy=True):
        super().__init__()
        self.healthy = healthy
        self.anonymized = []

    @hookimpl
    def register_handlers(self, core):
        super().register_handlers(core)
        core.health.add_check("camera", "Camera", "camera reachable")
        core.health.add_metric("queue_len", HealthMetricType.gauge, "Queue length", "pending", labels=["gate"])
        core.health.metric_set("queue_len", 3, gate="entry1")

    @hookimpl
    def health(self, core):
        return None if self.healthy else health_error("lens dirty")

    @hookimpl
    def anonymize(self, core, message):
        self.anonymized.append((message.session_id, message.vehicle_ids))


@pytest.fixture
def garage(om_host, om_broker, openmodule_peer):
    good, bad = Camera(), Camera(healthy=False)
    om_host(("good", good), ("bad", bad), config={"good": {"NAME": "om_cam_1"}, "bad": {"NAME": "om_cam_2"}})
    service = openmodule_peer(om_broker.env, name="om_health_1")
    return good, bad, service


def test_openmodule_reads_and_validates_one_pong_per_plugin_and_one_for_the_host(garage):
    good, _, service = garage
    good.core.health.check_fail("camera", message="camera offline")
    service.subscribe("healthpong", type="healthz", model="HealthPongMessage")

    service.publish("healthz", {"type": "ping", "ping": "ping"})

    pongs = {}
    for _ in range(3):  # the service answers its own ping too: not counted here
        event = service.wait_for_message("healthpong", lambda pong: pong["name"] != "om_health_1")
        pongs[event["message"]["name"]] = event
    assert set(pongs) == {"om_cam_1", "om_cam_2", "openmodule_host"}
    assert {event["model"] for event in pongs.values()} == {"HealthPongMessage"}
    first = pongs["om_cam_1"]["message"]
    assert (first["pong"]["status"], first["pong"]["message"]) == ("error", "camera offline")
    assert first["metrics"][0]["values"] == {'{"compute_id":"1","gate":"entry1"}': 3}
    assert pongs["om_cam_2"]["message"]["pong"]["message"] == "lens dirty"
    host = pongs["openmodule_host"]["message"]
    assert (host["pong"]["status"], host["pong"]["message"]) == ("error", "degraded: lens dirty")


def test_alerts_from_a_plugin_validate_against_openmodules_alert_model(garage):
    good, _, service = garage
    service.subscribe("alert", type="alert", model="AlertMessage")

    good.core.alerts.send("camera_offline", "state", source="cam_entry", meta={"ip": "10.1.2.3"}, value=1)

    event = service.wait_for_message("alert")
    assert event["model"] == "AlertMessage"
    alert = event["message"]
    assert (alert["name"], alert["package"], alert["alert_type"], alert["handle_type"]) == (
        "om_cam_1", "om_cam_1", "camera_offline", "state")
    assert alert["alert_meta"] == {"ip": "10.1.2.3", "sender": "om_cam_1"} and alert["value"] == 1.0


def test_an_anonymize_request_from_openmodule_reaches_every_plugin_that_opted_in(garage):
    good, bad, service = garage
    service.publish("privacy", {"type": "anonymize", "session_id": "s-42", "vehicle_ids": ["17"]},
                    model="AnonymizeMessage")
    eventually(lambda: good.anonymized == [("s-42", ["17"])] and bad.anonymized == [("s-42", ["17"])])
