"""The example plugins, installed as real distributions, running on a private broker."""

import time

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from backend_x import VehicleEnterMessage
from hello_plugin import HelloMessage
from sqlalchemy import text

from tests.support import eventually
from tests.support.rpc_plugins import Lookup


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


# -- om_welcome: an openmodule service ported by its import lines, run once per gate --------------------------
# (Requests and messages are written as dicts: the plugins' own models are not imported by this module.)

WELCOME_GATES = {
    "gate_in": {"plugin": "om_welcome", "NAME": "om_welcome_in_1", "gate": "in-1", "lookup_timeout": 0.5},
    "gate_out": {"plugin": "om_welcome", "NAME": "om_welcome_out_1", "gate": "out-1", "welcome_text": "Goodbye",
                 "lookup_timeout": 0.5},
}


def enter(gate: str, plate: str, vehicle_id: str = "1") -> dict:
    """A presence service's ``present_vehicle`` enter message."""
    return {"type": "enter", "name": "om_presence_1", "vehicle_id": vehicle_id, "gate": gate,
            "lpr_front": {"plate": plate, "country": "A"}, "enter_direction": "forward", "enter_time": time.time()}


def test_om_welcome_instances_each_answer_greet_for_their_own_gate_only(om_host, om_client):
    om_host("gate_in", "gate_out", ("lookup", Lookup()), config=WELCOME_GATES)

    rpc_id = om_client.rpc_send("welcome", "greet", {"gate": "out-1", "plate": "G ARIVO1"})

    reply = om_client.wait_for_message("rpc-rep-welcome", lambda body: body.get("rpc_id") == rpc_id)
    assert reply["name"] == "om_welcome_out_1"
    assert reply["response"] == {"gate": "out-1", "text": "Goodbye, G ARIVO1!", "known": True, "status": "ok"}
    om_client.assert_no_message("rpc-rep-welcome", lambda body: body.get("rpc_id") == rpc_id, timeout=1.0)
    om_client.rpc_no_response("welcome", "greet", {"gate": "lane-9"})


def test_om_welcome_instances_share_greet_when_one_runs_in_a_child_process(om_host, om_client):
    gates = {**WELCOME_GATES, "gate_in": {**WELCOME_GATES["gate_in"], "ISOLATION": "process"}}
    host = om_host("gate_in", "gate_out", config=gates)
    assert host.plugins["gate_in"].process is not None and host.plugins["gate_out"].process is None

    for gate, name in (("in-1", "om_welcome_in_1"), ("out-1", "om_welcome_out_1")):
        rpc_id = om_client.rpc_send("welcome", "greet", {"gate": gate})

        def to_it(body: dict, rpc_id: str = rpc_id) -> bool:
            return body.get("rpc_id") == rpc_id

        reply = om_client.wait_for_message("rpc-rep-welcome", to_it, timeout=10)
        assert (reply["name"], reply["response"]["gate"]) == (name, gate)
        om_client.assert_no_message("rpc-rep-welcome", to_it, timeout=1.0)
    om_client.rpc_no_response("welcome", "greet", {"gate": "lane-9"})


def test_om_welcome_greets_a_vehicle_entering_its_gate_on_the_display_and_counts_it(om_host, om_client):
    om_host("gate_in", "gate_out", ("lookup", Lookup()), config=WELCOME_GATES)
    om_client.subscribe("display")

    om_client.publish("present_vehicle", enter("in-1", "W 12345"))

    shown = om_client.wait_for_message("display", lambda message: message["text"] != "Welcome to the garage")
    assert (shown["name"], shown["type"], shown["gate"], shown["text"]) == ("om_welcome_in_1", "text", "in-1",
                                                                           "Welcome!")
    om_client.assert_no_message("display", lambda message: message["name"] == "om_welcome_out_1"
                                and message["text"] != "Welcome to the garage")
    greetings = {metric["id"]: metric for metric in om_client.get_health("om_welcome_in_1")["metrics"]}["greetings"]
    assert greetings["values"] == {'{"compute_id":"1","gate":"in-1"}': 1}


def test_om_welcome_shows_its_idle_text_periodically_from_the_scheduler(om_host, om_client):
    gates = {name: {**table, "refresh_seconds": 1} for name, table in WELCOME_GATES.items()}
    om_host("gate_in", "gate_out", config=gates)
    om_client.subscribe("display")

    for name, gate in (("om_welcome_in_1", "in-1"), ("om_welcome_out_1", "out-1")):
        idle = om_client.wait_for_message("display", lambda message, name=name: message["name"] == name, timeout=5)
        assert (idle["gate"], idle["text"]) == (gate, "Welcome to the garage")


def test_om_welcome_fails_its_lookup_check_while_no_lookup_service_answers(om_host, om_client):
    om_host("gate_in", config={"gate_in": WELCOME_GATES["gate_in"]})

    reply = om_client.rpc("welcome", "greet", {"gate": "in-1", "plate": "G ARIVO1"})

    assert reply["response"] == {"gate": "in-1", "text": "Welcome!", "known": False, "status": "ok"}
    pong = om_client.get_health("om_welcome_in_1")["pong"]
    assert pong["status"] == "error"
    assert pong["message"].startswith("lookup failed")


