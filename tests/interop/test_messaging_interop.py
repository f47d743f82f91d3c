"""Pub/sub both ways between plugins in ``openmodule-host`` and a real, standalone openmodule 18.5.0 service.

Every test runs the real ``openmodule-host`` command and a real openmodule core (``init_openmodule``) in
separate processes on one broker; openmodule is never imported here (see ``peer.py``).
"""

from __future__ import annotations

import pytest

from .wire_tap import without_envelope

pytestmark = pytest.mark.interop

HELLO = {"hello": {"NAME": "om_hello_1"}}
BACKEND_X = {"backend_x": {"NAME": "om_backend_x_1", "whitelist": ["G-ARIVO 1"]}}
NON_ASCII_TEXT = "Grüß Gott €😀"


def present_vehicle_enter(vehicle_id: str, plate: str) -> dict:
    """A ``present_vehicle``/``enter`` message as openmodule's presence service sends it."""
    return {
        "type": "enter",
        "vehicle_id": vehicle_id,
        "gate": "entry1",
        "lpr_front": {"source": "hw_cam_1", "plate": plate, "country": "A", "state": "G", "track_id": 17},
        "enter_direction": "forward",
        "enter_time": "2024-06-01T10:00:06",
    }


# -- openmodule service -> plugin -> openmodule service ------------------------------------------------------

def test_hello_plugin_answers_a_hello_from_an_openmodule_service(broker_env, host_with_plugins, openmodule_peer):
    host_with_plugins("hello", env=broker_env, config=HELLO)
    service = openmodule_peer(broker_env, name="om_interop_1")
    service.subscribe("hello_reply", type="hello_reply", model="HelloReplyMessage")

    service.publish("hello", {"type": "hello", "text": "garage"})

    reply = service.wait_for_message("hello_reply")["message"]
    assert reply["name"] == "om_hello_1"
    assert reply["to"] == "om_interop_1"
    assert reply["reply"] == "Hello, garage!"


def test_openmodule_service_validates_backend_x_decisions_for_its_present_vehicle_messages(
    broker_env, host_with_plugins, openmodule_peer
):
    host = host_with_plugins("backend_x", env=broker_env, config=BACKEND_X)
    service = openmodule_peer(broker_env, name="om_presence_1")
    service.subscribe("access_accept", type="decision", model="AccessDecisionMessage")
    service.subscribe("access_reject", type="decision", model="AccessDecisionMessage")

    service.publish("present_vehicle", present_vehicle_enter("1717236006900000000", "GARIVO1"),
                    model="PresentVehicleEnterMessage")
    service.publish("present_vehicle", present_vehicle_enter("1717236007000000000", "W12345"),
                    model="PresentVehicleEnterMessage")

    accepted = service.wait_for_message("access_accept")
    rejected = service.wait_for_message("access_reject")
    assert accepted["message"]["name"] == rejected["message"]["name"] == "om_backend_x_1"
    assert accepted["message"]["gateway"] == rejected["message"]["gateway"] == {"gate": "entry1", "direction": "in"}
    assert (accepted["message"]["vehicle_id"], accepted["message"]["plate"]) == ("1717236006900000000", "GARIVO1")
    assert (rejected["message"]["vehicle_id"], rejected["message"]["plate"]) == ("1717236007000000000", "W12345")
    # openmodule validated the plugin's message into its model: the gateway is openmodule's own Gateway
    # (direction checked against its Direction enum) and the float timestamp became a datetime.
    assert accepted["model"] == "AccessDecisionMessage"
    assert accepted["types"]["gateway"] == "Gateway"
    assert accepted["types"]["timestamp"] == "datetime"
    # and backend_x read every field openmodule sent: vehicle, gate and plate are in its decision log line.
    assert any("vehicle 1717236006900000000 at entry1 with plate GARIVO1: accepted" in line for line in host.stderr)


