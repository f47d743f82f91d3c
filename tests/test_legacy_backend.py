"""The legacy backend wire (openmodule 10.x): RPC ``backend``/``auth`` from either access hook, registration on
topic ``backend``, the ``session`` hooks, the ``access_protocols`` opt-out and the ``Backend`` base class."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from openmodule_hookspecs import (
    Access,
    AccessCategory,
    AccessCheckAccess,
    AccessCheckRequest,
    AccessRequest,
    AccessResponse,
    CountMessage,
    LegacyAccessCategory,
    Medium,
    MediumAccesses,
    SessionErrorMessage,
    SessionFinishMessage,
    SessionStartMessage,
    ZMQMessage,
    hookimpl,
)

from openmodule_host.testing import TestClient
from openmodule_host.utils import Backend
from tests.support import eventually
from tests.test_access import COUNT, OLD_FORM, Whitelist

LEGACY_LPR = {"gateway": {"gate": "entry1", "direction": "in"}, "medium_type": "lpr", "id": "GARIVO1",
              "timestamp": 1717236000.0}


def auth(client: TestClient, name: str, **request: Any) -> dict[str, Any]:
    return client.rpc("backend", "auth", {"name": name, **request})


class LegacyWhitelist:
    """A 10.x-style backend written with the hooks: plates starting with G have one permanent access (since
    2024-01-01), "TWO" two accesses of one user, one of them expired; behaviours picked by the medium id."""

    def __init__(self) -> None:
        self.requests: list[AccessRequest] = []

    @hookimpl
    def check_backend_access(self, core: Any, request: AccessRequest) -> Any:
        self.requests.append(request)
        if request.medium_id == "RAISE":
            raise RuntimeError("backend database locked")
        if request.medium_id == "WRONG":
            return 42
        if request.medium_id == "FAIL":
            return AccessResponse(success=False, medium=MediumAccesses(accesses=[], id="FAIL", type="lpr"))
        if request.medium_id == "TWO":
            return [Access(category="booked-visitor", start=datetime(2024, 1, 1), user="u-2"),
                    Access(category="booked-visitor", start=datetime(2023, 1, 1), end=datetime(2023, 2, 1),
                           user="u-2")]
        if request.medium_id.startswith("G"):
            return [Access(category="permanent-employee", start=datetime(2024, 1, 1), user=f"u-{request.medium_id}",
                           infos={"note": "staff"}, zone="z1")]
        return None


# -- backend/auth -------------------------------------------------------------------------------------------

def test_a_check_backend_access_hook_answers_backend_auth_for_its_name_as_10x_did(om_host, om_client):
    legacy = LegacyWhitelist()
    om_host(("legacy", legacy), ("other", LegacyWhitelist()),
            config={"legacy": {"NAME": "om_backend_1"}, "other": {"NAME": "om_backend_2"}})

    reply = auth(om_client, "om_backend_1", **LEGACY_LPR)

    assert (reply["name"], reply["type"]) == ("om_backend_1", "auth")
    assert reply["response"] == {"success": True, "status": "ok", "medium": {
        "id": "GARIVO1", "type": "lpr", "accesses": [
            {"category": "permanent-employee", "start": 1704067200.0, "zone": "z1", "occupant_check": False,
             "infos": {"note": "staff"}, "cost_entries": [], "user": "u-GARIVO1"}]}}
    [request] = legacy.requests
    assert (request.gateway.gate, request.medium_id, request.timestamp) == ("entry1", "GARIVO1",
                                                                             datetime(2024, 6, 1, 10, 0))
    om_client.rpc_no_response("backend", "auth", {"name": "om_nobody", **LEGACY_LPR}, timeout=0.5)


def test_a_legacy_request_is_read_with_id_or_medium_id_and_an_iso_or_unix_timestamp(om_host, om_client):
    legacy = LegacyWhitelist()
    om_host(("legacy", legacy), config={"legacy": {"NAME": "om_backend_1"}})
    auth(om_client, "om_backend_1", medium_type="nfc", medium_id="G-CARD", timestamp="2024-06-01T12:00:00+02:00")
    assert (legacy.requests[0].medium_id, legacy.requests[0].timestamp) == ("G-CARD", datetime(2024, 6, 1, 10, 0))
    assert auth(om_client, "om_backend_1", medium_type="lpr")["response"]["status"] == "validation_error"


def test_a_medium_type_10x_did_not_know_is_a_validation_error_and_never_reaches_the_hook(om_host, om_client):
    legacy = LegacyWhitelist()
    om_host(("legacy", legacy), config={"legacy": {"NAME": "om_backend_1"}})
    assert auth(om_client, "om_backend_1", **{**LEGACY_LPR, "medium_type": "regex"})["response"]["status"] == (
        "validation_error")
    assert legacy.requests == []
    # the access service's media are asked by their slot: a pin typed "regex" is a pin to the V2 hook
    response = om_client.rpc("access_service", "auth", {
        "name": "om_backend_1", "vehicle": {"pin": {"id": "G-1234", "type": "regex"}}})["response"]
    assert (response["success"], [access["id"] for access in response["accesses"]]) == (True, ["u-G-1234"])
    assert [(request.medium_type, request.medium_id) for request in legacy.requests] == [("pin", "G-1234")]


def test_a_raising_backend_hook_answers_success_false_and_a_wrong_result_is_a_handler_error(om_host, om_client):
    host = om_host(("legacy", LegacyWhitelist()), config={"legacy": {"NAME": "om_backend_1"}})
    raised = auth(om_client, "om_backend_1", **{**LEGACY_LPR, "id": "RAISE"})["response"]
    assert raised == {"success": False, "status": "ok", "medium": {"id": "RAISE", "type": "lpr", "accesses": []}}
    assert host.plugins["legacy"].stats.handler_errors == 1
    wrong = auth(om_client, "om_backend_1", **{**LEGACY_LPR, "id": "WRONG"})["response"]
    assert wrong["status"] == "handler_error" and "check_backend_access must return" in wrong["exception"]
    assert auth(om_client, "om_backend_1", **{**LEGACY_LPR, "id": "NOBODY"})["response"]["medium"]["accesses"] == []


def test_a_check_access_hook_answers_backend_auth_converted(om_host, om_client):
    """An 18.x access service answers the legacy RPC: its accepted accesses as V2 ones for the asked medium."""
    whitelist = Whitelist()
    om_host(("whitelist", whitelist), config={"whitelist": {"NAME": "om_whitelist_1"}})

    response = auth(om_client, "om_whitelist_1", **LEGACY_LPR)["response"]

    assert response == {"success": True, "status": "ok", "medium": {"id": "GARIVO1", "type": "lpr", "accesses": [
        {"category": "permanent-employee", "start": 0.0, "occupant_check": False, "infos": {}, "cost_entries": [],
         "user": "acc-GARIVO1"}]}}
    [request] = whitelist.requests  # the legacy request as the hook got it
    assert (request.name, request.gate, request.vehicle.lpr.id, request.timestamp) == (
        "om_whitelist_1", "entry1", "GARIVO1", datetime(2024, 6, 1, 10, 0))
    assert auth(om_client, "om_whitelist_1", medium_type="qr", id="Q1")["response"]["medium"] == {
        "id": "Q1", "type": "qr", "accesses": []}
    assert whitelist.requests[-1].qr == "Q1"
    raised = auth(om_client, "om_whitelist_1", **{**LEGACY_LPR, "id": "RAISE"})["response"]
    assert (raised["success"], raised["medium"]["accesses"]) == (False, [])


def test_a_check_backend_access_hook_answers_the_access_service_once_per_medium(om_host, om_client):
    legacy = LegacyWhitelist()
    om_host(("legacy", legacy), config={"legacy": {"NAME": "om_backend_1"}})

    response = om_client.rpc("access_service", "auth", {
        "name": "om_backend_1", "gate": "entry1", "timestamp": "2024-06-01T10:00:00",
        "vehicle": {"lpr": {"id": "GARIVO1", "type": "lpr"}, "qr": {"id": "TWO", "type": "qr"}}})["response"]

    assert response["success"] is True
    assert [(request.medium_type, request.medium_id, request.gateway.gate) for request in legacy.requests] == [
        ("lpr", "GARIVO1", "entry1"), ("qr", "TWO", "entry1")]
    accesses = {access["id"]: access for access in response["accesses"]}
    assert list(accesses) == ["u-GARIVO1", "u-2", "u-2-2"]
    assert accesses["u-GARIVO1"] == {
        "id": "u-GARIVO1", "customer_id": "u-GARIVO1", "source": "om_backend_1", "access_infos": {"note": "staff"},
        "category": "permanent", "used_medium": {"id": "GARIVO1", "type": "lpr"},
        "access_data": {"category": "permanent-employee", "start": 1704067200.0, "zone": "z1",
                        "occupant_check": False, "infos": {"note": "staff"}, "cost_entries": [], "user": "u-GARIVO1"},
        "valid_from": "2024-01-01T00:00:00", "accepted": True, "from_lpr_back": False}
    assert (accesses["u-2"]["accepted"], accesses["u-2"]["category"]) == (True, "booked")
    assert (accesses["u-2-2"]["accepted"], accesses["u-2-2"]["reject_reason"]) == (False, "wrong_time")


class DailyBackend:
    """A V2 backend whose one access holds daily from 08:00 to 09:00 (Vienna, winter; DTSTART is UTC)."""

    @hookimpl
    def check_backend_access(self, core: Any, request: AccessRequest) -> list[Access]:
        return [Access(category="booked-visitor", start=0, user="u-daily", duration=3600,
                       recurrence="DTSTART:20240101T070000Z\nRRULE:FREQ=DAILY")]


def test_a_recurrent_access_is_accepted_at_the_wall_clock_time_of_the_plugins_time_zone(om_host, om_client):
    om_host(("vienna", DailyBackend()), ("utc", DailyBackend()),
            config={"vienna": {"NAME": "om_vienna"}, "utc": {"NAME": "om_utc", "TIMEZONE": "UTC"}})

    def accepted(name: str, timestamp: str) -> bool:
        [access] = om_client.rpc("access_service", "auth", {
            "name": name, "timestamp": timestamp, "vehicle": {"lpr": {"id": "G1", "type": "lpr"}}})["response"][
            "accesses"]
        return bool(access["accepted"])

    # 06:30 UTC in summer is 08:30 in Vienna (CEST): within the window there (Europe/Vienna without a TIMEZONE)
    assert accepted("om_vienna", "2024-07-10T06:30:00") and not accepted("om_utc", "2024-07-10T06:30:00")
    assert accepted("om_utc", "2024-07-10T07:30:00") and not accepted("om_vienna", "2024-07-10T07:30:00")


def test_a_failing_medium_fails_the_whole_access_service_answer(om_host, om_client):
    om_host(("legacy", LegacyWhitelist()), config={"legacy": {"NAME": "om_backend_1"}})
    for medium in ("FAIL", "RAISE"):
        response = om_client.rpc("access_service", "auth", {
            "name": "om_backend_1", "vehicle": {"lpr": {"id": "GARIVO1"}, "pin": {"id": medium, "type": "pin"}}})
        assert response["response"] == {"success": False, "accesses": [], "status": "ok"}


# -- registration -------------------------------------------------------------------------------------------

def registrations(client: TestClient, name: str) -> list[str]:
    return [body["type"] for body in client.received("backend") if body["name"] == name]


def test_each_backend_registers_at_start_on_every_request_and_unregisters_at_stop(om_host, om_client):
    om_client.subscribe("backend")
    host = om_host(("legacy", LegacyWhitelist()), ("whitelist", Whitelist()), ("counter", Counting()),
                   config={"legacy": {"NAME": "om_backend_1"}, "whitelist": {"NAME": "om_whitelist_1"}})
    eventually(lambda: registrations(om_client, "om_backend_1") == ["register"]
               and registrations(om_client, "om_whitelist_1") == ["register"])

    om_client.publish("backend", {"type": "register_request", "name": "om_controller_1"})
    eventually(lambda: registrations(om_client, "om_backend_1") == ["register", "register"]
               and registrations(om_client, "om_whitelist_1") == ["register", "register"])

    host.stop()
    eventually(lambda: registrations(om_client, "om_backend_1")[-1:] == ["unregister"]
               and registrations(om_client, "om_whitelist_1")[-1:] == ["unregister"])
    assert registrations(om_client, "counter") == []  # counts and sessions alone: no backend/auth, no registration


class SaysGoodbye(LegacyWhitelist):
    """Publishes ``goodbye`` on topic ``backend`` from its shutdown hook."""

    @hookimpl
    def shutdown(self, core: Any) -> None:
        core.publish(ZMQMessage(type="goodbye"), "backend")


def test_a_backend_unregisters_before_its_shutdown_hook_runs(om_host, om_client):
    om_client.subscribe("backend")
    host = om_host(("legacy", SaysGoodbye()), config={"legacy": {"NAME": "om_backend_1"}})
    eventually(lambda: registrations(om_client, "om_backend_1") == ["register"])
    host.stop()
    eventually(lambda: registrations(om_client, "om_backend_1") == ["register", "unregister", "goodbye"])


# -- access_protocols ---------------------------------------------------------------------------------------

class OnlyCurrent(Whitelist):
    @hookimpl
    def access_protocols(self, core: Any) -> list[str]:
        return ["access_service"]


class OnlyLegacy(LegacyWhitelist):
    @hookimpl
    def access_protocols(self, core: Any) -> set[str]:
        return {"backend"}


def test_a_plugin_can_answer_one_protocol_only(om_host, om_client):
    om_client.subscribe("backend")
    om_host(("current", OnlyCurrent()), ("legacy", OnlyLegacy()),
            config={"current": {"NAME": "om_current"}, "legacy": {"NAME": "om_legacy"}})
    assert om_client.rpc("access_service", "auth", {"name": "om_current", **OLD_FORM})["response"]["success"]
    assert auth(om_client, "om_legacy", **LEGACY_LPR)["response"]["success"]
    om_client.rpc_no_response("backend", "auth", {"name": "om_current", **LEGACY_LPR}, timeout=0.5)
    om_client.rpc_no_response("access_service", "auth", {"name": "om_legacy", **OLD_FORM}, timeout=0.5)
    eventually(lambda: registrations(om_client, "om_legacy") == ["register"])
    assert registrations(om_client, "om_current") == []


@pytest.mark.parametrize(("protocols", "reason"), [
    ("backend", "must return a collection"),
    (["backend", "v3"], "unknown protocol(s) ['v3']"),
])
def test_a_bad_access_protocols_answer_fails_the_plugin(om_host, protocols, reason):
    class Bad(Whitelist):
        @hookimpl
        def access_protocols(self, core: Any) -> Any:
            return protocols

    host = om_host(("bad", Bad()), strict=False)
    assert host.plugins["bad"].state.value == "failed"
    assert reason in host.plugins["bad"].reason


# -- sessions -----------------------------------------------------------------------------------------------

START = {"type": "start", "id": "s-1", "user_id": "u-17", "zone_id": "z1", "cost_table": {},
         "entry_time": "2024-06-01T10:00:00", "entry_data": {"gate": "entry1"}}
FINISH = {**START, "type": "finish", "exit_time": 1717243200.0, "exit_data": {"gate": "exit1"}}
ERRORS = [{"type": "delete", "id": "s-2", "reason": "manual", "delete_time": "2024-06-01T11:00:00"},
          {"type": "exit_without_entry", "id": "s-3", "exit_time": "2024-06-01T11:00:00", "exit_data": {}},
          {"type": "incomplete", "id": "s-4", "zone_id": "z1", "related_session_id": "s-5",
           "entry_time": "2024-06-01T11:00:00", "entry_data": {}}]


class Counting:
    """Implements the count and session hooks only."""

    def __init__(self) -> None:
        self.got: list[tuple[str, Any]] = []

    @hookimpl
    def check_in(self, core: Any, message: CountMessage) -> None:
        self.got.append(("check_in", message))

    @hookimpl
    def check_in_session(self, core: Any, message: SessionStartMessage) -> None:
        if message.id == "RAISE":
            raise RuntimeError("session store locked")
        self.got.append(("check_in_session", message))

    @hookimpl
    def check_out_session(self, core: Any, message: SessionFinishMessage) -> None:
        self.got.append(("check_out_session", message))

    @hookimpl
    def session_error(self, core: Any, message: SessionErrorMessage) -> None:
        self.got.append(("session_error", message))


def test_session_messages_reach_their_hooks(om_host, om_client):
    counting = Counting()
    host = om_host(("counter", counting))
    for message in (START, FINISH, *ERRORS):
        om_client.publish("session", message)
    eventually(lambda: len(counting.got) == 5)
    assert [(hook, type(message).__name__, message.id) for hook, message in counting.got] == [
        ("check_in_session", "SessionStartMessage", "s-1"), ("check_out_session", "SessionFinishMessage", "s-1"),
        ("session_error", "SessionDeleteMessage", "s-2"), ("session_error", "SessionExitWithoutEntryMessage", "s-3"),
        ("session_error", "SessionIncompleteMessage", "s-4")]
    assert counting.got[1][1].exit_time == datetime(2024, 6, 1, 12, 0)
    assert "session" in host.plugins["counter"].topics


def test_a_bad_session_message_is_dropped_and_counted_and_a_raising_hook_too(om_host, om_client):
    counting = Counting()
    host = om_host(("counter", counting))
    om_client.publish("session", {**START, "entry_time": "yesterday"})
    om_client.publish("session", {**START, "id": "RAISE"})
    om_client.publish("session", {**START, "type": "restart"})  # no such type: not for any hook
    om_client.publish("session", {**START, "id": "s-ok"})
    eventually(lambda: len(counting.got) == 1)
    assert counting.got[0][1].id == "s-ok"
    stats = host.plugins["counter"].stats
    assert (stats.invalid, stats.handler_errors) == (1, 1)


# -- the Backend base class ---------------------------------------------------------------------------------

class PlateBackend(Backend):
    """As a 10.x backend would be written: check_access, check_in, check_out (no session methods)."""

    def __init__(self) -> None:
        self.counted: list[tuple[str, str, str]] = []

    def check_access(self, request: AccessRequest) -> list[Access]:
        if not request.medium_id.startswith("G"):
            return []
        return [Access(category=LegacyAccessCategory.permanent_employee, start=datetime(2024, 1, 1),
                       user=f"{self.core.name}-{request.medium_id}")]

    def check_in(self, message: CountMessage) -> None:
        self.counted.append(("in", self.core.name, message.transaction_id))

    def check_out(self, message: CountMessage) -> None:
        self.counted.append(("out", self.core.name, message.transaction_id))


def test_a_backend_subclass_is_a_plugin_with_the_hooks_it_overrides(om_host, om_client):
    om_client.subscribe("backend")
    backend = PlateBackend()
    host = om_host(("plates", backend), config={"plates": {"NAME": "om_plates_1"}})

    assert host.plugins["plates"].hookimpls == [
        "access_protocols", "check_backend_access", "check_in", "check_out", "register_handlers"]
    legacy = auth(om_client, "om_plates_1", **LEGACY_LPR)["response"]
    assert [access["user"] for access in legacy["medium"]["accesses"]] == ["om_plates_1-GARIVO1"]
    current = om_client.rpc("access_service", "auth", {"name": "om_plates_1", **OLD_FORM})["response"]
    assert [(access["id"], access["category"], access["accepted"]) for access in current["accesses"]] == [
        ("om_plates_1-GARIVO1", "permanent", True)]
    om_client.publish("count", COUNT)
    om_client.publish("count", {**COUNT, "gateway": {"gate": "exit1", "direction": "out"}, "transaction_id": "t-2"})
    eventually(lambda: backend.counted == [("in", "om_plates_1", "t-991"), ("out", "om_plates_1", "t-2")])
    eventually(lambda: registrations(om_client, "om_plates_1") == ["register"])
    assert "session" not in host.plugins["plates"].topics


def test_one_backend_object_serves_several_plugins_each_with_its_own_core(om_host, om_client):
    backend = PlateBackend()
    om_host(("a", backend), ("b", backend), config={"a": {"NAME": "om_a"}, "b": {"NAME": "om_b"}})
    for name in ("om_a", "om_b"):
        accesses = auth(om_client, name, **LEGACY_LPR)["response"]["medium"]["accesses"]
        assert [access["user"] for access in accesses] == [f"{name}-GARIVO1"]


def test_a_backend_may_answer_the_access_service_itself_and_choose_its_protocols(om_host, om_client):
    class Both(PlateBackend):
        protocols = ("access_service",)

        def check_access_service(self, request: AccessCheckRequest) -> list[AccessCheckAccess]:
            return [AccessCheckAccess(id="native", source=self.core.name, category=AccessCategory.whitelist,
                                      used_medium=Medium(id="G1", type="lpr"), access_data={}, accepted=True)]

    om_host(("both", Both()), config={"both": {"NAME": "om_both"}})
    response = om_client.rpc("access_service", "auth", {"name": "om_both", **OLD_FORM})["response"]
    assert [access["id"] for access in response["accesses"]] == ["native"]
    om_client.rpc_no_response("backend", "auth", {"name": "om_both", **LEGACY_LPR}, timeout=0.5)


def test_a_backends_core_is_known_only_on_its_worker():
    with pytest.raises(RuntimeError, match="only known on its plugin's worker"):
        _ = PlateBackend().core


def test_a_backend_in_a_child_process_registers_answers_and_unregisters(om_host, om_client):
    om_client.subscribe("backend")
    host = om_host(("plates", "tests.support.process_plugins:plate_backend"),
                   config={"plates": {"NAME": "om_plates_1", "ISOLATION": "process"}})
    child = host.plugins["plates"].process.pid
    eventually(lambda: registrations(om_client, "om_plates_1") == ["register"])
    [access] = auth(om_client, "om_plates_1", **LEGACY_LPR)["response"]["medium"]["accesses"]
    assert access["user"] == f"om_plates_1-pid-{child}"
    om_client.publish("backend", {"type": "register_request", "name": "om_controller_1"})
    eventually(lambda: registrations(om_client, "om_plates_1") == ["register", "register"])
    host.stop()
    eventually(lambda: registrations(om_client, "om_plates_1") == ["register", "register", "unregister"])
