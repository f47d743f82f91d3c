"""RPC for plugins: one shared server, a client per plugin, openmodule's semantics."""

import json
import threading
import time
import uuid

import pytest
from openmodule_hookspecs import (
    OpenModuleModel,
    RPCCancelError,
    RPCTimeoutError,
    RPCValidationError,
    ServerFilterError,
    ServerHandlerError,
    ServerValidationError,
    gateway_filter,
    hookimpl,
)
from pydantic import ValidationError, field_validator
from pydantic_core import PydanticCustomError

from tests.support import eventually
from tests.support.rpc_plugins import Caller, Lookup, LookupRequest, LookupResponse


@pytest.fixture
def served(om_host):
    lookup, caller = Lookup(), Caller()
    host = om_host(("lookup", lookup), ("caller", caller), config={"lookup": {"NAME": "om_lookup_1"}})
    return host, lookup, caller.core.rpc_client


def test_a_plugin_calls_another_plugins_rpc_through_the_broker(served):
    _, _, client = served
    response = client.rpc("plates", "lookup", LookupRequest(plate="GARIVO1"), LookupResponse)
    assert response == LookupResponse(known=True, owner="om_lookup_1")


def test_replies_have_openmoduls_shape(served, om_client):
    reply = om_client.rpc("plates", "lookup", {"plate": "W1"})
    assert list(reply) == ["timestamp", "name", "type", "rpc_id", "response"]
    assert (reply["name"], reply["type"]) == ("om_lookup_1", "lookup")
    assert reply["response"] == {"known": False, "owner": "om_lookup_1", "status": "ok"}


def test_a_returned_dict_is_validated_and_its_status_key_dropped(served, om_client):
    assert om_client.rpc("plates", "lookup", {"plate": "DICT"})["response"] == {
        "known": True, "owner": "testclient", "status": "ok"}


def test_none_gives_the_response_defaults(served, om_client):
    assert om_client.rpc("plates", "lookup", {"plate": "NONE"})["response"] == {"known": False, "status": "ok"}


def test_a_request_that_does_not_validate_gets_validation_error(served, om_client):
    host, _, client = served
    reply = om_client.rpc("plates", "lookup", {"plates": "typo"})
    assert reply["response"]["status"] == "validation_error"
    assert '"loc":["plate"]' in reply["response"]["exception"]
    with pytest.raises(ServerValidationError, match="plate"):
        client.rpc("plates", "lookup", {"wrong": 1}, LookupResponse)
    assert host.plugins["lookup"].stats.rpcs_failed == 2


def test_a_missing_or_null_request_gets_validation_error(served, om_client):
    assert om_client.rpc("plates", "lookup", None)["response"]["status"] == "validation_error"


def test_a_raising_handler_gets_handler_error_and_the_server_keeps_serving(served, om_client):
    _, _, client = served
    assert om_client.rpc("plates", "lookup", {"plate": "RAISE"})["response"] == {
        "status": "handler_error", "exception": "plate database locked"}
    with pytest.raises(ServerHandlerError, match="plate database locked"):
        client.rpc("plates", "lookup", LookupRequest(plate="RAISE"), LookupResponse)
    assert client.rpc("plates", "lookup", LookupRequest(plate="G1"), LookupResponse).known


def test_an_invalid_handler_result_or_a_status_field_is_a_handler_error(served, om_client):
    assert om_client.rpc("plates", "lookup", {"plate": "WRONG"})["response"]["status"] == "handler_error"
    reply = om_client.rpc("plates", "lookup_bad", {})
    assert reply["response"]["status"] == "handler_error"
    assert '"status" must not be a top-level field' in reply["response"]["exception"]


class Counted(OpenModuleModel):
    value: int

    @field_validator("value")
    @classmethod
    def buggy(cls, value: int) -> int:
        if value == 13:
            raise AttributeError("'int' object has no attribute 'lpr'")  # a bug in the model, not the caller's
        return value


class Echo:
    """Serves ``numbers``/``echo``: answers the value it was sent."""

    @hookimpl
    def register_handlers(self, core):
        core.rpc_server.register_handler("numbers", "echo", Counted, Counted, lambda request, message: request)


def test_a_request_validator_raising_any_exception_gets_validation_error(om_host, om_client):
    host = om_host(("echo", Echo()))
    response = om_client.rpc("numbers", "echo", {"value": 13})["response"]
    assert response["status"] == "validation_error"
    assert json.loads(response["exception"]) == [
        {"type": "value_error", "loc": [], "msg": "AttributeError: 'int' object has no attribute 'lpr'"}]
    assert om_client.rpc("numbers", "echo", {"value": 14})["response"] == {"value": 14, "status": "ok"}
    assert host.plugins["echo"].stats.rpcs_failed == 1


