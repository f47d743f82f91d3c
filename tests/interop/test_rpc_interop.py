"""RPC both ways between plugins in ``openmodule-host`` and a real, standalone openmodule 18.5.0 service.

The plugins run in a host in this process (``tests.support.rpc_plugins``); openmodule runs in its own process
(``peer.py``: never imported here). Both sides serve the same RPC the same way, so every outcome can be
asked of either: the ``Lookup`` plugin with :func:`plate_filter`, and the service's ``RPCServer`` with its
copy of both (``peers/openmodule_service.py``). The plate picks the outcome:

==============  =================================  ==========================================
plate           server                              caller gets
==============  =================================  ==========================================
``G...``        known, ``owner`` = server's NAME    the response, ``status: ok``
``DICT``        a dict, ``owner`` = caller's NAME   the response (the dict's ``status`` dropped)
``NONE``        ``None``                            the response defaults
``RAISE``       the handler raises                  ``handler_error`` (:data:`HANDLER_ERROR`)
``WRONG``       returns an invalid response         ``handler_error`` (pydantic's message)
``EXPLODE``     the filter raises                   ``filter_error`` (:data:`FILTER_ERROR`)
``BLOCKED``     the filter rejects                  no reply: a timeout
no ``plate``    request does not validate           ``validation_error`` (pydantic's error JSON)
==============  =================================  ==========================================

Channels on the one broker of the module (see :func:`garage`):

* ``plates``: served by the plugin only; the openmodule service calls it;
* ``om_plates``: served by openmodule only; a plugin calls it;
* ``shared_plates``: served by both, so one request gets a reply from each, captured raw on the wire.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import zmq
from openmodule_hookspecs import (
    RPCTimeoutError,
    RPCValidationError,
    ServerFilterError,
    ServerHandlerError,
    ServerValidationError,
)

from openmodule_host.host import Host
from openmodule_host.rpc import PluginRPCClient
from openmodule_host.testing import PrivateBroker, TestClient, start_host
from tests.support.rpc_plugins import Caller, Lookup, LookupRequest, LookupResponse

from .peer import OpenModulePeer
from .wire_tap import WireTap, without_envelope

pytestmark = pytest.mark.interop

LOOKUP = "om_lookup_1"  # the Lookup plugin serving plates
SHARED_LOOKUP = "om_lookup_2"  # the Lookup plugin serving shared_plates
CALLER = "om_caller_1"  # the Caller plugin's NAME
SERVICE = "om_interop_1"  # the openmodule service's NAME; its RPCServers serve om_plates and shared_plates
SERVICE_RESOURCE = "interop-test"  # the service's RESOURCE (the AUTH_RESOURCE default of the service script)
HANDLER_ERROR = "plate database locked"  # what both handlers raise for plate RAISE
FILTER_ERROR = "gate filter exploded"  # what both filters raise for plate EXPLODE
NO_REPLY_TIMEOUT = 0.5


def plate_filter(request: LookupRequest, message: Any, handler: Any) -> bool:
    """The Lookup plugins' RPC filter; the service's RPCServers have the same one."""
    if request.plate == "EXPLODE":
        raise RuntimeError(FILTER_ERROR)
    return request.plate != "BLOCKED"


@dataclass
class Garage:
    host: Host
    service: OpenModulePeer
    om_plates_server: dict[str, Any]  # the service's rpc_server_ready event for om_plates
    plugin_client: PluginRPCClient  # core.rpc_client of the Caller plugin
    test_client: TestClient  # calls as an outside service (sets what it is told to)
    tap: WireTap


@pytest.fixture(scope="module")
def garage() -> Iterator[Garage]:
    """One broker with a host (plugins ``lookup`` on plates, ``shared`` on shared_plates, ``caller``), the
    openmodule service (RPCServers on om_plates and shared_plates), a test client and a wire tap.

    Started once for the module: an openmodule service takes about a second to start and stop. No test
    changes it: every call stands alone (matched by its own ``rpc_id``), and a call that gets no reply in
    time gets none later either."""
    with contextlib.ExitStack() as stack:
        broker = PrivateBroker()
        stack.callback(broker.close)
        caller = Caller()
        host = start_host(broker, [
            ("lookup", Lookup(filters=[(plate_filter, {"type": "lookup"})])),
            ("shared", Lookup(channel="shared_plates", filters=[(plate_filter, {"type": "lookup"})])),
            ("caller", caller),
        ], config={"lookup": {"NAME": LOOKUP}, "shared": {"NAME": SHARED_LOOKUP}, "caller": {"NAME": CALLER}})
        stack.callback(host.stop)
        service = stack.enter_context(OpenModulePeer(SERVICE, broker.sub_address, broker.pub_address))
        service.wait_ready()
        om_plates_server = service.serve_rpc("om_plates", "lookup")
        service.serve_rpc("shared_plates", "lookup")
        context = zmq.Context()
        stack.callback(context.destroy, linger=0)
        test_client = TestClient(context, broker.sub_address, broker.pub_address)  # after every subscription
        stack.callback(test_client.close)
        tap = WireTap(broker.sub_address, broker.pub_address)
        stack.callback(tap.close)
        yield Garage(host, service, om_plates_server, caller.core.rpc_client, test_client, tap)


# -- an openmodule service calls a plugin --------------------------------------------------------------------

def test_openmodule_rpc_client_gets_the_plugins_response_model(garage):
    result = garage.service.rpc("plates", "lookup", {"plate": "GARIVO1"},
                                request_model="LookupRequest", response_model="LookupResponse")

    assert result["ok"], result
    assert result["model"] == "LookupResponse"
    assert result["response"] == {"known": True, "owner": LOOKUP}


@pytest.mark.parametrize(("plate", "reply"), [
    pytest.param("GARIVO1", {"known": True, "owner": LOOKUP, "status": "ok"}, id="known"),
    pytest.param("W12345", {"known": False, "owner": LOOKUP, "status": "ok"}, id="unknown"),
    pytest.param("DICT", {"known": True, "owner": SERVICE, "status": "ok"}, id="dict-names-the-openmodule-caller"),
    pytest.param("NONE", {"known": False, "status": "ok"}, id="none-gives-the-defaults"),
])
def test_openmodule_rpc_client_reads_the_plugins_ok_reply(garage, plate, reply):
    result = garage.service.rpc("plates", "lookup", {"plate": plate}, response_model="LookupResponse",
                                blocking=False)

    assert result["ok"], result
    assert result["raw"] == reply  # the reply's ``response`` as openmodule's client received it
    assert result["response"] == {key: value for key, value in reply.items() if key != "status"}


@pytest.mark.parametrize(("plate", "status", "error", "message"), [
    pytest.param("RAISE", "handler_error", "RPCClient.ServerHandlerError", HANDLER_ERROR, id="handler-raises"),
    pytest.param("WRONG", "handler_error", "RPCClient.ServerHandlerError", "1 validation error for LookupResponse\n",
                 id="handler-returns-an-invalid-response"),
    pytest.param("EXPLODE", "filter_error", "RPCClient.ServerFilterError", FILTER_ERROR, id="filter-raises"),
])
def test_openmodule_rpc_client_raises_the_error_the_plugin_replied(garage, plate, status, error, message):
    result = garage.service.rpc("plates", "lookup", {"plate": plate}, blocking=False)

    assert not result["ok"], result
    assert result["error"] == error
    assert result["message"].startswith(message)
    assert result["raw"] == {"status": status, "exception": result["message"]}


@pytest.mark.parametrize("request_model", ["AnyRequest", "dict"])  # a model, and openmodule's deprecated dict
def test_openmodule_rpc_client_raises_server_validation_error_with_pydantics_errors_for_a_bad_request(
    garage, request_model
):
    result = garage.service.rpc("plates", "lookup", {"plates": "typo"}, request_model=request_model, blocking=False)

    assert (result["ok"], result["error"]) == (False, "RPCClient.ServerValidationError")
    assert result["raw"]["status"] == "validation_error"
    [problem] = json.loads(result["message"])
    assert (problem["type"], problem["loc"], problem["input"]) == ("missing", ["plate"], {"plates": "typo"})


@pytest.mark.parametrize(("type", "plate"), [
    pytest.param("lookup", "BLOCKED", id="filter-rejects"),
    pytest.param("no_such_type", "GARIVO1", id="unknown-type"),
])
def test_openmodule_rpc_client_times_out_when_the_plugin_does_not_reply(garage, type, plate):
    unknown_before = garage.host.rpc_router.unknown

    result = garage.service.rpc("plates", type, {"plate": plate}, timeout=NO_REPLY_TIMEOUT)

    assert (result["ok"], result["error"]) == (False, "RPCClient.TimeoutError")
    assert result["builtin_timeout"]  # openmodule's RPCClient.TimeoutError is also a TimeoutError
    assert NO_REPLY_TIMEOUT <= result["elapsed"] < NO_REPLY_TIMEOUT + 1
    assert garage.host.rpc_router.unknown == unknown_before + (type == "no_such_type")


# -- a plugin calls an openmodule service ---------------------------------------------------------------------

def test_openmodule_rpc_server_serves_the_plugins_call_sent_with_its_name_and_no_resource(garage):
    call = garage.plugin_client.rpc_non_blocking("om_plates", "lookup", LookupRequest(plate="GARIVO1"))

    assert call.result(LookupResponse) == LookupResponse(known=True, owner=SERVICE)
    seen = garage.service.wait_for_rpc_request(call.rpc_id)
    assert (seen["name"], seen["type"], seen["request"]) == (CALLER, "lookup", {"plate": "GARIVO1"})
    assert seen["resource"] is None  # as openmodule's own client: see the next test for why it matters


def test_openmodule_rpc_server_filters_by_resource_so_a_client_must_not_name_one(garage):
    assert garage.om_plates_server["resource"] == SERVICE_RESOURCE  # the filter is on by default

    garage.test_client.rpc_no_response("om_plates", "lookup", {"plate": "GARIVO1"}, resource="another-device",
                                       timeout=NO_REPLY_TIMEOUT)
    reply = garage.test_client.rpc("om_plates", "lookup", {"plate": "GARIVO1"}, resource=SERVICE_RESOURCE)
    assert reply["response"] == {"known": True, "owner": SERVICE, "status": "ok"}


@pytest.mark.parametrize(("plate", "response"), [
    pytest.param("W12345", LookupResponse(known=False, owner=SERVICE), id="unknown"),
    pytest.param("DICT", LookupResponse(known=True, owner=CALLER), id="dict-names-the-plugin-caller"),
    pytest.param("NONE", LookupResponse(), id="none-gives-the-defaults"),
])
def test_a_plugin_gets_the_openmodule_servers_response(garage, plate, response):
    assert garage.plugin_client.rpc("om_plates", "lookup", {"plate": plate}, LookupResponse) == response


@pytest.mark.parametrize(("plate", "error", "message"), [
    pytest.param("RAISE", ServerHandlerError, HANDLER_ERROR, id="handler-raises"),
    pytest.param("WRONG", ServerHandlerError, "1 validation error for LookupResponse\n",
                 id="handler-returns-an-invalid-response"),
    pytest.param("EXPLODE", ServerFilterError, FILTER_ERROR, id="filter-raises"),
])
def test_a_plugin_raises_the_error_the_openmodule_server_replied(garage, plate, error, message):
    with pytest.raises(error) as raised:
        garage.plugin_client.rpc("om_plates", "lookup", LookupRequest(plate=plate), LookupResponse)
    assert str(raised.value).startswith(message)


def test_a_plugin_gets_server_validation_error_with_pydantics_errors_for_a_bad_request(garage):
    with pytest.raises(ServerValidationError) as raised:
        garage.plugin_client.rpc("om_plates", "lookup", {"plates": "typo"}, LookupResponse)
    [problem] = json.loads(str(raised.value))
    assert (problem["type"], problem["loc"], problem["input"]) == ("missing", ["plate"], {"plates": "typo"})


@pytest.mark.parametrize(("type", "plate"), [
    pytest.param("lookup", "BLOCKED", id="filter-rejects"),
    pytest.param("no_such_type", "GARIVO1", id="unknown-type"),
])
def test_a_plugin_times_out_when_the_openmodule_server_does_not_reply(garage, type, plate):
    with pytest.raises(RPCTimeoutError) as raised:
        garage.plugin_client.rpc("om_plates", type, {"plate": plate}, LookupResponse, timeout=NO_REPLY_TIMEOUT)
    assert isinstance(raised.value, TimeoutError)
    assert isinstance(raised.value, garage.plugin_client.TimeoutError)


def test_a_plugin_gets_its_validation_error_when_the_openmodule_reply_does_not_fit_the_response_class(garage):
    with pytest.raises(RPCValidationError) as raised:
        garage.plugin_client.rpc("om_plates", "lookup", {"plate": "GARIVO1"}, LookupRequest)  # reply has no plate
    assert [error["loc"] for error in raised.value.errors()] == [("plate",)]


# -- on the wire: one request, answered by a plugin and by openmodule -------------------------------------------

_PYDANTIC_DOCS_VERSION = re.compile(rb"errors\.pydantic\.dev/\d+\.\d+/")


def comparable(body: bytes) -> bytes:
    """``without_envelope``, and pydantic's docs links without their version (the two environments may have
    different pydantic releases; the link is part of its messages)."""
    return _PYDANTIC_DOCS_VERSION.sub(b"errors.pydantic.dev/*/", without_envelope(body))


def envelope_keys(body: bytes) -> list[str]:
    return [key for key in json.loads(body) if key not in ("sentry-trace", "baggage")]


def replies_to(garage: Garage, rpc_id: str | None) -> tuple[bytes, bytes]:
    """The raw replies of the plugin and of openmodule on shared_plates to the request ``rpc_id`` (None:
    the replies without one)."""

    def reply_from(name: str) -> bytes:
        return garage.tap.wait_for("rpc-rep-shared_plates", lambda body: json.loads(body)["name"] == name
                                   and json.loads(body).get("rpc_id") == rpc_id)

    return reply_from(SHARED_LOOKUP), reply_from(SERVICE)


@pytest.mark.parametrize("request_", [
    pytest.param({"plate": "DICT"}, id="ok"),
    pytest.param({"plate": "NONE"}, id="ok-defaults"),
    pytest.param({"plate": "RAISE"}, id="handler-error"),
    pytest.param({"plate": "WRONG"}, id="handler-error-invalid-response"),
    pytest.param({"plate": "EXPLODE"}, id="filter-error"),
    pytest.param({"plates": "typo"}, id="validation-error"),
])
def test_plugin_and_openmodule_reply_to_the_same_rpc_byte_for_byte(garage, request_):
    rpc_id = garage.test_client.rpc_send("shared_plates", "lookup", request_)

    from_plugin, from_openmodule = replies_to(garage, rpc_id)

    assert envelope_keys(from_plugin) == envelope_keys(from_openmodule) == [
        "timestamp", "name", "type", "rpc_id", "response"]
    assert comparable(from_plugin) == comparable(from_openmodule)


def test_plugin_and_openmodule_answer_an_ok_rpc_with_the_same_envelope(garage):
    rpc_id = garage.test_client.rpc_send("shared_plates", "lookup", {"plate": "GARIVO1"})

    for name, body in zip((SHARED_LOOKUP, SERVICE), replies_to(garage, rpc_id), strict=True):
        reply = json.loads(body)
        assert isinstance(reply.pop("timestamp"), float)
        reply.pop("sentry-trace", None)
        assert reply == {"name": name, "type": "lookup", "rpc_id": rpc_id,
                         "response": {"known": True, "owner": name, "status": "ok"}}


def test_plugin_and_openmodule_reject_a_request_without_rpc_id_the_same_way(garage):
    garage.test_client.rpc_send("shared_plates", "lookup", {"plate": "GARIVO1"}, envelope={"rpc_id": None})

    from_plugin, from_openmodule = replies_to(garage, None)

    assert envelope_keys(from_plugin) == envelope_keys(from_openmodule) == ["timestamp", "name", "type", "response"]
    plugin, openmodule = json.loads(from_plugin), json.loads(from_openmodule)
    assert plugin["type"] == openmodule["type"] == "unknown"
    assert plugin["response"].keys() == openmodule["response"].keys() == {"status", "exception"}
    assert plugin["response"]["status"] == openmodule["response"]["status"] == "validation_error"
    # The exception is pydantic's error JSON for the request envelope. openmodule adds its trace headers to
    # the message before validating it, so its "input" has them too; the rest is the same.
    [plugin_error], [openmodule_error] = json.loads(plugin["response"]["exception"]), json.loads(
        openmodule["response"]["exception"])
    for error in (plugin_error, openmodule_error):
        error.pop("url")
        error["input"].pop("sentry-trace", None)
        error["input"].pop("baggage", None)
    assert plugin_error == openmodule_error
    assert (plugin_error["type"], plugin_error["loc"]) == ("missing", ["rpc_id"])
