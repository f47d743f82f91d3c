"""The compiled publish path (``speedups/``, built by ``make install``): a plugin's usual message to its wire body,
and both frames to the shared PUB socket. It must put the very bytes on the wire that the Python way does, take
only the messages it can encode as the Python way would, and drop and count a message the full queue refuses
whole, as the Python way does."""

from __future__ import annotations

import os
import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import zmq
from openmodule_hookspecs import AlertMessage, ZMQMessage
from pydantic import ConfigDict

from openmodule_host import core
from openmodule_host.wire import Publisher, publisher
from openmodule_host.wire.body import compiled_body
from tests.support import eventually


class Reading(ZMQMessage):
    type: str = "reading"
    seq: int
    text: str
    value: float = 0.5
    flag: bool = True


class Traced(ZMQMessage):
    type: str = "traced"


class WithExtras(ZMQMessage):
    model_config = ConfigDict(extra="allow")
    type: str = "extras"


class Nested(ZMQMessage):
    type: str = "nested"
    reading: Reading


class WithDecimal(ZMQMessage):
    type: str = "decimal"
    amount: Decimal


class OwnDump(ZMQMessage):
    type: str = "own"

    def model_dump(self, **kwargs: Any) -> dict[str, Any]:
        data = super().model_dump(**kwargs)
        data["own"] = True
        return data


def python_body(message: ZMQMessage, name: str) -> bytes:
    """The Python way, as ``core.message_body`` takes it without the compiled body."""
    original = core._compiled_body
    core._compiled_body = None
    try:
        return core.message_body(message, name)
    finally:
        core._compiled_body = original


def test_the_compiled_body_and_send_are_built_and_used():
    assert compiled_body is not None and core._compiled_body is compiled_body, (
        "openmodule_host_speedups is not built here (make install builds it)")
    assert publisher._compiled_send is not None


TEXTS = ["", "plain", "x" * 2000, "quote \" and \\ backslash", "new\nline\ttab\x00nul\x1f", "del \x7f char", "ümlaut",
         "日本語", "emoji \U0001f697", "\u2028 line separator", "lone surrogate-free \ufffd"]
TIMESTAMPS = [datetime(1, 1, 1), datetime(1969, 12, 31, 23, 59, 59, 999999), datetime(1970, 1, 1),
              datetime(1970, 1, 1, 0, 0, 0, 1), datetime(2000, 2, 29, 12, 30, 45, 123456),
              datetime(2038, 1, 19, 3, 14, 8), datetime(9999, 12, 31, 23, 59, 59, 999999)]


@pytest.mark.parametrize("text", TEXTS)
@pytest.mark.parametrize("timestamp", TIMESTAMPS)
def test_the_compiled_body_is_the_python_body_byte_for_byte(text, timestamp):
    message = Reading(seq=7, text=text, timestamp=timestamp, value=-1.25e-7)
    assert compiled_body is not None
    body = compiled_body(message, "om_sender_1")
    assert body is not None and body == python_body(message, "om_sender_1")
    assert body.isascii() and b"\x7f" not in body


def test_the_compiled_body_agrees_on_many_random_messages():
    rng = random.Random(9)
    alphabet = "az09 \"\\\n\x00\x7f\xe4\u20ac\U0001f600"
    assert compiled_body is not None
    for _ in range(3000):
        message = Reading(
            seq=rng.randint(-2**62, 2**62), text="".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40))),
            value=rng.choice([rng.uniform(-1e12, 1e12), 0.1, float("inf"), float("nan"), -0.0]),
            flag=rng.random() < 0.5,
            timestamp=datetime(1970, 1, 1) + timedelta(microseconds=rng.randint(-2**50, 2**52)),
        )
        name = rng.choice(["om_a_1", "ü_name", ""])
        assert compiled_body(message, name) == python_body(message, name)


def test_a_message_built_now_and_one_read_from_a_number_agree():
    assert compiled_body is not None
    for message in (Reading(seq=1, text="now"), Reading(seq=1, text="number", timestamp=1_700_000_000.123456),
                    AlertMessage(status="error", alert_meta={"gate": "ä"}, source="x", package="p", alert_type="t",
                                 handle_type="count")):
        expected = python_body(message, "om_x_1")
        assert compiled_body(message, "om_x_1") in (expected, None)
        assert core.message_body(message, "om_x_1") == expected


@pytest.mark.parametrize("message", [
    Traced(baggage="a=b"),
    Traced(**{"sentry-trace": "0" * 32 + "-" + "1" * 16}),
    # (validation makes every timestamp naive UTC: an aware one only gets in unvalidated)
    Reading.model_construct(seq=1, text="aware", timestamp=datetime(2024, 5, 1, tzinfo=UTC)),
    WithExtras(more="yes"),
    Nested(reading=Reading(seq=1, text="inner")),
    WithDecimal(amount=Decimal("1.10")),
    OwnDump(),
], ids=["baggage", "sentry-trace", "aware timestamp", "extra fields", "nested model", "decimal", "own model_dump"])
def test_any_other_message_is_left_to_the_python_way(message):
    assert compiled_body is not None
    assert compiled_body(message, "om_x_1") is None
    assert core.message_body(message, "om_x_1") == python_body(message, "om_x_1")


def test_a_model_constructed_without_validation_is_left_to_the_python_way():
    message = Reading.model_construct(seq=1, text="raw", timestamp="not a datetime")
    assert compiled_body is not None and compiled_body(message, "om_x_1") is None


@pytest.fixture
def slow_reader():
    """A publisher with a queue of 10 messages, and a SUB socket that reads only when told to."""
    context = zmq.Context()
    address = f"inproc://publisher-{os.getpid()}"
    sub = context.socket(zmq.SUB)
    sub.setsockopt(zmq.RCVHWM, 10)
    sub.bind(address)
    sub.setsockopt(zmq.SUBSCRIBE, b"")
    shared = Publisher(context, address, send_hwm=10)

    def subscribed() -> bool:
        shared.send("probe", b"{}")
        return bool(sub.poll(20))

    eventually(subscribed, timeout=10)
    while sub.poll(50):
        sub.recv_multipart()
    try:
        yield shared, sub
    finally:
        shared.close()
        sub.close(0)
        context.term()


@pytest.mark.parametrize("send", ["compiled", "pure Python"])
def test_a_full_queue_drops_whole_messages_and_counts_them(slow_reader, monkeypatch, send):
    shared, sub = slow_reader
    if send == "pure Python":
        monkeypatch.setattr(publisher, "_compiled_send", None)
    sent = [shared.send("topic", str(n).encode()) for n in range(100)]
    assert sent[0] and not all(sent) and shared.dropped == sent.count(False)
    received = []
    while sub.poll(200):
        received.append(sub.recv_multipart())
    assert received == [[b"topic", str(n).encode()] for n, ok in enumerate(sent) if ok]  # whole, in order
    assert shared.send("after", b"drained") and sub.recv_multipart() == [b"after", b"drained"]


@pytest.mark.parametrize("send", ["compiled", "pure Python"])
def test_a_closed_publisher_refuses_to_send(slow_reader, monkeypatch, send):
    shared, _ = slow_reader
    if send == "pure Python":
        monkeypatch.setattr(publisher, "_compiled_send", None)
    shared.close()
    with pytest.raises(RuntimeError, match="publisher is closed"):
        shared.send("topic", b"{}")


def test_a_body_that_is_not_bytes_takes_the_python_way(slow_reader):
    shared, sub = slow_reader
    assert shared.send("topic", bytearray(b"{}")) and sub.recv_multipart() == [b"topic", b"{}"]
