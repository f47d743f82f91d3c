"""The backend hooks: ``check_access`` as an access service (RPC ``access_service``/``auth``, by NAME), and
``check_in``/``check_out`` from the legacy ``count`` messages."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from openmodule_hookspecs import (
    AccessCategory,
    AccessCheckAccess,
    AccessCheckRequest,
    AccessCheckResponse,
    CountMessage,
    Medium,
    MediumType,
    hookimpl,
)
from pydantic import ValidationError

from openmodule_host.access import access_response
from openmodule_host.testing import TestClient
from tests.support import eventually
from tests.support.rpc_plugins import Lookup, LookupRequest, LookupResponse

OLD_FORM = {"vehicle": {"lpr": {"id": "GARIVO1", "type": "lpr", "country": {"code": "A", "state": "G"}}},
            "gate": "entry1", "vehicle_id": "1717236006900000000"}
NEW_FORM = {"vehicle_data": {"vehicle_id": "1717236006900000000",
                             "lpr_front": {"source": "hw_cam_1", "plate": "GARIVO1", "country": "A", "state": "G"}},
            "gate": "entry1", "qr": "QR-5"}


def whitelist_access(request: AccessCheckRequest, source: str) -> AccessCheckAccess:
    plate = request.vehicle.lpr.id if request.vehicle.lpr else ""
    return AccessCheckAccess(id=f"acc-{plate}", source=source, category=AccessCategory.whitelist,
                             used_medium=Medium(id=plate, type=MediumType.lpr), access_data={"plate": plate},
                             accepted=True)


class Whitelist:
    """An access service: whitelists plates starting with G; behaviours picked by the plate."""

    def __init__(self) -> None:
        self.requests: list[AccessCheckRequest] = []
        self.threads: set[str] = set()
        self.core: Any = None

    @hookimpl
    def register_handlers(self, core: Any) -> None:
        self.core = core

    @hookimpl
    def check_access(self, core: Any, request: AccessCheckRequest) -> Any:
        self.requests.append(request)
        self.threads.add(threading.current_thread().name)
        plate = request.vehicle.lpr.id if request.vehicle.lpr else None
        if plate == "RAISE":
            raise RuntimeError("whitelist database locked")
        if plate == "NONE":
            return None
        if plate == "WRONG":
            return "not a response"
        if plate == "RESPONSE":
            return AccessCheckResponse(success=False)
        return [whitelist_access(request, core.name)] if plate and plate.startswith("G") else []


class Counter:
    """A legacy backend: counts check-ins and check-outs."""

    def __init__(self, fail_on: str | None = None) -> None:
        self.ins: list[CountMessage] = []
        self.outs: list[CountMessage] = []
        self.fail_on = fail_on

    @hookimpl
    def check_in(self, core: Any, message: CountMessage) -> None:
        if message.user == self.fail_on:
            raise RuntimeError("counter database locked")
        self.ins.append(message)

    @hookimpl
    def check_out(self, core: Any, message: CountMessage) -> None:
        self.outs.append(message)


@pytest.fixture
def access_services(om_host):
    """Two access services in one host: om_whitelist_1 and om_whitelist_2."""
    first, second = Whitelist(), Whitelist()
    host = om_host(("whitelist", first), ("second", second),
                   config={"whitelist": {"NAME": "om_whitelist_1"}, "second": {"NAME": "om_whitelist_2"}})
    return host, first, second


def check(client: TestClient, name: str, **request: Any) -> dict[str, Any]:
    return client.rpc("access_service", "auth", {"name": name, **request})


def test_a_check_access_hook_answers_the_access_service_rpc_for_its_name(access_services, om_client):
    _, first, second = access_services
    reply = check(om_client, "om_whitelist_1", **OLD_FORM)
    assert (reply["name"], reply["type"]) == ("om_whitelist_1", "auth")
    response = reply["response"]
    assert response["status"] == "ok" and response["success"] is True
    assert response["accesses"] == [{
        "id": "acc-GARIVO1", "source": "om_whitelist_1", "access_infos": {}, "category": "whitelist",
        "used_medium": {"id": "GARIVO1", "type": "lpr"}, "access_data": {"plate": "GARIVO1"}, "accepted": True,
        "from_lpr_back": False}]
    assert len(first.requests) == 1 and second.requests == []
    assert first.threads == {"omh-plugin-whitelist"}  # on the plugin's worker


def test_each_access_service_in_a_host_answers_only_for_its_own_name(access_services, om_client):
    _, first, second = access_services
    assert check(om_client, "om_whitelist_2", **OLD_FORM)["name"] == "om_whitelist_2"
    assert (len(first.requests), len(second.requests)) == (0, 1)
    om_client.rpc_no_response("access_service", "auth", {"name": "om_someone_else", **OLD_FORM}, timeout=0.5)
    assert (len(first.requests), len(second.requests)) == (0, 1)


def test_the_request_reaches_the_hook_in_both_forms(access_services, om_client):
    _, first, _ = access_services
    check(om_client, "om_whitelist_1", **OLD_FORM)
    check(om_client, "om_whitelist_1", **NEW_FORM)
    old, new = first.requests
    assert old.vehicle_data.vehicle_id == "1717236006900000000" and old.vehicle_data.lpr_front.plate == "GARIVO1"
    assert (new.vehicle.lpr.id, new.vehicle.lpr.country.code, new.vehicle.qr.id) == ("GARIVO1", "A", "QR-5")
    assert new.vehicle_id == "1717236006900000000"


def test_none_means_no_accesses_and_a_response_is_sent_as_it_is(access_services, om_client):
    assert check(om_client, "om_whitelist_1", vehicle={"lpr": {"id": "NONE"}})["response"] == {
        "success": True, "accesses": [], "status": "ok"}
    assert check(om_client, "om_whitelist_1", vehicle={"lpr": {"id": "RESPONSE"}})["response"] == {
        "success": False, "accesses": [], "status": "ok"}


def test_a_raising_hook_answers_success_false_and_is_counted(access_services, om_client, caplog):
    host, _, _ = access_services
    reply = check(om_client, "om_whitelist_1", vehicle={"lpr": {"id": "RAISE"}})
    assert reply["response"] == {"success": False, "accesses": [], "status": "ok"}
    assert host.plugins["whitelist"].stats.handler_errors == 1
    assert "check_access raised" in caplog.text and "whitelist database locked" in caplog.text
    assert check(om_client, "om_whitelist_1", **OLD_FORM)["response"]["success"] is True  # keeps serving


def test_a_wrong_return_value_is_a_handler_error(access_services, om_client):
    response = check(om_client, "om_whitelist_1", vehicle={"lpr": {"id": "WRONG"}})["response"]
    assert response["status"] == "handler_error"
    assert "check_access must return" in response["exception"]


def test_an_invalid_request_gets_validation_error_and_never_reaches_the_hook(access_services, om_client):
    _, first, second = access_services
    response = check(om_client, "om_whitelist_1", gate="entry1")["response"]
    assert response["status"] == "validation_error"
    assert "Either vehicle_data or qr or vehicle must be given" in response["exception"]
    # a request that names nobody and does not validate: answered as every standalone service would
    assert check(om_client, "om_nobody", gate="x")["response"]["status"] == "validation_error"
    assert first.requests == [] and second.requests == []


@pytest.mark.parametrize("request_fields", [{"vehicle": 5}, {"vehicle": "GARIVO1"}, {"vehicle_data": [1, 2]}],
                         ids=["vehicle-int", "vehicle-str", "vehicle_data-list"])
def test_a_request_with_a_non_object_vehicle_gets_validation_error(access_services, om_client, request_fields):
    _, first, _ = access_services
    response = check(om_client, "om_whitelist_1", **request_fields)["response"]
    assert response["status"] == "validation_error"
    assert "must be an object, not" in response["exception"]
    assert first.requests == []
    assert check(om_client, "om_whitelist_1", **OLD_FORM)["response"]["success"] is True  # keeps serving


def test_a_plain_handler_and_a_named_one_share_the_access_rpc_each_answering_what_it_serves(om_host, om_client):
    class PlainAccessService:
        @hookimpl
        def register_handlers(self, core: Any) -> None:
            core.rpc_server.register_handler("access_service", "auth", AccessCheckRequest, AccessCheckResponse,
                                             lambda request, message: AccessCheckResponse(success=False))

    whitelist = Whitelist()
    om_host(("plain", PlainAccessService()), ("whitelist", whitelist), config={"whitelist": {"NAME": "om_wl"}})
    rpc_id = om_client.rpc_send("access_service", "auth", {"name": "om_wl", **OLD_FORM})
    replies = [om_client.wait_for_message("rpc-rep-access_service", lambda body: body.get("rpc_id") == rpc_id)
               for _ in range(2)]
    assert {reply["name"]: reply["response"]["success"] for reply in replies} == {"plain": False, "om_wl": True}
    # a request for another access service: only the plain one (unkeyed, unfiltered) answers
    assert check(om_client, "om_other", **OLD_FORM)["name"] == "plain"
    om_client.assert_no_message("rpc-rep-access_service", lambda body: body.get("name") == "om_wl")
    assert len(whitelist.requests) == 1


def test_named_handlers_serve_other_channels_too(om_host, om_client):
    class NamedLookup(Lookup):
        @hookimpl
        def register_handlers(self, core: Any) -> None:
            self.core = core
            core.rpc_server.register_named_handler("plates", "by_name", NamedRequest, LookupResponse, self.lookup)

    om_host(("a", NamedLookup()), ("b", NamedLookup()), config={"a": {"NAME": "om_a"}, "b": {"NAME": "om_b"}})
    assert om_client.rpc("plates", "by_name", {"name": "om_b", "plate": "G1"})["response"]["owner"] == "om_b"
    assert om_client.rpc("plates", "by_name", {"name": "om_a", "plate": "G1"})["response"]["owner"] == "om_a"


class NamedRequest(LookupRequest):
    name: str


def test_a_plugin_serves_a_channel_and_type_once(om_host):
    class Twice(Lookup):
        @hookimpl
        def register_handlers(self, core: Any) -> None:
            for _ in range(2):
                core.rpc_server.register_named_handler("plates", "by_name", NamedRequest, LookupResponse,
                                                       self.lookup)

    host = om_host(("twice", Twice()), config={"twice": {"NAME": "om_twice"}}, strict=False)
    assert host.plugins["twice"].reason == (
        "register_handlers raised RegistrationError: plugin 'twice': RPC plates/by_name is already served by "
        "plugin 'twice' "
        "(name='om_twice'); a plugin registers a (channel, type) once")


def test_a_named_handler_needs_a_name_field(om_host):
    class Nameless(Lookup):
        @hookimpl
        def register_handlers(self, core: Any) -> None:
            core.rpc_server.register_named_handler("plates", "x", LookupRequest, LookupResponse, self.lookup)

    host = om_host(("nameless", Nameless()), strict=False)
    assert "has no name field" in host.plugins["nameless"].reason


def test_when_an_access_service_stops_the_others_keep_serving(access_services, om_client):
    host, _, _ = access_services
    host.plugins["whitelist"].core.detach()
    assert check(om_client, "om_whitelist_2", **OLD_FORM)["response"]["success"] is True
    om_client.rpc_no_response("access_service", "auth", {"name": "om_whitelist_1", **OLD_FORM}, timeout=0.5)


# -- check_in / check_out -----------------------------------------------------------------------------------

COUNT = {"type": "count", "user": "u-17", "gateway": {"gate": "entry1", "direction": "in"}, "medium_type": "lpr",
         "id": "GARIVO1", "count": 1, "transaction_id": "t-991", "zone": "z1", "category": "permanent-employee",
         "real": True}


def test_count_messages_call_check_in_for_in_and_check_out_otherwise(om_host, om_client):
    counter = Counter()
    om_host(("counter", counter))
    om_client.publish("count", COUNT)
    om_client.publish("count", {**COUNT, "gateway": {"gate": "exit1", "direction": "out"}, "transaction_id": "t-2"})
    om_client.publish("count", {**COUNT, "gateway": {"gate": "door"}, "transaction_id": "t-3"})
    eventually(lambda: len(counter.ins) == 1 and len(counter.outs) == 2)
    assert counter.ins[0].medium_id == "GARIVO1" and counter.ins[0].category == "permanent-employee"
    assert [message.transaction_id for message in counter.outs] == ["t-2", "t-3"]


def test_a_bad_count_message_is_dropped_and_counted_and_a_raising_check_in_too(om_host, om_client):
    counter = Counter(fail_on="u-fail")
    host = om_host(("counter", counter))
    om_client.publish("count", {**COUNT, "count": "many"})
    om_client.publish("count", {**COUNT, "user": "u-fail"})
    om_client.publish("count", {**COUNT, "transaction_id": "t-ok"})
    eventually(lambda: len(counter.ins) == 1)
    stats = host.plugins["counter"].stats
    assert (stats.invalid, stats.handler_errors) == (1, 1)
    assert counter.ins[0].transaction_id == "t-ok"


def test_a_plugin_without_backend_hooks_gets_neither(om_host):
    host = om_host(("lookup", Lookup()))
    assert "count" not in host.intake.topics
    assert "rpc-req-access_service" not in host.intake.topics


# -- the models ---------------------------------------------------------------------------------------------

def test_access_response_accepts_a_response_a_list_a_dict_or_none():
    access = whitelist_access(AccessCheckRequest.model_validate({"name": "x", **OLD_FORM}), "x")
    assert access_response(None) == AccessCheckResponse(success=True, accesses=[])
    assert access_response([access]) == AccessCheckResponse(success=True, accesses=[access])
    assert access_response({"success": False}) == AccessCheckResponse(success=False)
    with pytest.raises(TypeError, match="check_access must return"):
        access_response("yes")


@pytest.mark.parametrize(("fields", "error"), [
    ({"category": "handauf"}, "medium_display_name must be set"),
    ({"category": "external"}, "category external is not allowed"),
    ({"group_limit": 2}, "group_limit must not be set without group_id"),
    ({"group_limit": 2, "group_id": "g", "category": "shortterm"}, "must not be set for shortterm"),
    ({"accepted": False, "reject_reason": "custom"}, "supplementary_infos must be set"),
    ({"group_limit": 0, "group_id": "g"}, "greater than or equal to 1"),
])
def test_accesses_are_checked_as_openmodule_checks_them(fields, error):
    base = {"id": "a", "source": "s", "category": "whitelist", "used_medium": {"id": "G1", "type": "lpr"},
            "access_data": {}, "accepted": True}
    with pytest.raises(ValidationError, match=error):
        AccessCheckAccess.model_validate({**base, **fields})


def test_a_request_needs_a_vehicle_vehicle_data_or_qr_and_keeps_the_callers_dict():
    with pytest.raises(ValidationError, match="Either vehicle_data or qr or vehicle must be given"):
        AccessCheckRequest.model_validate({"name": "x"})
    with pytest.raises(ValidationError, match="vehicle must be an object, not int"):
        AccessCheckRequest.model_validate({"name": "x", "vehicle": 5})
    data = {"name": "x", "qr": "Q1"}
    request = AccessCheckRequest.model_validate(data)
    assert request.vehicle.qr == Medium(id="Q1", type=MediumType.qr)
    assert data == {"name": "x", "qr": "Q1"}
