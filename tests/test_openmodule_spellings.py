"""openmodule's names for arguments that this project spells differently are accepted too.

- ``rpc_client.rpc(..., response_type=...)`` and ``entry.result(response_type=...)``: openmodule 18.5.0's name
  of ``response_class``.
- ``messages.register_handler(..., filter=...)``: another name of ``filter_``; either takes a callable or
  openmodule's documented dict form (the message has each field with that value).

Passing both names of one argument is a ``TypeError`` naming both.
"""

from __future__ import annotations

import queue

import pytest
from openmodule_hookspecs import RPCTimeoutError

from tests.support.plugins import Ping, Recorder
from tests.support.rpc_plugins import Caller, Lookup, LookupRequest, LookupResponse


@pytest.fixture
def client(om_host):
    caller = Caller()
    om_host(("lookup", Lookup()), ("caller", caller))
    return caller.core.rpc_client


def test_rpc_takes_openmodules_response_type(client):
    assert client.rpc("plates", "lookup", LookupRequest(plate="G1"), response_type=LookupResponse).known
    entry = client.rpc_non_blocking("plates", "lookup", LookupRequest(plate="G2"))
    assert entry.result(response_type=LookupResponse, timeout=3).owner == "lookup"


def test_both_names_of_the_response_class_or_neither_are_a_type_error(client):
    with pytest.raises(TypeError, match="response_class or response_type"):
        client.rpc("plates", "lookup", {"plate": "G1"}, LookupResponse, response_type=LookupResponse)
    with pytest.raises(TypeError, match="missing the response class"):
        client.rpc("plates", "lookup", {"plate": "G1"})
    entry = client.rpc_non_blocking("plates", "lookup", {"plate": "G1"})
    with pytest.raises(TypeError, match="response_class or response_type"):
        entry.result(LookupResponse, response_type=LookupResponse)
    assert entry.result(LookupResponse).known  # the call itself is unharmed


def test_a_response_type_call_still_times_out_as_any_other(client):
    with pytest.raises(RPCTimeoutError):
        client.rpc("plates", "no_such_type", {"plate": "G1"}, response_type=LookupResponse, timeout=0.3)


def received_seqs(recorder: Recorder, count: int) -> list[int]:
    seqs = [message.seq for message, _ in recorder.take(count)]
    with pytest.raises(queue.Empty):
        recorder.received.get(timeout=0.5)
    return seqs


@pytest.mark.parametrize("spelling", ["filter", "filter_"])
def test_a_dict_filter_passes_messages_with_each_field_of_that_value(om_host, om_client, spelling):
    recorder = Recorder(**{spelling: {"seq": 2, "type": "ping"}})
    om_host(("recorder", recorder))
    for seq in (1, 2, 3, 2):
        om_client.publish("t", Ping(seq=seq))
    om_client.publish("t", {"type": "ping"})  # no seq field: does not match
    assert received_seqs(recorder, 2) == [2, 2]


def test_filter_takes_a_callable_too(om_host, om_client):
    recorder = Recorder(filter=lambda body: body.get("seq", 0) > 1)
    om_host(("recorder", recorder))
    for seq in (1, 2, 3):
        om_client.publish("t", Ping(seq=seq))
    assert received_seqs(recorder, 2) == [2, 3]


def test_an_empty_dict_filters_nothing_as_in_openmodule(om_host, om_client):
    recorder = Recorder(filter={})
    om_host(("recorder", recorder))
    for seq in (1, 2):
        om_client.publish("t", Ping(seq=seq))
    assert received_seqs(recorder, 2) == [1, 2]


def test_both_names_of_the_filter_are_a_registration_error(om_host):
    host = om_host(("recorder", Recorder(filter={"seq": 1}, filter_=lambda body: True)), strict=False)
    assert host.plugins["recorder"].reason == (
        "register_handlers raised RegistrationError: plugin 'recorder': register_handler takes filter_ or filter "
        "(two names of the same argument), not both")


def test_a_filter_that_is_neither_callable_nor_a_dict_is_a_registration_error(om_host):
    host = om_host(("recorder", Recorder(filter=42)), strict=False)
    assert "filter_ must be a callable taking the raw message dict" in host.plugins["recorder"].reason
