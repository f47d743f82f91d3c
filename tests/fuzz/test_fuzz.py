"""Hostile frames of every kind, to every topic and RPC channel the host subscribes to: after each batch the
host still answers an RPC of every RPC-serving plugin, hello still replies, every plugin and the host
answer a ping with an ok pong, and ``/healthz`` is 200.

A short run by default (``OMH_FUZZ_FRAMES``, 3,000 frames over all kinds); ``make fuzz`` sends 100,000 and
prints the report (frames tried, failures, RSS growth, log bytes per bad frame).
"""

from __future__ import annotations

import orjson
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from tests.support import eventually

from .conftest import FRAMES, REPORT
from .frames import KINDS, batches, valid_body
from .target import FuzzTarget

BATCH = 40
#: the connection status topics: validated on the intake thread itself.
CONNECTION_TOPICS = ("connection_internal", "connection_status")
#: big frames cost 1-10 MB each: a few are enough to show they are dropped unparsed.
BIG_FRAMES = max(3, min(40, FRAMES // 2500))
#: a kind's share of a long run may take a while on a busy machine.
TIMEOUT = max(600, FRAMES // 50)


def _examples(kind: str) -> int:
    if kind == "big_frames":
        return BIG_FRAMES
    return max(3, FRAMES // len(KINDS) // (BATCH * 7 // 10))  # batches hold 29 messages on average


def _fuzz(target: FuzzTarget, kind: str, topics: list[str]) -> None:
    @settings(max_examples=_examples(kind), deadline=None, database=None, phases=(Phase.generate,),
              suppress_health_check=list(HealthCheck), print_blob=False)
    @given(data=st.data())
    def one_batch(data: st.DataObject) -> None:
        batch = data.draw(batches(kind, topics, BATCH), label="batch")
        target.send(batch)
        problems = target.check_alive()
        if problems:
            REPORT.failures.append(f"{kind}: {'; '.join(problems)}")
        assert not problems, problems

    one_batch()


@pytest.mark.timeout(TIMEOUT)
@pytest.mark.parametrize("kind", [kind for kind in KINDS if kind != "deep_nesting"])
def test_hostile_frames_of_every_kind_leave_every_plugin_served(fuzz_target: FuzzTarget, kind: str) -> None:
    _fuzz(fuzz_target, kind, fuzz_target.topics)


@pytest.mark.timeout(TIMEOUT)
def test_deeply_nested_bodies_leave_every_plugin_served(fuzz_target: FuzzTarget) -> None:
    _fuzz(fuzz_target, "deep_nesting", fuzz_target.topics)


@pytest.mark.parametrize("topic", CONNECTION_TOPICS)
def test_a_deeply_nested_connection_status_leaves_every_plugin_served(fresh_target: FuzzTarget, topic: str) -> None:
    nested = b'{"a":' * 1000 + b"1" + b"}" * 1000
    fresh_target.send([[topic.encode(), b'{"type":"connection_status","connected":' + nested + b"}"]])
    assert fresh_target.check_alive(timeout=1.0) == []


def test_the_fuzzer_reaches_every_topic_the_host_subscribes_to(fuzz_target: FuzzTarget) -> None:
    """The premise of the suite: the topics come from the intake, the RPC and health topics among them."""
    topics = fuzz_target.topics
    for expected in ("healthz", "connection_internal", "connection_status", "rpc-req-plates", "rpc-req-probe",
                     "rpc-req-access_service", "hello", "present_vehicle", "count", "privacy", "probe",
                     "io", "signal", "settings", "rpc-req-kv_sync", "rpc-req-validation_provider"):
        assert expected in topics
    assert any(topic.startswith("rpc-rep-") for topic in topics)
    assert fuzz_target.host.intake is not None
    before = fuzz_target.host.intake.stats.received
    fuzz_target.send([[topic.encode(), b"{}"] for topic in topics])
    eventually(lambda: fuzz_target.host.intake.stats.received >= before + len(topics))


def test_a_flood_of_schema_invalid_messages_logs_a_few_lines_not_one_per_frame(fuzz_target: FuzzTarget) -> None:
    body = valid_body("probe")
    body["n"] = "not a number"
    lines = fuzz_target.log.lines
    probe = fuzz_target.host.plugins["probe"]
    invalid = probe.stats.invalid
    fuzz_target.send([[b"probe", orjson.dumps(body)] for _ in range(200)])
    eventually(lambda: probe.stats.invalid >= invalid + 200)
    assert fuzz_target.log.lines - lines <= 5
