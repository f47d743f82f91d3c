"""The toolkit's wire surfaces under hostile traffic (the toolkit plugin of :mod:`.toolkit`, beside the others).

* ``kv_sync``/``set`` requests of any shape for the store's service: each gets a reply (``ok`` or an error
  status), and the table holds exactly what the accepted ones wrote: a refused set changes no row;
* ``kv_sync``/``sync``, ``validation_provider``/``validate`` and ``access_service``/``auth`` requests of any
  shape for the plugin get a reply;
* a malformed reply to the provider's ``settings``/``get`` (wrong types, missing fields, huge values, deep
  nesting, invalid JSON, NaN, unicode oddities) fails only that ``get`` (the plugin's RPC answers
  ``handler_error``, or ``None`` for ``success: false``), and the next good reply is read as it is;
* a malformed reply to ``signal``/``get_value`` counts as false (openmodule's "no answer"), never an error.

The plugin keeps running throughout: after each example the fuzz target's own checks must pass too.
"""

from __future__ import annotations

import contextlib
import itertools
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from openmodule_hookspecs import response_topic
from pydantic import ValidationError

from openmodule_host.utils import GetSignalValueResponse

from .conftest import FRAMES, REPORT
from .frames import HUGE_NUMBERS, MAX_DEPTH, ODD_VALUES
from .target import FuzzTarget
from .toolkit import NAME, RecordingStore, expected_kv_rows

