"""Garage settings and access services between ``openmodule-host`` and a real openmodule 18.5.0 service.

Two garages, each on a broker of its own (each has one settings service):

* ``mock_garage``: the test harness's settings service (``SettingsMock``) and a host with an access service
  built on the ``AccessService`` template; the openmodule service reads settings with openmodule's own
  ``SettingsProvider`` and asks the access service with openmodule's ``RPCClient``.
* ``openmodule_garage``: a settings service written with openmodule's ``RPCServer`` (in the openmodule
  service) and a host whose plugin reads it with this project's ``SettingsProvider``.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from openmodule_hookspecs import Gate, GateMode, GateType, ParkingArea

from openmodule_host.host import Host
from openmodule_host.testing import PrivateBroker, SettingsMock, start_host
from tests.support import eventually
from tests.test_access_toolkit import AREA, SETTINGS, STAFF, GarageWhitelist
from tests.test_settings_provider import GATES, Reader

from .peer import OpenModulePeer

pytestmark = pytest.mark.interop

SCRIPT = Path(__file__).with_name("peers") / "openmodule_settings.py"
_tags = itertools.count()


def om_get(peer: OpenModulePeer, key: str, scope: str = "") -> dict[str, Any]:
    """openmodule's ``SettingsProvider.get`` in the service: the ``settings_value`` event."""
    tag = f"get-{next(_tags)}"
    peer.send({"cmd": "settings_get", "tag": tag, "key": key, "scope": scope})
    return peer.wait_for_event(lambda event: event["event"] == "settings_value" and event["tag"] == tag, 15,
                               f"settings_value {tag}")


def om_get_many(peer: OpenModulePeer, keys: list[str], scope: str = "") -> dict[str, Any]:
    tag = f"get-many-{next(_tags)}"
    peer.send({"cmd": "settings_get_many", "tag": tag, "keys": keys, "scope": scope})
    return peer.wait_for_event(lambda event: event["event"] == "settings_value" and event["tag"] == tag, 15,
                               f"settings_value {tag}")


@dataclass
class MockGarage:
    settings: SettingsMock
    peer: OpenModulePeer
    host: Host


@pytest.fixture(scope="module")
def mock_garage() -> Iterator[MockGarage]:
    with contextlib.ExitStack() as stack:
        broker = PrivateBroker()
        stack.callback(broker.close)
        settings = stack.enter_context(SettingsMock(broker.sub_address, broker.pub_address, SETTINGS))
        host = start_host(broker, [("staff", GarageWhitelist)],
                          config={"staff": {"NAME": "om_access_staff_1", "whitelist": {"GSTAFF1": STAFF}}})
        stack.callback(host.stop)
        peer = stack.enter_context(OpenModulePeer("om_interop_settings_1", broker.sub_address, broker.pub_address,
                                                  script=SCRIPT))
        peer.wait_ready()
        peer.command("settings_provider", "settings_provider_ready")
        yield MockGarage(settings, peer, host)


def test_openmodules_provider_reads_the_mock_into_its_models(mock_garage):
    answer = om_get(mock_garage.peer, "common/gates")
    assert answer["ok"] is True
    assert answer["value"] == {name: {**gate, "opposite_gate": None, "is_wide": None}
                               for name, gate in SETTINGS["common/gates"].items()}
    assert answer["types"] == {name: "Gate" for name in SETTINGS["common/gates"]}


def test_openmodules_provider_caches_and_drops_what_the_mock_announces(mock_garage):
    mock, peer = mock_garage.settings, mock_garage.peer
    mock.set("common/currency", "EUR")
    assert om_get(peer, "common/currency")["value"] == "EUR"
    asked = len(mock.requests)
    assert om_get(peer, "common/currency")["value"] == "EUR"
    assert len(mock.requests) == asked  # from its cache
    mock.set("common/currency", "CHF")
    eventually(lambda: om_get(peer, "common/currency")["value"] == "CHF", timeout=20)


def test_openmodules_provider_reads_no_such_setting_and_errors_as_none(mock_garage):
    mock, peer = mock_garage.settings, mock_garage.peer
    answer = om_get(peer, "common/language", "nowhere")
    assert (answer["ok"], answer["value"], answer["types"]) == (True, None, "NoneType")
    mock.set("common/timezone", "Europe/Vienna", scope="interop")
    mock.error = "database locked"
    try:
        assert om_get(peer, "common/timezone", "interop")["value"] is None
    finally:
        mock.error = None
    assert om_get(peer, "common/timezone", "interop")["value"] == "Europe/Vienna"


def test_openmodules_provider_gets_many_from_the_mock(mock_garage):
    answer = om_get_many(mock_garage.peer, ["common/parking_areas2", "common/parksettings2", "common/nothing"])
    assert answer["ok"] is True
    assert answer["value"]["common/parking_areas2"][AREA]["shortterm_gates"] == ["entry1"]
    assert answer["value"]["common/nothing"] is None
    assert answer["types"]["common/parking_areas2"] == "dict"
    assert mock_garage.settings.requests[-1].type == "get_many"


