"""The V2 backend models (openmodule 10.x's shapes) and the conversions between the two access protocols."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from openmodule_hookspecs import (
    Access,
    AccessCategory,
    AccessCheckAccess,
    AccessCheckRequest,
    AccessRequest,
    AccessResponse,
    LegacyAccessCategory,
    MediumType,
)
from pydantic import ValidationError

from openmodule_host.utils import (
    LEGACY_EPOCH,
    access_check_accesses,
    access_check_request,
    backend_requests,
    legacy_accesses,
)

DAILY_8_TO_9 = "DTSTART:20240101T070000Z\nRRULE:FREQ=DAILY"  # 08:00 in Vienna in winter


def test_an_access_sends_start_and_end_as_unix_seconds_and_reads_either_form():
    access = Access.model_validate({"category": "permanent-employee", "start": "2024-01-01T01:00:00+01:00",
                                    "end": 1735689600.5, "user": "u-1"})
    assert (access.start, access.end) == (datetime(2024, 1, 1), datetime(2025, 1, 1, 0, 0, 0, 500000))
    assert access.json_bytes() == (b'{"category":"permanent-employee","start":1704067200.0,"end":1735689600.5,'
                                   b'"occupant_check":false,"infos":{},"cost_entries":[],"user":"u-1"}')


@pytest.mark.parametrize(("fields", "error"), [
    ({"recurrence": DAILY_8_TO_9}, "set a duration when using recurrence"),
    ({"recurrence": "RRULE:FREQ=DAILY", "duration": 60}, "must contain a DTSTART field"),
    ({"recurrence": "DTSTART:20240101T070000Z;RRULE:FREQ=DAILY", "duration": 60}, "separated by a newline"),
    ({"recurrence": "DTSTART:20240101T070000Z\nRRULE:FREQ=SOMETIMES", "duration": 60}, "recurrence is not valid"),
    ({"category": "vip"}, "category"),
])
def test_an_access_is_checked_as_10x_checked_it(fields, error):
    with pytest.raises(ValidationError, match=error):
        Access.model_validate({"category": "booked-visitor", "start": 0, "user": "u", **fields})


def test_an_empty_recurrence_is_none():
    assert Access(category="booked-visitor", start=0, user="u", recurrence="").recurrence is None


def test_an_access_is_valid_between_start_and_end_and_within_its_recurrence_in_the_time_zone():
    bounded = Access(category="booked-visitor", start=datetime(2024, 1, 1), end=datetime(2024, 2, 1), user="u")
    assert bounded.is_valid_at(datetime(2024, 1, 1), "Europe/Vienna")
    assert bounded.is_valid_at(datetime(2024, 2, 1), "Europe/Vienna")
    assert not bounded.is_valid_at(datetime(2024, 2, 1, 0, 0, 1), "Europe/Vienna")
    assert bounded.is_valid_at(datetime(2024, 1, 5, 1, tzinfo=UTC), "UTC")

    daily = Access(category="booked-visitor", start=0, user="u", recurrence=DAILY_8_TO_9, duration=3600)
    assert daily.is_valid_at(datetime(2024, 1, 10, 7, 30), "Europe/Vienna")  # 08:30 CET
    assert daily.is_valid_at(datetime(2024, 7, 10, 6, 30), "Europe/Vienna")  # 08:30 CEST: wall-clock time
    assert not daily.is_valid_at(datetime(2024, 7, 10, 7, 30), "Europe/Vienna")  # 09:30 CEST
    assert not daily.is_valid_at(datetime(2023, 12, 31, 7, 30), "Europe/Vienna")  # before the first one


def test_a_legacy_request_reads_id_or_medium_id_and_sends_id():
    request = AccessRequest.model_validate({"name": "b", "medium_type": "qr", "medium_id": "Q1"})
    assert request.medium_id == "Q1"
    assert AccessRequest.model_validate(request.model_dump()) == request
    assert "id" in request.model_dump() and "medium_id" not in request.model_dump()
    response = AccessResponse.model_validate({"success": True, "medium": {"id": "Q1", "type": "qr", "accesses": []}})
    assert response.model_dump() == {"success": True, "medium": {"accesses": [], "id": "Q1", "type": "qr"}}


@pytest.mark.parametrize("medium_type", ["regex", "card"])
def test_a_legacy_request_has_one_of_the_four_v2_medium_types(medium_type):
    """10.x's MediumType is lpr, nfc, pin or qr; a regex medium (a later addition) has no V2 backend."""
    with pytest.raises(ValidationError, match="medium_type"):
        AccessRequest.model_validate({"name": "b", "medium_type": medium_type, "id": "M1"})