EXAMPLES = max(15, FRAMES // 100)
#: a long run's examples may take a while on a busy machine (a raw reply costs the plugin's 1 s timeout).
LONG = pytest.mark.timeout(max(600, FRAMES // 20))
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, database=None, phases=(Phase.generate,),
                    suppress_health_check=list(HealthCheck), print_blob=False)
STATUSES = {"ok", "validation_error", "handler_error", "filter_error", "error"}
ODD_TEXT = ("", "\u0000", "\ud7ff\ue000", "e\u0301", "\u202e", "\U0001f697", "x" * 10_000, "null", "NaN")

JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20) | st.sampled_from(ODD_TEXT),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
#: a KV value as the cloud sends it (a JSON document in a string), or something that is not one.
KV_VALUES = st.one_of(
    st.builds(lambda plate: orjson.dumps({"plate": plate}).decode(), st.text(max_size=12) | st.sampled_from(ODD_TEXT)),
    st.just("null"), st.just('{"plate": NaN}'), st.just('{"plate": 1e400}'), st.just("{'plate': 'G1'}"),
    st.just("[" * MAX_DEPTH + "]" * MAX_DEPTH), st.just('{"plate": "G1"'), st.just(""), st.just("\ufeff{}"),
    JSON.map(lambda value: orjson.dumps(value).decode()), st.sampled_from(ODD_VALUES),
)
E_TAGS = st.one_of(st.integers(-5, 50), st.none(), st.sampled_from([2**63 - 1, 2**63, 2**64 - 1, -(2**63)]),
                 st.sampled_from(ODD_VALUES))
KEYS = st.sampled_from(["k1", "k2", "k3", "", "\u0000", "e\u0301", "x" * 5000])


def _kv(draw: st.DrawFn, current: dict[str, tuple[int, str]]) -> dict[str, Any]:
    key = draw(KEYS)
    kv: dict[str, Any] = {"key": key}
    if draw(st.booleans()):
        kv["value"] = draw(KV_VALUES)
    if draw(st.booleans()):
        kv["e_tag"] = draw(E_TAGS)
    # (the draws do not depend on the table, as hypothesis requires)
    right, previous = draw(st.sampled_from(["right", "drawn", "none"])), draw(E_TAGS)
    if right == "right" and key in current:
        kv["previous_e_tag"] = current[key][0]  # the right one: such sets get through
    elif right != "none":
        kv["previous_e_tag"] = previous
    if draw(st.integers(0, 9)) == 0:
        kv[draw(st.text(max_size=6))] = draw(JSON)  # an unknown key
    return kv


@LONG
def test_hostile_kv_sets_change_rows_only_by_what_they_accepted(fuzz_target: FuzzTarget) -> None:
    client = fuzz_target.client
    accepted_before = len(RecordingStore.accepted)

    @SETTINGS
    @given(data=st.data())
    def one_set(data: st.DataObject) -> None:
        current = fuzz_target.toolkit.kv_rows()
        kvs = data.draw(st.lists(st.composite(lambda draw: _kv(draw, current))(), max_size=4), label="kvs")
        REPORT.frames += 1
        reply = client.rpc("kv_sync", "set", {"service": NAME, "kvs": kvs}, timeout=5.0)
        assert (reply.get("response") or {}).get("status") in STATUSES, reply
        rows = fuzz_target.toolkit.kv_rows()
        expected = expected_kv_rows()
        assert {key: plate for key, (_, plate) in rows.items()} == {key: plate for key, (_, plate) in expected.items()}
        assert all(rows[key][0] == e_tag for key, (e_tag, _) in expected.items() if e_tag is not None)

    one_set()
    assert len(RecordingStore.accepted) > accepted_before, "no hostile set got through: the invariant was not tried"
    assert fuzz_target.check_alive() == []


@LONG
@given(request=st.one_of(
    JSON,
    st.fixed_dictionaries({"service": st.just(NAME)}, optional={"kvs": JSON}),
    st.fixed_dictionaries({"service": st.just(NAME), "kvs": st.dictionaries(KEYS, E_TAGS, max_size=4)}),
))
@SETTINGS
def test_every_kv_sync_request_for_the_store_gets_a_reply(fuzz_target: FuzzTarget, request: Any) -> None:
    _expect_a_reply(fuzz_target, "kv_sync", "sync", request)


@LONG
@given(request=st.fixed_dictionaries({"name": st.just(NAME)}, optional={
    "session_id": JSON, "type": st.sampled_from(["qr", "nfc", "x", ""]) | JSON,
    "payload": st.sampled_from(["dGlja2V0", "not base64!", "", "=" * 7, "\u0000"]) | JSON, "gate": JSON}))
@SETTINGS
def test_every_ticket_validation_request_for_the_provider_gets_a_reply(fuzz_target: FuzzTarget, request: Any) -> None:
    _expect_a_reply(fuzz_target, "validation_provider", "validate", request)


@LONG
@given(request=st.fixed_dictionaries({"name": st.just(NAME)}, optional={
    "gate": JSON, "timestamp": JSON | st.sampled_from([1e308, -1.0, "2024-13-01", "NaN"]),
    "vehicle": JSON | st.fixed_dictionaries({}, optional={"lpr": JSON, "qr": JSON, "nfc": JSON, "pin": JSON}),
    "vehicle_data": JSON, "qr": JSON}))
@SETTINGS
def test_every_access_check_for_the_access_service_gets_a_reply(fuzz_target: FuzzTarget, request: Any) -> None:
    _expect_a_reply(fuzz_target, "access_service", "auth", request)


def _expect_a_reply(target: FuzzTarget, channel: str, rpc_type: str, request: Any) -> None:
    REPORT.frames += 1
    client = target.client
    if request is None or isinstance(request, dict):
        reply = client.rpc(channel, rpc_type, request, timeout=5.0)
        assert (reply.get("response") or {}).get("status") in STATUSES, reply
    else:  # not an object: openmodule answers type "unknown" without the rpc_id
        client.rpc_send(channel, rpc_type, request)
        reply = client.wait_for_message(f"rpc-rep-{channel}", lambda body: body.get("type") == "unknown", 5.0)
        assert reply["response"]["status"] == "validation_error", reply


# -- malformed replies to what the plugin asks ----------------------------------------------------------

GATES = {"entry": {"gate": "entry", "name": "Entry", "type": "entry"}}

#: a reply's ``response``: any JSON, or a settings answer with fields of wrong types, missing or huge.
SETTINGS_RESPONSES = st.one_of(
    JSON,
    st.fixed_dictionaries({}, optional={"status": st.sampled_from(["ok", "error", "handler_error", "x"]) | JSON,
                                        "success": JSON, "value": JSON, "error": JSON, "exception": JSON}),
    st.builds(lambda gates: {"status": "ok", "success": True, "value": gates},
              st.dictionaries(st.text(max_size=6), st.fixed_dictionaries(
                  {}, optional={"gate": JSON, "name": JSON, "type": st.sampled_from(["entry", "exit", "y"]) | JSON}),
                  max_size=3)),
)
SIGNAL_RESPONSES = st.one_of(
    JSON,
    st.fixed_dictionaries({}, optional={"status": st.sampled_from(["ok", "error", "handler_error"]) | JSON,
                                        "value": JSON, "additional_data": JSON}),
)
#: a reply body that is not JSON an openmodule peer could send (``@ID@`` is the request's rpc_id).
RAW_REPLIES = st.sampled_from([
    b'{"type":"get","rpc_id":"@ID@","response":{"status":"ok","success":true,"value":NaN}}',
    b'{"type":"get","rpc_id":"@ID@","response":{"status":"ok","value":1e400,"success":true}}',
    b'{"type":"get","rpc_id":"@ID@","response":{"status":"ok","success":true,"value":' + HUGE_NUMBERS[0] + b"}}",
    b'{"type":"get","rpc_id":"@ID@","response":{"status":"ok","success":true,"value":'
    + b'{"a":' * 1500 + b"1" + b"}" * 1500 + b"}}",
    b'{"type":"get","rpc_id":"@ID@","response":{"status":"ok","success":true,"value":"\xff\xfe"}}',
    b'{"type":"get","rpc_id":"@ID@","response":{"status":"ok",',
    b'{"type":"get","rpc_id":"@ID@","response":{"status":"ok","value":"\\ud800","success":true}}',
])
_SIGNALS = itertools.count(1)


def _answer(target: FuzzTarget, channel: str, request_type: str, response: Any, raw: bytes | None) -> None:
    """Wait for the plugin's request on ``channel`` and answer it with ``response`` (or the raw body)."""
    client = target.client
    request = client.wait_for_message(f"rpc-req-{channel}", lambda body: body.get("type") == request_type, 5.0)
    if raw is not None:
        client.send_frames(response_topic(channel).encode(),
                           raw.replace(b"@ID@", str(request["rpc_id"]).encode()).replace(b'"get"', b'"%s"'
                                                                                         % request_type.encode()))
    else:
        client.publish(response_topic(channel), {"type": request_type, "rpc_id": request["rpc_id"],
                                                 "response": response})


@LONG
@given(response=SETTINGS_RESPONSES, raw=st.none() | st.none() | st.none() | RAW_REPLIES)
@SETTINGS
def test_a_malformed_settings_reply_fails_only_that_get(fuzz_target: FuzzTarget, response: Any,
                                                        raw: bytes | None) -> None:
    client = fuzz_target.client
    client.subscribe("rpc-req-settings")
    REPORT.frames += 1
    rpc_id = client.rpc_send(NAME, "setting", {"key": "common/gates"})
    _answer(fuzz_target, "settings", "get", response, raw)
    reply = client.wait_for_message(f"rpc-rep-{NAME}", lambda body: body.get("rpc_id") == rpc_id, 5.0)
    assert reply["response"]["status"] in ("ok", "handler_error"), reply
    # the next good answer is read as it is: nothing of the bad one stayed behind
    rpc_id = client.rpc_send(NAME, "setting", {"key": "common/gates"})
    _answer(fuzz_target, "settings", "get", {"status": "ok", "success": True, "value": GATES}, None)
    reply = client.wait_for_message(f"rpc-rep-{NAME}", lambda body: body.get("rpc_id") == rpc_id, 5.0)
    assert reply["response"]["value"]["entry"]["gate"] == "entry", reply


@LONG
@given(response=SIGNAL_RESPONSES, raw=st.none() | st.none() | st.none() | RAW_REPLIES)
@SETTINGS
def test_a_malformed_signal_value_reply_counts_as_false(fuzz_target: FuzzTarget, response: Any,
                                                        raw: bytes | None) -> None:
    client = fuzz_target.client
    client.subscribe("rpc-req-signal")
    REPORT.frames += 1
    signal = f"fuzz-signal-{next(_SIGNALS)}"  # not seen yet: the listener asks the signal service
    rpc_id = client.rpc_send(NAME, "signal", {"signal": signal})
    _answer(fuzz_target, "signal", "get_value", response, raw)
    reply = client.wait_for_message(f"rpc-rep-{NAME}", lambda body: body.get("rpc_id") == rpc_id, 5.0)
    assert reply["response"]["status"] == "ok", reply
    expected = False
    if raw is None and isinstance(response, dict) and response.get("status", "ok") == "ok":
        with contextlib.suppress(ValidationError):  # read as openmodule's model reads it (lax: 1 is true)
            expected = GetSignalValueResponse.model_validate(response).value
    assert reply["response"]["value"] is expected, (response, reply)
