"""The access service toolkit: the ``AccessService`` template as a plugin (served through the ``check_access``
hook, by NAME) and ``check_accesses_valid_at_gate`` with the settings provider."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest
from openmodule_hookspecs import (
    AccessCategory,
    AccessCheckAccess,
    AccessCheckRejectReason,
    AccessCheckRequest,
    AccessCheckResponse,
    Medium,
    MediumType,
    RPCRequest,
    hookimpl,
)

from openmodule_host.host import Host
from openmodule_host.testing import SettingsMock, SettingsMocker
from openmodule_host.utils import AccessService, SettingsProvider, check_accesses_valid_at_gate

GATES = {
    "entry1": {"gate": "entry1", "name": "Entry 1", "type": "entry"},
    "entry2": {"gate": "entry2", "name": "Entry 2", "type": "entry"},
    "door1": {"gate": "door1", "name": "Door", "type": "door"},
}
AREA = "0b5e1c52-6f0e-4b0a-9d43-0c6a0f7e2a11"  # ids are UUIDs in a real garage's settings
STAFF = "7d1f0c3e-2b8a-4e55-a1c9-5f3e8b2d4c60"
AREAS = {AREA: {"id": AREA, "name": "Area", "gates": ["entry1", "entry2"], "shortterm_gates": ["entry1"],
                   "default_cost_entries": [], "shortterm_limit": 0}}
PARKSETTINGS = {STAFF: {"id": STAFF, "name": "Staff", "gates": ["entry2"], "default_cost_entries": []}}
SETTINGS = {"common/gates": GATES, "common/parking_areas2": AREAS, "common/parksettings2": PARKSETTINGS}


def access(id: str, category: str = "permanent", parksettings_id: str | None = None, accepted: bool = True
           ) -> AccessCheckAccess:
    return AccessCheckAccess(id=id, source="om_test_1", category=AccessCategory(category),
                             parksettings_id=parksettings_id, used_medium=Medium(id="G1", type=MediumType.lpr),
                             access_data={}, accepted=accepted)


def outcome(accesses: list[AccessCheckAccess]) -> list[tuple[bool, str | None]]:
    return [(a.accepted, a.reject_reason.value if a.reject_reason else None) for a in accesses]


@pytest.mark.parametrize(("gate", "expected"), [
    # staff parksetting (entry2 only), a permanent without parksetting, a shortterm, an unknown, already rejected
    ("entry1", [(False, "wrong_gate"), (True, None), (True, None), (True, None), (False, None)]),
    ("entry2", [(True, None), (True, None), (False, "wrong_gate"), (False, "wrong_gate"), (False, None)]),
    ("door1", [(True, None), (True, None), (True, None), (True, None), (False, None)]),  # doors: no check
    ("nowhere", [(False, "wrong_gate"), (True, None), (False, "wrong_gate"), (False, "wrong_gate"), (False, None)]),
])
def test_accesses_are_rejected_where_their_gates_do_not_include_the_gate(gate, expected):
    accesses = [access("a", parksettings_id=STAFF), access("b"), access("c", "shortterm"), access("d", "unknown"),
                access("e", accepted=False)]
    check_accesses_valid_at_gate(accesses, gate, SettingsMocker(SETTINGS))
    assert outcome(accesses) == expected


def test_a_parksetting_the_settings_lack_is_no_restriction_but_a_warning(caplog):
    accesses = [access("a", parksettings_id="gone"), access("b", "shortterm", parksettings_id="gone")]
    with caplog.at_level(logging.WARNING):
        check_accesses_valid_at_gate(accesses, "entry2", SettingsMocker(SETTINGS))
    assert outcome(accesses) == [(True, None), (False, "wrong_gate")]  # shortterm: the shortterm gates
    assert "['gone', 'gone']" in caplog.text


def test_a_shortterm_access_with_a_parksetting_is_logged_as_invalid_and_checked_by_it(caplog):
    accesses = [access("a", "shortterm", parksettings_id=STAFF)]
    check_accesses_valid_at_gate(accesses, "entry2", SettingsMocker(SETTINGS))
    assert outcome(accesses) == [(True, None)]
    assert "has a parksetting: an invalid access" in caplog.text


def test_missing_gate_settings_are_named():
    with pytest.raises(LookupError, match="has no common/parksettings2"):
        without = {key: value for key, value in SETTINGS.items() if key != "common/parksettings2"}
        check_accesses_valid_at_gate([access("a")], "entry1", SettingsMocker(without))


# -- the template as plugins --------------------------------------------------------------------------------

class GarageWhitelist(AccessService):
    """An access service written as with openmodule's template: its ``whitelist`` table maps plates to
    parksettings; each access is checked at the request's gate with the settings provider."""

    settings: SettingsProvider

    @hookimpl
    def register_handlers(self, core: Any) -> None:
        self.settings = SettingsProvider()
        self.plates: dict[str, str | None] = core.config.whitelist

    def rpc_check_access(self, request: AccessCheckRequest, message: RPCRequest | None) -> AccessCheckResponse:
        plate = request.vehicle.lpr.id if request.vehicle.lpr else ""
        if plate not in self.plates:
            return AccessCheckResponse(success=True, accesses=[])
        accesses = [AccessCheckAccess(
            id=f"{self.log.name}-{plate}", source="whitelist", category=AccessCategory.permanent,
            parksettings_id=self.plates[plate], used_medium=Medium(id=plate, type="lpr"), access_data={}, accepted=True,
        )]
        if request.gate:
            check_accesses_valid_at_gate(accesses, request.gate, self.settings)
        return AccessCheckResponse(success=True, accesses=accesses)