def test_a_reply_that_cannot_be_serialised_gets_handler_error(om_host, om_client):
    om_host(("echo", Echo()))
    om_client.subscribe("rpc-rep-numbers")
    rpc_id = str(uuid.uuid4())
    huge = 2 ** 70  # pydantic reads it from the undecoded body; orjson cannot write an int beyond 64 bits
    om_client.send_frames(b"rpc-req-numbers", (
        f'{{"name":"caller","type":"echo","timestamp":1.0,"rpc_id":"{rpc_id}","request":{{"value":{huge}}}}}'
    ).encode())
    reply = om_client.wait_for_message("rpc-rep-numbers", lambda body: body.get("rpc_id") == rpc_id)
    assert reply["response"] == {"status": "handler_error", "exception": "Integer exceeds 64-bit range"}


def test_the_reply_carries_the_rpc_id_in_uuids_canonical_text_whatever_form_the_request_used(served, om_client):
    om_client.subscribe("rpc-rep-plates")
    rpc_id = uuid.uuid4()
    om_client.send_frames(b"rpc-req-plates", (
        f'{{"name":"caller","type":"lookup","timestamp":1.0,"rpc_id":"{rpc_id.hex.upper()}","request":{{"plate":"W1"}}}}'
    ).encode())
    reply = om_client.wait_for_message("rpc-rep-plates", lambda body: body.get("rpc_id") == str(rpc_id))
    assert reply["response"]["status"] == "ok"


def test_an_invalid_envelope_gets_validation_error_with_type_unknown_and_no_rpc_id(served, om_client):
    om_client.subscribe("rpc-rep-plates")
    om_client.publish("rpc-req-plates", {"type": "lookup", "request": {"plate": "G1"}})
    reply = om_client.wait_for_message("rpc-rep-plates")
    assert reply["type"] == "unknown" and "rpc_id" not in reply
    assert reply["name"] == "om_lookup_1"
    assert reply["response"]["status"] == "validation_error"
    assert '"loc":["rpc_id"]' in reply["response"]["exception"]


def test_on_a_shared_channel_an_invalid_envelope_gets_validation_error_from_every_plugin(om_host, om_client):
    om_host(("a", Lookup(type="get_a")), ("b", Lookup(type="get_b")))
    om_client.subscribe("rpc-rep-plates")
    om_client.publish("rpc-req-plates", {"type": "get_a", "request": {"plate": "G1"}})
    replies = [om_client.wait_for_message("rpc-rep-plates") for _ in range(2)]
    assert sorted(reply["name"] for reply in replies) == ["a", "b"]
    assert {reply["response"]["status"] for reply in replies} == {"validation_error"}


@pytest.mark.parametrize(("body", "reason"), [(b'{"type": "lookup", ', "invalid_json"), (b'["lookup"]', "not_object")])
def test_a_malformed_request_is_counted_and_the_server_keeps_serving(served, om_client, body, reason):
    host, _, client = served
    om_client.send_frames(b"rpc-req-plates", body)
    eventually(lambda: host.intake.stats.malformed[reason] == 1)
    assert client.rpc("plates", "lookup", LookupRequest(plate="G1"), LookupResponse).known


def test_an_unknown_type_gets_no_reply_and_the_caller_times_out(served, om_client):
    host, _, client = served
    om_client.rpc_no_response("plates", "no_such_type", {"plate": "G1"}, timeout=0.5)
    with pytest.raises(RPCTimeoutError):
        client.rpc("plates", "no_such_type", {}, LookupResponse, timeout=0.3)
    assert host.rpc_router.unknown == 2


def test_a_request_for_another_resource_gets_no_reply(served, om_client):
    om_client.rpc_no_response("plates", "lookup", {"plate": "G1"}, resource="some-other-device", timeout=0.5)
    host = served[0]
    mine = host.plugins["lookup"].core.config.RESOURCE
    assert om_client.rpc("plates", "lookup", {"plate": "G1"}, resource=mine)["response"]["status"] == "ok"