# -- conversions ------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("medium_type", "where"), [
    ("lpr", lambda request: request.vehicle.lpr.id), ("nfc", lambda request: request.vehicle.nfc.id),
    ("pin", lambda request: request.vehicle.pin.id), ("qr", lambda request: request.qr),
])
def test_a_legacy_request_becomes_an_access_check_for_its_one_medium(medium_type, where):
    legacy = AccessRequest(name="b", gateway={"gate": "entry1", "direction": "in"}, medium_type=medium_type,
                           medium_id="M1", timestamp=datetime(2024, 6, 1))
    current = access_check_request(legacy)
    assert (current.name, current.gate, current.timestamp, where(current)) == ("b", "entry1", datetime(2024, 6, 1),
                                                                               "M1")


def test_an_access_check_becomes_one_legacy_request_per_medium():
    current = AccessCheckRequest.model_validate({
        "name": "b", "gate": "exit1", "vehicle": {
            "pin": {"id": "1234", "type": "pin"}, "qr": {"id": "Q1", "type": "qr"},
            "lpr": {"id": "G1", "type": "lpr"}}})
    requests = backend_requests(current)
    assert [(request.medium_type, request.medium_id) for request in requests] == [
        (MediumType.lpr, "G1"), (MediumType.qr, "Q1"), (MediumType.pin, "1234")]
    assert {(request.name, request.gateway.gate, request.gateway.direction) for request in requests} == {
        ("b", "exit1", "")}
    assert backend_requests(AccessCheckRequest(name="b", qr="Q2"))[0].gateway is None


def test_a_medium_is_asked_as_the_type_of_its_slot():
    """A card typed ``regex`` in ``vehicle.nfc`` is asked as an nfc medium (a V2 request cannot say regex)."""
    current = AccessCheckRequest.model_validate({"name": "b", "vehicle": {"nfc": {"id": "C1", "type": "regex"}}})
    assert [(request.medium_type, request.medium_id) for request in backend_requests(current)] == [
        (MediumType.nfc, "C1")]


def test_v2_accesses_become_accesses_accepted_at_the_request_time():
    request = AccessRequest(name="b", medium_type="lpr", id="G1", timestamp=datetime(2024, 6, 1))
    accesses = [Access(category="filler-visitor-button", start=0, user="u", infos={"k": 1}, clearing="c1"),
                Access(category="permanent-digimon", start=datetime(2025, 1, 1), user="u")]
    first, second = access_check_accesses(accesses, request, "om_b", "Europe/Vienna")
    assert (first.id, first.customer_id, first.source, first.category, first.accepted) == (
        "u", "u", "om_b", AccessCategory.shortterm, True)
    assert (first.access_infos, first.clearing, first.used_medium.id) == ({"k": 1}, "c1", "G1")
    assert first.access_data == accesses[0].model_dump()
    assert (second.id, second.category, second.accepted, second.reject_reason) == (
        "u-2", AccessCategory.permanent, False, "wrong_time")


def test_accepted_accesses_become_v2_accesses_and_rejected_ones_are_left_out():
    base = {"source": "s", "used_medium": {"id": "G1", "type": "lpr"}, "access_data": {}}
    accesses = [
        AccessCheckAccess(id="a1", category="whitelist", accepted=True, **base),
        AccessCheckAccess(id="a2", customer_id="c2", category="booked", accepted=True,
                          valid_from=datetime(2024, 1, 1), valid_to=datetime(2024, 2, 1), access_infos={"x": 1},
                          **base),
        AccessCheckAccess(id="a3", category="permanent", accepted=False, reject_reason="wrong_gate", **base),
    ]
    first, second = legacy_accesses(accesses)
    assert (first.user, first.category, first.start, first.end) == (
        "a1", LegacyAccessCategory.permanent_employee, LEGACY_EPOCH, None)
    assert (second.user, second.category, second.start, second.end, second.infos) == (
        "c2", LegacyAccessCategory.booked_visitor, datetime(2024, 1, 1), datetime(2024, 2, 1), {"x": 1})


@pytest.mark.parametrize("category", [category for category in AccessCategory if category != "external"])
def test_every_access_category_has_a_v2_counterpart(category):
    fields = {"access_infos": {"medium_display_name": "x"}} if category == "handauf" else {}
    access = AccessCheckAccess(id="a", source="s", category=category, used_medium={"id": "G1", "type": "lpr"},
                               access_data={}, accepted=True, **fields)
    assert len(legacy_accesses([access])) == 1
