"""Every RPC request with an ``rpc_id`` to a channel and type the host serves gets a reply, whatever the
request holds: the answer or the error status openmodule would send, never silence (a request that is not
an object makes the envelope invalid: then the reply has type ``unknown`` and no ``rpc_id``, as openmodule's)."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from .conftest import FRAMES, REPORT
from .target import FuzzTarget

#: JSON values as any sender may produce them (integers within 64 bits: see the huge-integer case below).
JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
REQUESTS = st.one_of(
    JSON,
    st.fixed_dictionaries({}, optional={"plate": JSON, "n": JSON, "text": JSON}),
    st.dictionaries(st.sampled_from(["plate", "n", "text", "name", "vehicle"]), JSON, max_size=3),
)
STATUSES = {"ok", "validation_error", "handler_error", "filter_error", "error"}


@pytest.mark.parametrize(("channel", "rpc_type"), [("plates", "lookup"), ("probe", "echo")])
def test_every_request_to_a_served_rpc_gets_a_reply(fuzz_target: FuzzTarget, channel: str, rpc_type: str) -> None:
    @settings(max_examples=max(20, FRAMES // 50), deadline=None, database=None, phases=(Phase.generate,),
              suppress_health_check=list(HealthCheck))
    @given(request=REQUESTS)
    def one_request(request: object) -> None:
        client = fuzz_target.client
        REPORT.frames += 1
        if request is None or isinstance(request, dict):
            reply = client.rpc(channel, rpc_type, request, timeout=3.0)
            assert (reply.get("response") or {}).get("status") in STATUSES, reply
        else:  # the envelope itself is invalid: openmodule answers type "unknown", without the rpc_id
            client.rpc_send(channel, rpc_type, request)
            reply = client.wait_for_message(f"rpc-rep-{channel}", lambda body: body.get("type") == "unknown", 3.0)
            assert reply["response"]["status"] == "validation_error", reply

    one_request()


@pytest.mark.parametrize("vehicle", ["x", 1, ["lpr"]])
def test_an_access_check_with_a_non_object_vehicle_gets_a_validation_error(fuzz_target: FuzzTarget,
                                                                           vehicle: object) -> None:
    reply = fuzz_target.client.rpc("access_service", "auth", {"name": "backend_x", "vehicle": vehicle}, timeout=2.0)
    assert reply["response"]["status"] == "validation_error"


def test_a_huge_integer_echoed_back_gets_an_error_reply(fuzz_target: FuzzTarget) -> None:
    """An integer beyond 64 bits stays undecoded on the way in; the echoed reply cannot be serialised."""
    client = fuzz_target.client
    client.subscribe("rpc-rep-probe")
    rpc_id = str(uuid.uuid4())
    client.send_frames(b"rpc-req-probe", b'{"timestamp":1,"name":"fuzzer","type":"echo","rpc_id":"%s",'
                                         b'"request":{"n":%d}}' % (rpc_id.encode(), 2**70))
    reply = client.wait_for_message("rpc-rep-probe", lambda body: body.get("rpc_id") == rpc_id, 3.0)
    assert reply["response"]["status"] == "handler_error"
