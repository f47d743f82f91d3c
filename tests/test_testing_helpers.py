"""The test helpers plugin authors get (after openmodule-test's): alerts, connection status, MockEvent,
TestGate, wait_for_value."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from backend_x import VehicleEnterMessage
from openmodule_hookspecs import ConnectionStatus, ZMQMessage, hookimpl

from openmodule_host.testing import (
    MockEvent,
    PrivateBroker,
    TestGate,
    start_host,
    wait_broker_subscribed,
    wait_for_value,
)
from tests.support import eventually


class Ping(ZMQMessage):
    type: str = "ping"


class Broken:
    @hookimpl
    def register_handlers(self, core: Any) -> None:
        raise RuntimeError("no camera")


class Listening:
    def __init__(self) -> None:
        self.handler = MockEvent()
        self.core: Any = None

    @hookimpl
    def register_handlers(self, core: Any) -> None:
        self.core = core
        core.messages.register_handler("pings", Ping, self.handler)


def test_wait_for_alert_matches_fields_and_assert_no_alert_rules_them_out(om_host, om_client):
    om_client.subscribe("alert")
    om_host(("broken", Broken()), ("listening", Listening()), strict=False)
    alert = om_client.wait_for_alert(alert_type="plugin_state", source="broken", status="error")
    assert alert["alert_meta"]["message"] == "register_handlers raised RuntimeError: no camera"
    om_client.assert_no_alert(source="listening")
    with pytest.raises(AssertionError):
        om_client.wait_for_alert(timeout=0.3, source="broken", status="ok")


def test_set_connection_status_reaches_every_plugins_connection_listener(om_host, om_client):
    plugin = Listening()
    om_host(("listening", plugin))
    om_client.set_connection_status(ConnectionStatus.offline)
    wait_for_value(lambda: plugin.core.connection_listener.get(), ConnectionStatus.offline)
    om_client.set_connection_status("online", "online")
    assert wait_for_value(plugin.core.connection_listener.get, ConnectionStatus.online) == ConnectionStatus.online


def test_the_client_passes_over_a_json_body_that_is_no_message(om_client):
    """Another sender's ``[1, 2]`` on a watched topic is skipped like bad JSON, not handed to the predicate
    (which failed with AttributeError on ``list.get`` before)."""
    om_client.subscribe("pings")
    om_client.send_frames(b"pings", b"[1, 2]")
    om_client.send_frames(b"pings", b'"ping"')
    om_client.publish("pings", Ping())
    assert om_client.wait_for_message("pings", lambda body: body.get("type") == "ping")["name"] == om_client.name
    assert om_client.received("pings") == []


def test_a_mock_event_handler_can_be_waited_for(om_host, om_client):
    plugin = Listening()
    om_host(("listening", plugin))
    plugin.handler.reset_mock()
    for _ in range(3):
        om_client.publish("pings", Ping())
    plugin.handler.wait_for_call(minimum_call_count=3)
    assert isinstance(plugin.handler.call_args.args[0], Ping)
    with pytest.raises(AssertionError, match="called 3 time"):
        plugin.handler.wait_for_call(timeout=0.2, minimum_call_count=4)


def test_mock_event_wakes_a_waiter_from_another_thread():
    event = MockEvent(return_value=5)
    threading.Timer(0.05, event, args=(1,)).start()
    event.wait_for_call(timeout=2)
    assert event.call_args.args == (1,)


def test_a_test_gate_sees_the_decisions_for_its_gate(om_host, om_client):
    om_host("backend_x", config={"backend_x": {"whitelist": ["GARIVO1"]}})
    entry, exit_ = TestGate(om_client, "entry1", "in"), TestGate(om_client, "exit1")
    om_client.publish("present_vehicle", VehicleEnterMessage(vehicle_id="1", gate="entry1",
                                                             lpr_front={"plate": "GARIVO1", "country": "A"}))
    om_client.publish("present_vehicle", VehicleEnterMessage(vehicle_id="2", gate="entry1",
                                                             lpr_front={"plate": "W1", "country": "A"}))
    assert entry.wait_for_open()["vehicle_id"] == "1"
    assert entry.wait_for_reject()["vehicle_id"] == "2"
    exit_.assert_not_opened()
    exit_.assert_not_rejected()


def test_wait_for_value():
    values = iter([1, 2, 3])
    assert wait_for_value(lambda: next(values), 3) == 3
    assert wait_for_value(lambda: 1, 2, invert_target=True) == 1
    with pytest.raises(AssertionError, match="value 1 still not == 2"):
        wait_for_value(lambda: 1, 2, timeout=0.05)


def test_get_health_answers_with_the_pong_to_its_own_ping_not_an_earlier_one(om_host, om_client):
    om_host(("ticker", Listening()))
    om_client.subscribe("healthpong")
    om_client.publish("healthz", {"type": "ping", "ping": "ping"})  # an earlier ping: its pong stays unread

    def stale_pongs() -> list[dict]:
        return [body for body in om_client.received("healthpong") if body.get("name") == "ticker"]

    eventually(lambda: len(stale_pongs()) == 1)
    stale = stale_pongs()[0]
    time.sleep(0.2)  # (so that the two pongs' timestamps differ on any clock)
    asked = time.time()
    pong = om_client.get_health("ticker")
    assert pong != stale and pong["timestamp"] >= asked > stale["timestamp"]
    assert stale_pongs() == [stale]  # still in the inbox, never taken for the new ping's answer


def test_a_message_published_as_soon_as_om_host_returns_reaches_the_plugin(om_host, om_client):
    for attempt in range(3):  # each host subscribes anew: none of the first messages is lost
        plugin = Listening()
        om_host((f"listening{attempt}", plugin))
        om_client.publish("pings", Ping())
        plugin.handler.wait_for_call(timeout=10)


def test_wait_broker_subscribed_leaves_no_probe_topic_behind(om_host):
    host = om_host(("listening", Listening()))
    before = host.intake.topics
    wait_broker_subscribed(host, timeout=10)
    assert host.intake.topics == before and not any(topic.startswith("omh-probe") for topic in before)


def test_wait_broker_subscribed_fails_naming_its_timeout_when_no_probe_comes_back():
    broker = PrivateBroker()
    host = start_host(broker, [("listening", Listening())], dsgvo=False)
    try:
        broker.close()  # nothing passes the probes on any more
        with pytest.raises(AssertionError, match=r"within 0\.5 s"):
            wait_broker_subscribed(host, timeout=0.5)
        assert not any(topic.startswith("omh-probe") for topic in host.intake.topics)
    finally:
        host.stop()


def test_wait_subscribed_answers_false_once_the_intake_stopped(om_host):
    host = om_host(("listening", Listening()))
    assert host.intake.wait_subscribed(timeout=10)
    host.stop()
    assert not host.intake.wait_subscribed(timeout=0.1)
