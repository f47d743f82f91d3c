"""Access checks and counts between plugins in ``openmodule-host`` and a real openmodule 18.5.0 service.

On one broker: a host whose ``whitelist`` plugin implements ``check_access`` (NAME ``om_whitelist_1``) and
``check_in``/``check_out``, plus a ``caller`` plugin; and the openmodule service ``om_interop_1`` running
openmodule's own ``AccessService`` template (``peers/openmodule_service.py``). Both access services serve
``access_service``/``auth`` on the same broker, each for its own NAME, as a controller expects.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from openmodule_hookspecs import (
    AccessCheckRequest,
    AccessCheckResponse,
    LPRCountry,
    LPRMedium,
    RPCTimeoutError,
)

from openmodule_host.host import Host
from openmodule_host.rpc import PluginRPCClient
from openmodule_host.testing import PrivateBroker, start_host
from tests.support import eventually
from tests.support.rpc_plugins import Caller
from tests.test_access import COUNT, NEW_FORM, OLD_FORM, Counter, Whitelist

from .peer import OpenModulePeer
from .wire_tap import WireTap

pytestmark = pytest.mark.interop

WHITELIST = "om_whitelist_1"
SERVICE = "om_interop_1"


class WhitelistAndCounter(Whitelist, Counter):
    def __init__(self) -> None:
        Whitelist.__init__(self)
        Counter.__init__(self)


@dataclass
class Garage:
    host: Host
    whitelist: WhitelistAndCounter
    service: OpenModulePeer
    client: PluginRPCClient
    tap: WireTap


@pytest.fixture(scope="module")
def garage() -> Iterator[Garage]:
    with contextlib.ExitStack() as stack:
        broker = PrivateBroker()
        stack.callback(broker.close)
        whitelist, caller = WhitelistAndCounter(), Caller()
        host = start_host(broker, [("whitelist", whitelist), ("caller", caller)],
                          config={"whitelist": {"NAME": WHITELIST}})
        stack.callback(host.stop)
        service = stack.enter_context(OpenModulePeer(SERVICE, broker.sub_address, broker.pub_address))
        service.wait_ready()
        service.serve_access()
        tap = WireTap(broker.sub_address, broker.pub_address)
        stack.callback(tap.close)
        yield Garage(host, whitelist, service, caller.core.rpc_client, tap)


def ask(garage: Garage, name: str, form: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    return garage.service.rpc("access_service", "auth", {"name": name, **form}, request_model="AccessCheckRequest",
                              response_model="AccessCheckResponse", **kwargs)


@pytest.mark.parametrize("form", [OLD_FORM, NEW_FORM], ids=["old-form", "new-form"])
def test_openmodule_asks_the_plugins_access_service_and_reads_its_answer(garage, form):
    garage.whitelist.requests.clear()
    result = ask(garage, WHITELIST, form)

    assert result["ok"], result
    assert result["model"] == "AccessCheckResponse"
    [access] = result["response"]["accesses"]
    assert (access["id"], access["source"], access["category"], access["accepted"]) == (
        "acc-GARIVO1", WHITELIST, "whitelist", True)
    # the plugin got the request exactly as openmodule's own model made it (both forms filled in)
    [request] = garage.whitelist.requests
    assert request.model_dump(mode="json") == result["sent"]


def test_only_the_access_service_named_answers(garage):
    ask(garage, WHITELIST, OLD_FORM)  # the host's
    reply = json.loads(garage.tap.wait_for("rpc-rep-access_service", lambda body: b"acc-GARIVO1" in body))
    assert reply["name"] == WHITELIST

    result = ask(garage, SERVICE, OLD_FORM)  # openmodule's
    assert result["ok"] and result["response"]["accesses"][0]["source"] == SERVICE

    assert ask(garage, "om_nobody", OLD_FORM, timeout=0.5)["error"] == "RPCClient.TimeoutError"


def test_a_plugin_asks_openmodules_access_service(garage):
    request = AccessCheckRequest(name=SERVICE, gate="entry1",
                                 vehicle={"lpr": LPRMedium(id="GARIVO1", country=LPRCountry(code="A", state="G"))})
    response = garage.client.rpc("access_service", "auth", request, AccessCheckResponse)

    assert response.success
    assert [(access.id, access.source, access.used_medium.id) for access in response.accesses] == [
        ("acc-GARIVO1", SERVICE, "GARIVO1")]
    # openmodule's model reads the request off the wire as ours does (both fill in vehicle_id "0" from the
    # vehicle_data that the old form built)
    read_back = AccessCheckRequest.model_validate(request.model_dump()).model_dump(mode="json")
    got = garage.service.wait_for_access_check(lambda got: got["timestamp"] == read_back["timestamp"])
    assert got == read_back
    assert got["vehicle_id"] == "0"


def test_a_plugin_asking_a_name_nobody_serves_times_out(garage):
    request = AccessCheckRequest(name="om_nobody", qr="Q1")
    with pytest.raises(RPCTimeoutError):
        garage.client.rpc("access_service", "auth", request, AccessCheckResponse, timeout=0.5)


def test_count_messages_from_openmodule_reach_check_in_and_check_out(garage):
    garage.service.publish("count", COUNT)
    garage.service.publish("count", {**COUNT, "gateway": {"gate": "exit1", "direction": "out"},
                                     "transaction_id": "t-out"})
    eventually(lambda: garage.whitelist.ins and garage.whitelist.outs)
    assert garage.whitelist.ins[-1].user == "u-17"
    assert garage.whitelist.ins[-1].name == SERVICE
    assert garage.whitelist.outs[-1].transaction_id == "t-out"
