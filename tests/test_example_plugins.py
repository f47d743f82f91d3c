"""The example plugins, installed as real distributions, running on a private broker."""

from backend_x import VehicleEnterMessage
from hello_plugin import HelloMessage


def test_hello_answers_with_its_configured_greeting(om_host, om_client):
    om_host("hello", config={"hello": {"NAME": "om_hello_1", "greeting": "Servus"}})
    om_client.subscribe("hello_reply")

    om_client.publish("hello", HelloMessage(name="om_demo_1", text="garage"))

    reply = om_client.wait_for_message("hello_reply")
    assert reply["name"] == "om_hello_1"
    assert reply["to"] == "om_demo_1"
    assert reply["reply"] == "Servus, garage!"


def test_backend_x_accepts_whitelisted_plates_and_rejects_others(om_host, om_client):
    om_host("backend_x", config={"backend_x": {"whitelist": ["G-ARIVO 1"]}})
    om_client.subscribe("access_accept", "access_reject")

    om_client.publish("present_vehicle", VehicleEnterMessage(
        vehicle_id="1", gate="entry1", lpr_front={"plate": "GARIVO1", "country": "A"}))
    om_client.publish("present_vehicle", VehicleEnterMessage(
        vehicle_id="2", gate="entry1", lpr_front={"plate": "W 12345", "country": "A"}))

    accepted = om_client.wait_for_message("access_accept")
    rejected = om_client.wait_for_message("access_reject")
    assert (accepted["vehicle_id"], accepted["gateway"]) == ("1", {"gate": "entry1", "direction": "in"})
    assert (rejected["vehicle_id"], rejected["plate"]) == ("2", "W 12345")
    assert accepted["name"] == rejected["name"] == "backend_x"


def test_backend_x_answers_access_checks_for_its_name(om_host, om_client):
    om_host("backend_x", config={"backend_x": {"NAME": "om_backend_x_1", "whitelist": ["G-ARIVO 1"]}})

    def check(plate: str) -> dict:
        return om_client.rpc("access_service", "auth", {
            "name": "om_backend_x_1", "gate": "entry1",
            "vehicle_data": {"vehicle_id": "7", "lpr_front": {"plate": plate, "country": "A"}}})["response"]

    known = check("GARIVO1")
    assert (known["status"], known["success"]) == ("ok", True)
    assert [(access["id"], access["source"], access["accepted"]) for access in known["accesses"]] == [
        ("backend_x-GARIVO1", "om_backend_x_1", True)]
    assert check("W 12345")["accesses"] == []


def test_backend_x_is_a_legacy_backend_too(om_host, om_client):
    om_client.subscribe("backend")
    om_host("backend_x", config={"backend_x": {"NAME": "om_backend_x_1", "whitelist": ["G-ARIVO 1"]}})
    registered = om_client.wait_for_message("backend")
    assert (registered["name"], registered["type"]) == ("om_backend_x_1", "register")

    def auth(plate: str) -> dict:
        return om_client.rpc("backend", "auth", {
            "name": "om_backend_x_1", "gateway": {"gate": "entry1", "direction": "in"}, "medium_type": "lpr",
            "id": plate})["response"]

    [access] = auth("GARIVO1")["medium"]["accesses"]
    assert (access["category"], access["user"], access["infos"]) == (
        "permanent-employee", "backend_x-GARIVO1", {"plate": "GARIVO1"})
    assert isinstance(access["start"], float)
    assert auth("W 12345")["medium"]["accesses"] == []
