"""A listener's two ways in: the decoded body (``deliver``) and the JSON bytes as they came (``deliver_raw``).

The intake passes a body undecoded only as a shortcut; whatever the body, both ways must end the same:
the same message handed to the handler, or the same counter raised.
"""

import logging
from datetime import datetime
from decimal import Decimal
from typing import Literal

import orjson
import pytest
from openmodule_hookspecs import ZMQMessage, dumps
from pydantic import field_validator

from openmodule_host.stats import IntakeStats, PluginStats
from openmodule_host.wire import Listener
from openmodule_host.wire.codec import DecodeError, decode
from openmodule_host.wire.intake import Drops


class Reading(ZMQMessage):
    type: str = "reading"
    value: int
    unit: str = "C"
    at: datetime | None = None
    price: Decimal | None = None
    tags: list[str] = []


class StrictReading(ZMQMessage):
    type: Literal["reading"] = "reading"
    value: int

    @field_validator("value")
    @classmethod
    def positive(cls, value: int) -> int:
        if value < 0:
            raise ValueError("must not be negative")
        return value


BODIES = [
    b'{"timestamp":1717236000.25,"name":"s","type":"reading","value":1}',
    b'{"name":"s","type":"reading","value":"2","unit":"K"}',  # lax int from a string
    b'{"name":"s","type":"reading","value":3,"at":"2024-06-01T10:00:00+02:00","price":"1.10","tags":["a"]}',
    b'{"type":"reading","value":4}',  # no name: the receiver's own
    b'{"name":"s","type":"reading","value":-5}',
    b'{"name":"s","type":"reading","value":"six"}',  # invalid
    b'{"name":"s","type":"other","value":7}',  # another type
    b'{"name":"s","inner":{"type":"reading"},"type":"other","value":8}',  # the type only nested
    b'{"name":"s","inner":{"type":"reading"},"value":8}',  # no type of its own: not the model's default
    b'{"name":"s","type":"reading"}',  # a required field missing
    b'{"name":"s","type":"reading","value":9,"extra":{"deep":[1,2,{"x":null}]}}',
    b'{"name":"s","type":"reading","value":10,"sentry-trace":"abc-def-1","baggage":"k=v"}',
    b'{"name":"s","type":"reading","value":11,"unit":"\\u00b0C"}',
    b'[{"type":"reading"}]',
    b'{"type":"reading",',
    b'"reading"',
]


class Outcome:
    """What one way of delivering did: messages handled, and every counter it could raise."""

    def __init__(self, message_class: type[ZMQMessage], match_type: bool) -> None:
        self.handled: list[ZMQMessage] = []
        self.stats = PluginStats()
        self.intake = IntakeStats()
        self.listener = Listener(
            "p", "receiver", "t", message_class, self.handled.append, None, match_type, self.stats,
            logging.getLogger("test"), drops=Drops(self.intake, logging.getLogger("test")),
        )

    def summary(self, raw: bytes) -> tuple[object, ...]:
        # Without a timestamp in the body, each way stamps its message with the time it was made.
        unstamped = set() if b'"timestamp"' in raw else {"timestamp"}
        return (
            [message.model_dump(exclude=unstamped) for message in self.handled],
            self.stats.invalid, self.stats.handled, self.intake.unrouted, dict(self.intake.malformed),
        )


def deliver_decoded(outcome: Outcome, raw: bytes) -> None:
    """What the intake does on its decoding path: decode, drop by reason, route by type, deliver."""
    try:
        _topic, body = decode([b"t", raw], len(raw))
    except DecodeError as error:
        Drops(outcome.intake, logging.getLogger("test")).malformed(error)
        return
    if outcome.listener.type is not None and body.get("type") != outcome.listener.type:
        outcome.intake.unrouted += 1
        return
    outcome.listener.deliver(body)