def test_a_silent_mock_times_openmodules_provider_out(mock_garage):
    mock = mock_garage.settings
    mock.answering = False
    try:
        answer = om_get(mock_garage.peer, "common/language", "silent")
    finally:
        mock.answering = True
    assert (answer["ok"], answer["error"]) == (False, "RPCClient.TimeoutError")


OLD_FORM = {"vehicle": {"lpr": {"id": "GSTAFF1", "type": "lpr", "country": {"code": "A"}}}}
NEW_FORM = {"vehicle_data": {"vehicle_id": "1", "lpr_front": {"plate": "GSTAFF1", "country": "A"}}}


@pytest.mark.parametrize("form", [OLD_FORM, NEW_FORM], ids=["old-form", "new-form"])
@pytest.mark.parametrize(("gate", "accepted", "reason"), [("entry2", True, None), ("entry1", False, "wrong_gate"),
                                                          ("door1", True, None)])
def test_openmodule_asks_the_access_service_template_which_checks_the_gate(mock_garage, form, gate, accepted,
                                                                           reason):
    request = {"name": "om_access_staff_1", "gate": gate, **form}
    answer = mock_garage.peer.rpc("access_service", "auth", request, request_model="AccessCheckRequest",
                                  response_model="AccessCheckResponse", timeout=10)
    assert answer["ok"] is True, answer
    [access] = answer["response"]["accesses"]
    assert (access["id"], access["accepted"], access.get("reject_reason")) == ("staff-GSTAFF1", accepted, reason)


def test_openmodule_gets_no_answer_for_another_access_service(mock_garage):
    request = {"name": "om_access_other_1", "vehicle": {"lpr": {"id": "GSTAFF1", "type": "lpr"}}}
    answer = mock_garage.peer.rpc("access_service", "auth", request, request_model="AccessCheckRequest",
                                  response_model="AccessCheckResponse", timeout=1.0)
    assert (answer["ok"], answer["error"]) == (False, "RPCClient.TimeoutError")


# -- our provider, openmodule's settings service -------------------------------------------------------------

@dataclass
class OpenModuleGarage:
    peer: OpenModulePeer
    call: Callable[..., Any]


@pytest.fixture(scope="module")
def openmodule_garage() -> Iterator[OpenModuleGarage]:
    with contextlib.ExitStack() as stack:
        broker = PrivateBroker()
        stack.callback(broker.close)
        peer = stack.enter_context(OpenModulePeer("om_interop_misc_1", broker.sub_address, broker.pub_address,
                                                  script=SCRIPT))
        peer.wait_ready()
        peer.command("settings_server", "rpc_server_ready", values={
            "common/gates/": GATES, "gate_control/mode/entry1": "permanent_open",
            "common/parking_areas2/": {AREA: {"id": AREA, "name": "A", "gates": ["entry1"],
                                              "shortterm_gates": [], "default_cost_entries": [],
                                              "shortterm_limit": 0}}})
        reader = Reader(rpc_timeout=5.0)
        host = start_host(broker, [("reader", reader)])
        stack.callback(host.stop)

        def call(method: str, *args: Any, **kwargs: Any) -> Any:
            worker = host.plugins["reader"].worker
            assert worker is not None
            return worker.submit(lambda: getattr(reader.settings, method)(*args, **kwargs)).result(timeout=30)

        yield OpenModuleGarage(peer, call)


def test_our_provider_reads_openmodules_settings_service(openmodule_garage):
    call = openmodule_garage.call
    assert call("get", "common/gates") == {"entry1": Gate(gate="entry1", name="Entry", type=GateType.entry),
                                           "door1": Gate(gate="door1", name="Door", type=GateType.door)}
    assert call("get", "gate_control/mode", "entry1") is GateMode.permanent_open
    assert call("get", "gate_control/mode", "exit1") is None
    many = call("get_many", {"common/parking_areas2": None, "common/currency": None})
    assert isinstance(many["common/parking_areas2"][AREA], ParkingArea) and many["common/currency"] is None


def test_our_provider_drops_what_openmodules_settings_service_announces(openmodule_garage):
    peer, call = openmodule_garage.peer, openmodule_garage.call
    peer.command("settings_set", "published", key="common/language", value="de")
    eventually(lambda: call("get", "common/language") == "de", timeout=20)
    peer.command("settings_set", "published", key="common/language", value="en")
    eventually(lambda: call("get", "common/language") == "en", timeout=20)
    peer.command("settings_set", "published", key="common/language")  # removed
    eventually(lambda: call("get", "common/language") is None, timeout=20)

