"""The raw-or-decoded delivery (``wire.raw.raw_or_decoded``), the one fallback both the pub/sub listeners and
the RPC routing use for the bodies the intake passes on undecoded."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest
from openmodule_hookspecs import ZMQMessage, dumps

from openmodule_host.stats import IntakeStats
from openmodule_host.wire.codec import INVALID_JSON, TOO_DEEP
from openmodule_host.wire.intake import Drops
from openmodule_host.wire.raw import raw_or_decoded


class Delivery:
    """Where one ``deliver_raw`` built by ``raw_or_decoded`` put what it was given, and what the intake counted."""

    def __init__(self, *, max_depth: int = 32, accept: Callable[[ZMQMessage], bool] = lambda message: True) -> None:
        self.stats = IntakeStats()
        self.drops = Drops(self.stats, logging.getLogger("tests.wire_raw"), max_depth)
        self.taken: list[ZMQMessage] = []
        self.decoded: list[dict[str, Any]] = []

        def take(message: ZMQMessage) -> bool:
            if not accept(message):
                return False
            self.taken.append(message)
            return True

        self.deliver_raw = raw_or_decoded(b"topic", ZMQMessage, take, self.decoded.append, self.drops)


def test_a_body_that_validates_is_taken_as_the_model_without_being_decoded() -> None:
    delivery = Delivery()
    delivery.deliver_raw(dumps({"type": "t", "name": "sender", "timestamp": 1.0}))
    assert [(message.type, message.name) for message in delivery.taken] == [("t", "sender")]
    assert delivery.decoded == []


def test_a_body_that_does_not_validate_goes_the_decoded_way_as_the_intake_decodes_it() -> None:
    delivery = Delivery()
    delivery.deliver_raw(b'{"type": 5, "extra": [1, 2]}')
    assert delivery.taken == []
    assert delivery.decoded == [{"type": 5, "extra": [1, 2]}]


def test_a_body_the_route_does_not_accept_as_it_is_goes_the_decoded_way() -> None:
    delivery = Delivery(accept=lambda message: message.type == "mine")
    delivery.deliver_raw(dumps({"type": "other", "name": "sender", "timestamp": 1.0}))
    assert delivery.taken == []
    assert [body["type"] for body in delivery.decoded] == ["other"]


def test_a_malformed_body_is_counted_as_the_intakes_drop_and_delivered_nowhere(
    caplog: pytest.LogCaptureFixture,
) -> None:
    delivery = Delivery(max_depth=2)
    delivery.deliver_raw(b"{not json")
    delivery.deliver_raw(b'{"a": {"b": {"c": {}}}}')
    assert delivery.taken == [] and delivery.decoded == []
    assert delivery.stats.malformed == {INVALID_JSON: 1, TOO_DEEP: 1}
    assert "invalid JSON on 'topic'" in caplog.text