@pytest.mark.parametrize("message_class", [Reading, StrictReading])
@pytest.mark.parametrize("match_type", [True, False])
@pytest.mark.parametrize("raw", BODIES, ids=range(len(BODIES)))
def test_undecoded_and_decoded_bodies_end_the_same(message_class, match_type, raw):
    decoded, undecoded = Outcome(message_class, match_type), Outcome(message_class, match_type)
    deliver_decoded(decoded, raw)
    assert undecoded.listener.deliver_raw is not None
    undecoded.listener.deliver_raw(raw)
    assert undecoded.summary(raw) == decoded.summary(raw)


class Fragile(ZMQMessage):
    """A model whose validator raises something other than a ValueError (a bug in the model, not the sender)."""

    type: str = "reading"
    value: int

    @field_validator("value")
    @classmethod
    def buggy(cls, value: int) -> int:
        if value == 13:
            raise AttributeError("'int' object has no attribute 'lpr'")
        return value


@pytest.mark.parametrize("way", ["decoded", "undecoded"])
def test_a_validator_raising_any_exception_is_an_invalid_message_not_a_worker_error(way):
    outcome = Outcome(Fragile, True)
    raw = b'{"name":"s","type":"reading","value":13}'
    if way == "decoded":
        deliver_decoded(outcome, raw)
    else:
        outcome.listener.deliver_raw(raw)
    outcome.listener.deliver(orjson.loads(b'{"name":"s","type":"reading","value":14}'))
    assert (outcome.stats.invalid, [message.value for message in outcome.handled]) == (1, [14])


def test_the_receivers_name_is_filled_in_on_the_undecoded_way_too():
    outcome = Outcome(Reading, True)
    outcome.listener.deliver_raw(dumps({"type": "reading", "value": 1}))
    assert outcome.handled[0].name == "receiver"


def test_listeners_that_need_the_decoded_body_have_no_undecoded_way():
    class Custom(Reading):
        @classmethod
        def model_validate(cls, obj, **kwargs):  # type: ignore[override]
            return super().model_validate(obj, **kwargs)

    log, stats = logging.getLogger("test"), PluginStats()
    drops = Drops(IntakeStats(), log)
    with_filter = Listener("p", "r", "t", Reading, print, lambda body: True, True, stats, log, drops=drops)
    custom = Listener("p", "r", "t", Custom, print, None, True, stats, log, drops=drops)
    uncounted = Listener("p", "r", "t", Reading, print, None, True, stats, log)
    assert (with_filter.deliver_raw, custom.deliver_raw, uncounted.deliver_raw) == (None, None, None)


def test_bodies_from_the_wire_encoder_are_validated_in_one_pass():
    outcome = Outcome(Reading, True)
    message = Reading(name="s", value=5, price=Decimal("2.5"))
    outcome.listener.deliver_raw(message.json_bytes())
    assert outcome.handled == [Reading.model_validate(orjson.loads(message.json_bytes()))]


def test_mutated_bodies_end_the_same_both_ways():
    """2,000 random byte edits of valid bodies (a fixed seed): whatever they turn into, both ways agree."""
    import random

    rng = random.Random(11)
    seeds = [raw for raw in BODIES if raw.startswith(b"{")]
    alphabet = b'{}[]":,0123456789.-eEtruefalsn \\\\xreadingtypename'
    for _ in range(2000):
        raw = bytearray(rng.choice(seeds))
        for _ in range(rng.randint(1, 3)):
            position = rng.randrange(len(raw))
            edit = rng.random()
            if edit < 0.4:
                raw[position] = rng.choice(alphabet)
            elif edit < 0.7:
                del raw[position]
            else:
                raw.insert(position, rng.choice(alphabet))
        body = bytes(raw)
        for message_class in (Reading, StrictReading):
            decoded, undecoded = Outcome(message_class, True), Outcome(message_class, True)
            deliver_decoded(decoded, body)
            undecoded.listener.deliver_raw(body)
            assert undecoded.summary(body) == decoded.summary(body), body