def test_filters_rejecting_mean_no_reply_passing_means_served_raising_means_filter_error(om_host, om_client):
    lookup = Lookup(filters=[
        (lambda request, message, handler: request.plate != "BLOCKED", {"type": "lookup"}),
        (lambda request, message, handler: 1 / 0, {"channel": "other"}),  # never applies to "plates"
    ])
    failing = Lookup(channel="failing", filters=[(lambda request, message, handler: 1 / 0, {})])
    caller = Caller()
    om_host(("lookup", lookup), ("failing", failing), ("caller", caller))

    assert om_client.rpc("plates", "lookup", {"plate": "G1"})["response"]["status"] == "ok"
    om_client.rpc_no_response("plates", "lookup", {"plate": "BLOCKED"}, timeout=0.5)
    assert om_client.rpc("plates", "lookup_bad", {})["response"]["status"] == "handler_error"  # filter by type
    assert om_client.rpc("failing", "lookup", {"plate": "G1"})["response"] == {
        "status": "filter_error", "exception": "division by zero"}
    with pytest.raises(ServerFilterError, match="division by zero"):
        caller.core.rpc_client.rpc("failing", "lookup", LookupRequest(plate="G1"), LookupResponse)


def test_gateway_filter():
    check = gateway_filter("entry1", "in")
    assert check({"gateway": {"gate": "entry1", "direction": "in"}}, None, None)
    assert not check({"gateway": {"gate": "exit1", "direction": "in"}}, None, None)
    assert not check({}, None, None)
    assert gateway_filter()({"gateway": {"gate": "x"}}, None, None)


def test_two_plugins_serving_one_channel_and_type_both_answer_as_two_services_would(om_host, om_client):
    om_host(("first", Lookup()), ("second", Lookup()))
    rpc_id = om_client.rpc_send("plates", "lookup", {"plate": "G1"})
    replies = [om_client.wait_for_message("rpc-rep-plates", lambda body: body.get("rpc_id") == rpc_id)
               for _ in range(2)]
    assert sorted(reply["response"]["owner"] for reply in replies) == ["first", "second"]


def test_plugins_share_a_channel_with_different_types(om_host):
    caller = Caller()
    om_host(("a", Lookup(type="get_a")), ("b", Lookup(type="get_b")), ("caller", caller))
    client = caller.core.rpc_client
    assert client.rpc("plates", "get_a", {"plate": "G"}, LookupResponse).owner == "a"
    assert client.rpc("plates", "get_b", {"plate": "G"}, LookupResponse).owner == "b"


def test_a_channel_goes_from_shared_back_to_one_plugin_and_keeps_serving(om_host):
    a, b, caller = Lookup(type="get_a"), Lookup(type="get_b"), Caller()
    host = om_host(("a", a), ("b", b), ("caller", caller))
    client = caller.core.rpc_client
    route, sole = host.rpc_router._routes["plates"]
    # shared: the router takes the requests (undecoded) and offers each to the plugins serving its type
    assert sole is None and route.mailbox is host.rpc_router
    b.core.rpc_server.unregister_all()
    route, sole = host.rpc_router._routes["plates"]
    # one plugin: requests go to its own mailbox undecoded, its worker reads them
    assert sole is not None and route.mailbox is not host.rpc_router and route.deliver_raw is not None
    assert client.rpc("plates", "get_a", {"plate": "G"}, LookupResponse).owner == "a"
    with pytest.raises(RPCTimeoutError):
        client.rpc("plates", "get_b", {"plate": "G"}, LookupResponse, timeout=0.3)
    a.core.rpc_server.unregister_all()
    assert "plates" not in host.rpc_router._routes
    assert "rpc-req-plates" not in host.intake.topics


