"""core.alerts with openmodule's semantics, and the host's own alerts about its plugins."""

import time

import pytest
from openmodule_hookspecs import AlertMessage, hookimpl

from tests.support import eventually
from tests.support.plugins import Blocker, Ping, Recorder


@pytest.fixture
def alerts(om_host, om_client):
    recorder = Recorder()
    om_host(("cams", recorder), config={"cams": {"NAME": "om_cams_1"}})
    om_client.subscribe("alert")
    return recorder.core.alerts, om_client


def test_an_alert_is_published_on_its_first_send_with_the_sender_in_its_meta(alerts):
    core_alerts, client = alerts
    assert core_alerts.send("camera_offline", "state", source="cam_entry", meta={"camera_ip": "10.1.2.3"}, value=1)
    alert = client.wait_for_message("alert")
    assert {key: value for key, value in alert.items() if key != "timestamp"} == {
        "name": "om_cams_1", "type": "alert", "status": "error",
        "alert_meta": {"camera_ip": "10.1.2.3", "sender": "om_cams_1"}, "package": "om_cams_1",
        "alert_type": "camera_offline", "source": "cam_entry", "handle_type": "state", "value": 1.0,
    }
    AlertMessage.model_validate(alert)


def test_only_a_status_change_is_published_unless_always_send(alerts):
    core_alerts, client = alerts
    assert core_alerts.send("gate_stuck", "state_change", status="error")
    assert not core_alerts.send("gate_stuck", "state_change", status="error")
    assert core_alerts.send("gate_stuck", "state_change", status="ok")
    assert [alert["status"] for alert in (client.wait_for_message("alert"), client.wait_for_message("alert"))] == [
        "error", "ok"]
    client.assert_no_message("alert", timeout=0.3)

    assert core_alerts.send("vehicle_count", "count", always_send_alert=True)
    assert core_alerts.send("vehicle_count", "count", always_send_alert=True)


def test_alert_ids_are_per_source_type_handle_type_and_package(alerts):
    core_alerts, _ = alerts
    first = core_alerts.get_or_add_alert_id("camera_offline", "state", source="cam1")
    assert core_alerts.get_or_add_alert_id("camera_offline", "state", source="cam1") == first
    others = {
        core_alerts.get_or_add_alert_id("camera_offline", "state", source="cam2"),
        core_alerts.get_or_add_alert_id("camera_offline", "count", source="cam1"),
        core_alerts.get_or_add_alert_id("camera_offline", "state", source="cam1", package_name="hw_cam_1"),
    }
    assert first not in others and len(others) == 3
    assert core_alerts.send_with_alert_id(first, "offline", {"x": 1}, value=0.0)


def test_state_alerts_need_a_value_and_types_must_be_snake_case(alerts):
    core_alerts, _ = alerts
    with pytest.raises(ValueError, match="value must not be None"):
        core_alerts.send("camera_offline", "state")
    with pytest.raises(ValueError, match="contains '-'"):
        core_alerts.send("camera-offline", "count")


def test_the_host_alerts_when_a_plugin_fails_to_start(om_host, om_client):
    class Broken:
        @hookimpl
        def register_handlers(self, core):
            raise RuntimeError("no camera")

    om_client.subscribe("alert")
    om_host(("broken", Broken()), strict=False)
    alert = om_client.wait_for_message("alert")
    assert (alert["name"], alert["alert_type"], alert["source"], alert["status"]) == (
        "openmodule_host", "plugin_state", "broken", "error")
    assert alert["alert_meta"]["message"] == "register_handlers raised RuntimeError: no camera"


def test_the_host_alerts_while_a_plugin_is_degraded_and_again_when_it_recovers(om_host, om_client):
    blocker = Blocker(hold=10)
    host = om_host(("stuck", blocker), stall_after=0.2)
    om_client.subscribe("alert")
    om_client.publish("t", Ping(seq=1))
    assert blocker.entered.wait(5)
    eventually(lambda: host.statuses()[0].state == "degraded")
    om_client.get_health("openmodule_host")
    assert om_client.wait_for_message("alert")["status"] == "error"
    blocker.release.set()
    eventually(lambda: host.statuses()[0].state == "running")
    om_client.get_health("openmodule_host")
    assert om_client.wait_for_message("alert")["status"] == "ok"


def test_the_plugin_state_alert_follows_the_state_without_anyone_pinging_and_once_per_change(om_host, om_client):
    blocker = Blocker(hold=10)
    host = om_host(("stuck", blocker), stall_after=0.2)
    om_client.subscribe("alert")
    om_client.publish("t", Ping(seq=1))
    assert blocker.entered.wait(5)
    error = om_client.wait_for_message("alert", timeout=5)
    assert (error["source"], error["status"]) == ("stuck", "error")
    assert error["alert_meta"]["state"] == "degraded"
    om_client.assert_no_message("alert", timeout=1.5)  # still degraded: nothing more
    blocker.release.set()
    eventually(lambda: host.statuses()[0].state == "running")
    assert om_client.wait_for_message("alert", timeout=5)["status"] == "ok"
    om_client.assert_no_message("alert", timeout=1.5)


def test_pings_arriving_meanwhile_add_no_duplicate_plugin_state_alert(om_host, om_client):
    """The watchdog's round and the answers to pings both look at the states: still one alert per change."""
    blocker = Blocker(hold=10)
    host = om_host(("stuck", blocker), stall_after=0.2)
    om_client.subscribe("alert")

    def pinged_for(seconds: float) -> None:  # each pong read keeps the alerts that came meanwhile in the inbox
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            om_client.get_health("openmodule_host")

    om_client.publish("t", Ping(seq=1))
    assert blocker.entered.wait(5)
    eventually(lambda: host.statuses()[0].state == "degraded")
    pinged_for(2.5)  # several watchdog rounds and dozens of pings while degraded
    blocker.release.set()
    eventually(lambda: host.statuses()[0].state == "running")
    pinged_for(2.5)
    alerts = [(alert["source"], alert["status"]) for alert in om_client.received("alert")]
    assert alerts == [("stuck", "error"), ("stuck", "ok")]