class Unfinished(AccessService):
    """A subclass that forgot ``rpc_check_access``."""


def ask(om_client: Any, name: str, plate: str, gate: str | None = "entry1") -> dict[str, Any]:
    request = {"name": name, "vehicle": {"lpr": {"id": plate, "type": "lpr"}}, **({"gate": gate} if gate else {})}
    return om_client.rpc("access_service", "auth", request, timeout=10)["response"]


@pytest.fixture
def two_services(om_host: Callable[..., Host], om_settings: SettingsMock) -> Host:
    om_settings.update(SETTINGS)
    return om_host(("staff", GarageWhitelist), ("tenants", GarageWhitelist), config={
        "staff": {"NAME": "om_access_staff_1", "whitelist": {"GSTAFF1": STAFF}},
        "tenants": {"NAME": "om_access_tenants_1", "whitelist": {"GTENANT1": None}},
    })


def test_two_access_services_each_answer_only_for_their_name(two_services, om_client):
    staff = ask(om_client, "om_access_staff_1", "GSTAFF1", gate="entry2")
    assert staff["success"] is True
    assert [(a["id"], a["accepted"]) for a in staff["accesses"]] == [("staff-GSTAFF1", True)]
    assert ask(om_client, "om_access_staff_1", "GTENANT1")["accesses"] == []  # the other's plate
    tenants = ask(om_client, "om_access_tenants_1", "GTENANT1", gate="entry2")
    assert [(a["id"], a["accepted"]) for a in tenants["accesses"]] == [("tenants-GTENANT1", True)]
    om_client.rpc_no_response("access_service", "auth",
                              {"name": "om_access_nobody_1", "vehicle": {"lpr": {"id": "GSTAFF1", "type": "lpr"}}})


def test_the_template_answers_no_legacy_backend_requests_as_openmodules(two_services, om_client):
    legacy = {"name": "om_access_staff_1", "gateway": {"gate": "entry2", "direction": "in"}, "medium_type": "lpr",
              "id": "GSTAFF1"}
    om_client.rpc_no_response("backend", "auth", legacy)


class LegacyToo(GarageWhitelist):
    @hookimpl
    def access_protocols(self, core: Any) -> tuple[str, ...]:
        return ("access_service", "backend")


def test_a_template_that_asks_for_it_answers_legacy_backend_requests_too(om_host, om_client, om_settings):
    om_settings.update(SETTINGS)
    om_host(("staff", LegacyToo), config={"staff": {"NAME": "om_access_staff_1", "whitelist": {"GSTAFF1": None}}})
    legacy = {"name": "om_access_staff_1", "gateway": {"gate": "entry2", "direction": "in"}, "medium_type": "lpr",
              "id": "GSTAFF1"}
    reply = om_client.rpc("backend", "auth", legacy, timeout=10)["response"]
    assert reply["success"] is True and reply["medium"]["accesses"][0]["user"] == "staff-GSTAFF1"


def test_the_template_checks_the_gate_with_the_settings_of_the_settings_service(two_services, om_client, om_settings):
    staff = ask(om_client, "om_access_staff_1", "GSTAFF1", gate="entry1")  # staff parksetting: entry2 only
    assert [(a["accepted"], a["reject_reason"]) for a in staff["accesses"]] == [(False, "wrong_gate")]
    assert ask(om_client, "om_access_staff_1", "GSTAFF1", gate="door1")["accesses"][0]["accepted"] is True
    assert ask(om_client, "om_access_staff_1", "GSTAFF1", gate=None)["accesses"][0]["accepted"] is True


def test_a_template_without_rpc_check_access_answers_success_false(om_host, om_client, caplog):
    om_host(("unfinished", Unfinished), config={"unfinished": {"NAME": "om_access_unfinished_1"}})
    assert ask(om_client, "om_access_unfinished_1", "G1") == {"success": False, "accesses": [], "status": "ok"}
    assert "Unfinished must implement rpc_check_access" in caplog.text


def test_rejected_accesses_keep_their_reason_on_the_wire(two_services, om_client):
    reply = ask(om_client, "om_access_staff_1", "GSTAFF1", gate="entry1")
    assert reply["accesses"][0]["reject_reason"] == AccessCheckRejectReason.wrong_gate.value


def test_the_template_and_its_settings_provider_work_in_a_child_process(om_host, om_client, om_settings):
    om_settings.update(SETTINGS)
    om_host(("staff", "tests.test_access_toolkit:GarageWhitelist"), config={
        "staff": {"NAME": "om_access_staff_1", "whitelist": {"GSTAFF1": STAFF}, "ISOLATION": "process"}})
    staff = ask(om_client, "om_access_staff_1", "GSTAFF1", gate="entry1")
    assert [(a["accepted"], a["reject_reason"]) for a in staff["accesses"]] == [(False, "wrong_gate")]
    assert [request.sender for request in om_settings.requests] == ["om_access_staff_1"] * 3
