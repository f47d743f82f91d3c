"""Bad input is counted and logged, never raised, and never holds up the plugins."""

import time

import orjson
import pytest

from tests.support import eventually
from tests.support.plugins import Ping, Recorder


@pytest.fixture
def running(om_host, om_client):
    recorder = Recorder()
    host = om_host(("recorder", recorder))
    return host, recorder, om_client


def assert_still_delivers(recorder, client, seq=99):
    started = time.monotonic()
    client.publish("t", Ping(seq=seq))
    assert recorder.take(1)[0][0].seq == seq
    assert time.monotonic() - started < 1.0


@pytest.mark.parametrize(
    ("frames", "reason"),
    [
        ((b"t",), "frame_count"),
        ((b"t", b"{}", b"{}"), "frame_count"),
        ((b"t\xff\xfe", b"{}"), "topic_encoding"),
        ((b"t", b"{not json"), "invalid_json"),
        ((b"t", b"\x00\x01binary"), "invalid_json"),
        ((b"t", b'[{"type": "ping"}]'), "not_object"),
        ((b"t", b'"ping"'), "not_object"),
        ((b"t", b"null"), "not_object"),
        # Compact bodies that contain the listener's '"type":"ping"' go to its worker undecoded; the worker
        # finds and counts what is wrong with them exactly as the intake does.
        ((b"t", b'[{"type":"ping"}]'), "not_object"),
        ((b"t", b'{"type":"ping",'), "invalid_json"),
        ((b"t", b'{"type":"ping", "seq": 1} trailing'), "invalid_json"),
    ],
)
def test_malformed_frames_are_counted_by_reason_and_logged(running, caplog, frames, reason):
    host, recorder, client = running
    client.send_frames(*frames)
    eventually(lambda: host.intake.stats.malformed[reason] == 1)
    assert "dropped a malformed message" in caplog.text
    assert_still_delivers(recorder, client)


def test_a_10_mb_body_is_dropped_unparsed_and_counted(running):
    host, recorder, client = running
    client.send_frames(b"t", b'{"type": "ping", "pad": "' + b"x" * (10 * 1024 * 1024) + b'"}')
    eventually(lambda: host.intake.stats.malformed["too_large"] == 1)
    assert_still_delivers(recorder, client)


def test_wrong_field_types_fail_validation_for_that_plugin_only(running, caplog):
    host, recorder, client = running
    client.publish("t", {"type": "ping", "seq": "not a number"})
    eventually(lambda: host.plugins["recorder"].stats.invalid == 1)
    assert "plugin recorder: invalid message on topic 't' for Ping" in caplog.text
    assert_still_delivers(recorder, client)


def test_a_wrong_timestamp_type_is_an_invalid_message(running):
    host, recorder, client = running
    client.send_frames(b"t", orjson.dumps({"type": "ping", "timestamp": {"not": "a time"}, "name": "x"}))
    eventually(lambda: host.plugins["recorder"].stats.invalid == 1)
    assert_still_delivers(recorder, client)


def test_an_unknown_type_is_skipped_and_counted_as_unrouted(running):
    host, recorder, client = running
    before = host.intake.stats.unrouted
    client.publish("t", {"type": "no_such_type", "seq": 1})
    eventually(lambda: host.intake.stats.unrouted == before + 1)
    assert recorder.received.empty()
    assert_still_delivers(recorder, client)


def test_a_nested_type_that_looks_like_the_listeners_is_not_taken_for_it(running):
    host, recorder, client = running
    before = host.intake.stats.unrouted
    client.send_frames(b"t", orjson.dumps({"inner": {"type": "ping"}, "type": "other", "seq": 1}))
    client.send_frames(b"t", orjson.dumps({"inner": {"type": "ping"}, "seq": 2}))  # no type of its own
    eventually(lambda: host.intake.stats.unrouted == before + 2)
    assert recorder.received.empty()
    assert_still_delivers(recorder, client)


def test_a_topic_that_only_shares_a_prefix_is_not_delivered(running):
    host, recorder, client = running
    before = host.intake.stats.unrouted
    # the recorder listens on "t": ZeroMQ's prefix match lets "tt" through, the host's exact match not
    client.publish("tt", Ping(seq=1))
    eventually(lambda: host.intake.stats.unrouted == before + 1)
    assert_still_delivers(recorder, client)


def test_a_flood_of_garbage_does_not_flood_the_log(running, caplog):
    host, recorder, client = running
    for _ in range(500):
        client.send_frames(b"t", b"garbage")
    eventually(lambda: host.intake.stats.malformed["invalid_json"] == 500)
    assert caplog.text.count("dropped a malformed message") == 1
    assert_still_delivers(recorder, client)


def test_a_message_without_name_gets_the_receivers_name(running):
    _host, recorder, client = running
    client.send_frames(b"t", orjson.dumps({"type": "ping", "seq": 3, "timestamp": time.time()}))
    message, _ = recorder.take(1)[0]
    assert message.name == "recorder"