def test_a_second_openmodule_service_sees_the_plugins_reply_addressed_to_the_first(
    broker_env, host_with_plugins, openmodule_peer
):
    host_with_plugins("hello", env=broker_env, config=HELLO)
    greeter = openmodule_peer(broker_env, name="om_greeter_1")
    listener = openmodule_peer(broker_env, name="om_listener_1")
    listener.subscribe("hello_reply", type=None)  # match_type=False, generic model keeping every field

    greeter.publish("hello", {"type": "hello", "text": "everyone"})

    reply = listener.wait_for_message("hello_reply")["message"]
    assert (reply["name"], reply["type"], reply["to"]) == ("om_hello_1", "hello_reply", "om_greeter_1")
    assert reply["reply"] == "Hello, everyone!"


# -- the same over a standalone broker -----------------------------------------------------------------------

def test_host_on_a_standalone_broker_talks_to_an_openmodule_service_on_that_broker(
    standalone_broker_process, host_with_plugins, openmodule_peer
):
    broker = standalone_broker_process
    host_with_plugins("hello", "backend_x", env=broker, config={**HELLO, **BACKEND_X}, args=["--broker", "external"])
    service = openmodule_peer(broker, name="om_interop_1")
    service.subscribe("hello_reply", type="hello_reply", model="HelloReplyMessage")
    service.subscribe("access_accept", type="decision", model="AccessDecisionMessage")

    service.publish("hello", {"type": "hello", "text": "broker"})
    service.publish("present_vehicle", present_vehicle_enter("1", "GARIVO1"), model="PresentVehicleEnterMessage")

    reply = service.wait_for_message("hello_reply")["message"]
    assert (reply["name"], reply["to"], reply["reply"]) == ("om_hello_1", "om_interop_1", "Hello, broker!")
    accepted = service.wait_for_message("access_accept")["message"]
    assert (accepted["name"], accepted["vehicle_id"]) == ("om_backend_x_1", "1")


# -- byte level ----------------------------------------------------------------------------------------------

def test_plugin_and_openmodule_encode_the_same_message_byte_for_byte(
    broker_env, host_with_plugins, openmodule_peer, wire_tap
):
    host_with_plugins("hello", env=broker_env, config=HELLO)
    service = openmodule_peer(broker_env, name="om_interop_1")
    tap = wire_tap(broker_env)
    service.subscribe("hello_reply", type="hello_reply", model="HelloReplyMessage")

    service.publish("hello", {"type": "hello", "text": NON_ASCII_TEXT})
    reply = service.wait_for_message("hello_reply")["message"]
    # openmodule publishes a reply with exactly the content the plugin sent
    service.publish("hello_reply", {"type": "hello_reply", "to": reply["to"], "reply": reply["reply"]})

    from_plugin = tap.wait_for("hello_reply", lambda body: b'"name":"om_hello_1"' in body)
    from_openmodule = tap.wait_for("hello_reply", lambda body: b'"name":"om_interop_1"' in body)
    assert without_envelope(from_plugin) == without_envelope(from_openmodule)
    assert from_plugin.isascii()
    assert rb'"reply":"Hello, Gr\u00fc\u00df Gott \u20ac\ud83d\ude00!"' in from_plugin


def test_openmodule_service_sends_non_ascii_text_escaped_and_the_plugin_reads_it_back(
    broker_env, host_with_plugins, openmodule_peer, wire_tap
):
    host_with_plugins("hello", env=broker_env, config=HELLO)
    service = openmodule_peer(broker_env, name="om_interop_1")
    tap = wire_tap(broker_env)
    service.subscribe("hello_reply", type="hello_reply", model="HelloReplyMessage")

    published = service.publish("hello", {"type": "hello", "text": NON_ASCII_TEXT})

    on_the_wire = tap.wait_for("hello")
    assert on_the_wire == published["body"].encode("ascii")
    assert rb'"text":"Gr\u00fc\u00df Gott \u20ac\ud83d\ude00"' in on_the_wire
    assert service.wait_for_message("hello_reply")["message"]["reply"] == f"Hello, {NON_ASCII_TEXT}!"