def test_a_hung_handler_delays_only_its_own_plugins_rpcs(om_host):
    slow, same_channel, other_channel, caller = Lookup(), Lookup(type="fast"), Lookup(channel="other"), Caller()
    om_host(("slow", slow), ("same", same_channel), ("other", other_channel), ("caller", caller))
    client = caller.core.rpc_client
    baseline = _round_trips(client, "other", "lookup", 20)

    hung = client.rpc_non_blocking("plates", "lookup", {"plate": "HANG"}, timeout=30)
    assert slow.entered.wait(5)
    try:
        same = _round_trips(client, "plates", "fast", 50)
        other = _round_trips(client, "other", "lookup", 50)
    finally:
        slow.hold.set()
    assert hung.result(LookupResponse, timeout=5).owner == "slow"
    limit = max(0.05, 10 * sorted(baseline)[len(baseline) // 2])
    assert max(same) < limit and max(other) < limit, (max(same), max(other), limit)


def _round_trips(client, channel, type, count):
    times = []
    for _ in range(count):
        started = time.perf_counter()
        client.rpc(channel, type, {"plate": "G1"}, LookupResponse)
        times.append(time.perf_counter() - started)
    return times


def test_non_blocking_calls_done_result_and_cancel(served):
    _, lookup, client = served
    entry = client.rpc_non_blocking("plates", "lookup", LookupRequest(plate="G2"))
    assert entry.result(LookupResponse).known
    assert entry.done()

    hanging = client.rpc_non_blocking("plates", "lookup", {"plate": "HANG"}, timeout=5)
    assert lookup.entered.wait(5)
    assert not hanging.done()
    threading.Timer(0.1, hanging.cancel).start()
    with pytest.raises(RPCCancelError):
        hanging.result(LookupResponse)
    lookup.hold.set()


def test_the_timeout_cannot_be_extended_after_sending(served):
    _, lookup, client = served
    entry = client.rpc_non_blocking("plates", "lookup", {"plate": "HANG"}, timeout=0.3)
    started = time.monotonic()
    with pytest.warns(UserWarning, match="cannot be extended"), pytest.raises(RPCTimeoutError):
        entry.result(LookupResponse, timeout=10)
    assert time.monotonic() - started < 1
    lookup.hold.set()


def test_a_reply_after_the_timeout_is_logged(served, caplog):
    _, lookup, client = served
    with pytest.raises(client.TimeoutError):
        client.rpc("plates", "lookup", {"plate": "HANG"}, LookupResponse, timeout=0.2)
    lookup.hold.set()
    deadline = time.monotonic() + 3
    while "Received response after timeout from om_lookup_1" not in caplog.text and time.monotonic() < deadline:
        time.sleep(0.02)
    assert "Received response after timeout from om_lookup_1, type: lookup" in caplog.text


def test_a_reply_that_does_not_validate_raises_the_clients_validation_error(served):
    _, _, client = served
    with pytest.raises(RPCValidationError) as error:
        client.rpc("plates", "lookup", {"plate": "G1"}, LookupRequest)  # reply has no "plate"
    assert isinstance(error.value, client.ValidationError)


class StrictOwnerResponse(LookupResponse):
    """A response model whose validator raises pydantic's custom error type, as a plugin's own models may."""

    @field_validator("owner")
    @classmethod
    def owner_is_local(cls, owner: str | None) -> str | None:
        if owner is not None and not owner.startswith("local_"):
            raise PydanticCustomError("foreign_owner", "owner {owner} is not local", {"owner": owner})
        return owner


def test_a_reply_failing_a_custom_validator_raises_the_validation_error_with_its_errors(served):
    _, _, client = served
    with pytest.raises(RPCValidationError) as error:
        client.rpc("plates", "lookup", {"plate": "G1"}, StrictOwnerResponse)
    with pytest.raises(ValidationError) as direct:
        StrictOwnerResponse.model_validate({"known": False, "owner": "om_lookup_1"})
    assert error.value.errors() == direct.value.errors()
    assert error.value.errors()[0]["type"] == "foreign_owner"
    assert error.value.errors()[0]["msg"] == "owner om_lookup_1 is not local"


def test_bookkeeping_stays_flat_with_use(served):
    host, _, client = served
    for _ in range(300):
        client.rpc("plates", "lookup", {"plate": "G1"}, LookupResponse)
    assert host.rpc_calls.in_flight == 0
    entries = [client.rpc_non_blocking("plates", "lookup", {"plate": "G1"}, timeout=0.05) for _ in range(50)]
    time.sleep(1.1)  # the unread calls are past their deadline, and the once-a-second sweep is due
    client.rpc("plates", "lookup", {"plate": "G1"}, LookupResponse)  # a call sweeps what expired
    assert host.rpc_calls.in_flight == 0
    assert all(entry.done() for entry in entries[:1])


def test_the_client_sends_openmodules_request_envelope(served, om_client):
    om_client.subscribe("rpc-req-plates")
    _, _, client = served
    client.rpc("plates", "lookup", LookupRequest(plate="G1"), LookupResponse)
    request = om_client.wait_for_message("rpc-req-plates")
    assert list(request) == ["timestamp", "name", "type", "rpc_id", "request"]
    assert request["name"] == "caller" and "resource" not in request
    assert uuid.UUID(request["rpc_id"]).version == 4


def test_rpc_ids_are_canonical_version_4_uuids():
    from openmodule_host.rpc.client import _uuid4

    ids = {_uuid4() for _ in range(1000)}
    assert len(ids) == 1000
    for text in ids:
        parsed = uuid.UUID(text)
        assert (parsed.version, parsed.variant, str(parsed)) == (4, uuid.RFC_4122, text)


def test_rpc_ids_stay_unique_across_threads():
    from concurrent.futures import ThreadPoolExecutor

    from openmodule_host.rpc.client import _uuid4

    with ThreadPoolExecutor(4) as pool:
        batches = list(pool.map(lambda _: [_uuid4() for _ in range(2000)], range(4)))
    ids = [rpc_id for batch in batches for rpc_id in batch]
    assert len(set(ids)) == len(ids) == 8000


def test_a_forked_child_does_not_send_its_parents_next_rpc_ids():
    """The ids are drawn ahead, many at a time: a child forked with some left (a plugin in its own process)
    must draw its own."""
    import multiprocessing

    from openmodule_host.rpc.client import _uuid4

    _uuid4()  # the parent has ids drawn and not yet used
    context = multiprocessing.get_context("fork")
    parent, child = context.Pipe()
    process = context.Process(target=lambda: child.send([_uuid4() for _ in range(50)]))
    process.start()
    try:
        assert parent.poll(30)
        in_child = parent.recv()
    finally:
        process.join(30)
    in_parent = [_uuid4() for _ in range(50)]
    assert not set(in_child) & set(in_parent)


# -- the client's channels: released when idle, opened again by the next call ------------------------------


@pytest.fixture
def idle_served(om_host):
    lookup, caller = Lookup(), Caller()
    host = om_host(("lookup", lookup), ("caller", caller), rpc_channel_idle=0.3)
    return host, lookup, caller.core.rpc_client


def test_an_idle_channel_is_released_and_the_next_call_opens_it_again(idle_served):
    host, _, client = idle_served
    assert client.rpc("plates", "lookup", {"plate": "G1"}, LookupResponse).known
    assert "rpc-rep-plates" in host.intake.topics
    eventually(lambda: "rpc-rep-plates" not in host.intake.topics)
    assert host.rpc_calls.channels == 0
    assert client.rpc("plates", "lookup", {"plate": "G2"}, LookupResponse).known
    assert "rpc-rep-plates" in host.intake.topics


def test_released_channels_bring_the_route_count_back_down(idle_served):
    from concurrent.futures import ThreadPoolExecutor

    host, _, _ = idle_served
    before = len(host.intake.topics)
    with ThreadPoolExecutor(30) as pool:
        list(pool.map(host.rpc_calls.open_channel, [f"nobody_{index}" for index in range(60)]))
    assert len(host.intake.topics) == before + 60
    eventually(lambda: len(host.intake.topics) == before)
    assert host.rpc_calls.channels == 0


def test_a_channel_with_a_call_in_flight_is_not_released(idle_served):
    host, lookup, client = idle_served
    hanging = client.rpc_non_blocking("plates", "lookup", {"plate": "HANG"}, timeout=10)
    assert lookup.entered.wait(5)
    time.sleep(1.0)  # three idle periods, a dozen sweeps
    assert "rpc-rep-plates" in host.intake.topics
    lookup.hold.set()
    assert hanging.result(LookupResponse).known is False
    eventually(lambda: "rpc-rep-plates" not in host.intake.topics)


def test_an_answered_call_never_read_holds_its_channel_until_its_deadline(idle_served):
    host, _, client = idle_served
    unread = client.rpc_non_blocking("plates", "lookup", {"plate": "G1"}, timeout=6)
    eventually(unread.done)
    time.sleep(0.7)  # past the idle period, not the call's deadline (however long the answer took, up to 5 s)
    assert "rpc-rep-plates" in host.intake.topics
    eventually(lambda: "rpc-rep-plates" not in host.intake.topics, timeout=20)  # no further call needed
    assert host.rpc_calls.in_flight == 0


def test_a_call_whose_channel_is_released_as_it_is_sent_still_gets_its_reply(idle_served, monkeypatch):
    host, _, client = idle_served
    calls = host.rpc_calls
    open_channel = calls.open_channel
    released = []

    def open_then_release(channel):
        state = open_channel(channel)
        if not released:  # the worst moment: opened, not yet in the table of pending calls
            released.append(calls.release_idle_channels(now=time.monotonic() + 3600))
        return state

    monkeypatch.setattr(calls, "open_channel", open_then_release)
    assert client.rpc("plates", "lookup", {"plate": "G1"}, LookupResponse, timeout=10).known
    assert released == [1]
    assert "rpc-rep-plates" in host.intake.topics


def test_a_call_after_the_client_closed_is_cancelled_at_once(idle_served):
    host, _, client = idle_served
    host.rpc_calls.close()
    started = time.monotonic()
    with pytest.raises(RPCCancelError):
        client.rpc("plates", "lookup", {"plate": "G1"}, LookupResponse)
    assert time.monotonic() - started < 1