def test_om_welcome_takes_its_gate_from_the_instances_environment_variable(om_host, om_client, monkeypatch):
    monkeypatch.setenv("GATE_IN__GATE", "in-7")
    om_host("gate_in", config={"gate_in": WELCOME_GATES["gate_in"]})

    assert om_client.rpc("welcome", "greet", {"gate": "in-7"})["response"]["gate"] == "in-7"
    om_client.rpc_no_response("welcome", "greet", {"gate": "in-1"})


# -- om_access_demo: an access service with its accesses in its database ----------------------------------------

def check(om_client, name: str, plate: str) -> dict:
    return om_client.rpc("access_service", "auth", {
        "name": name, "gate": "in-1", "vehicle": {"lpr": {"id": plate, "type": "lpr"}}})["response"]


def set_accesses(om_client, name: str, accesses: dict) -> dict:
    return om_client.rpc("access_demo", "set", {"name": name, "accesses": accesses})["response"]


def test_om_access_demo_answers_access_checks_from_its_database(om_host, om_client, backend):
    name = backend.name("om_access_demo")
    om_host("om_access_demo", config={"om_access_demo": {"NAME": name}}, **backend.settings)
    now = time.time()

    changed = set_accesses(om_client, name, {
        "a-1": {"plate": "G-ARIVO 1", "valid_to": now + 3600, "infos": {"customer": "Arivo"}},
        "a-2": {"plate": "W 12345", "valid_from": now - 7200, "valid_to": now - 3600},
    })

    assert changed == {"changed": 2, "total": 2, "status": "ok"}
    [known] = check(om_client, name, "GARIVO1")["accesses"]
    assert (known["id"], known["source"], known["accepted"], known["category"]) == ("a-1", name, True, "permanent")
    assert known["access_data"] == {"plate": "G-ARIVO 1", "customer": "Arivo"}
    [expired] = check(om_client, name, "W12345")["accesses"]
    assert (expired["accepted"], expired["reject_reason"]) == (False, "wrong_time")
    assert check(om_client, name, "S 999")["accesses"] == []
    with backend.admin_connection(name) as connection:
        revision = connection.execute(text(f"SELECT version_num FROM {backend.table(name, 'alembic_version')}"))
        assert revision.scalar_one() == "9c4d2b7e6f10"


def test_om_access_demo_instances_keep_their_own_accesses(om_host, om_client, backend):
    a, b = backend.name("om_access_a"), backend.name("om_access_b")
    om_host("access_a", "access_b", config={"access_a": {"plugin": "om_access_demo", "NAME": a},
                                            "access_b": {"plugin": "om_access_demo", "NAME": b}}, **backend.settings)

    assert set_accesses(om_client, a, {"a-1": {"plate": "GARIVO1"}})["total"] == 1
    assert set_accesses(om_client, b, {"b-1": {"plate": "W 1"}, "b-2": {"plate": "W 2"}})["total"] == 2

    assert [access["id"] for access in check(om_client, a, "GARIVO1")["accesses"]] == ["a-1"]
    assert check(om_client, b, "GARIVO1")["accesses"] == []
    for name, ids in ((a, ["a-1"]), (b, ["b-1", "b-2"])):  # each in its own file or schema
        with backend.admin_connection(name) as connection:
            rows = connection.execute(text(f"SELECT id FROM {backend.table(name, 'accesses')} ORDER BY id"))
            assert rows.scalars().all() == ids


def test_om_access_demo_deletes_expired_accesses_periodically(om_host, om_client):
    om_host("om_access_demo", config={"om_access_demo": {"cleanup_seconds": 0.5}})
    set_accesses(om_client, "om_access_demo", {"old": {"plate": "GARIVO1", "valid_to": time.time() - 60},
                                               "new": {"plate": "GARIVO1"}})

    def accesses_metric() -> dict:
        metrics = om_client.get_health("om_access_demo")["metrics"]
        return {metric["id"]: metric for metric in metrics}["accesses"]["values"]

    eventually(lambda: accesses_metric() == {'{"compute_id":"1"}': 1}, timeout=10)
    assert [access["id"] for access in check(om_client, "om_access_demo", "GARIVO1")["accesses"]] == ["new"]


def test_om_access_demo_revisions_create_exactly_its_models_tables(om_host, om_client, sqlite_backend):
    from access_demo.models import Base  # imported here: the module needs openmodule_host.database's column types

    name = sqlite_backend.name("om_access_demo")
    om_host("om_access_demo", config={"om_access_demo": {"NAME": name}}, **sqlite_backend.settings)

    with sqlite_backend.admin_connection(name) as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert differences == []  # what `alembic revision --autogenerate` would find to add: nothing


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
