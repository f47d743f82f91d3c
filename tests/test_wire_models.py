"""openmodule 18.5.0's exact JSON encoding (wire-protocol.md section 2)."""

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from uuid import UUID

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from openmodule_hookspecs import Datetime, EventListener, OpenModuleModel, ZMQMessage, dumps


class Sample(ZMQMessage):
    type: str = "sample"
    text: str = ""
    price: Decimal | None = None
    when: Datetime | None = None
    ident: UUID | None = None
    ratio: float = 0
    optional: str | None = None


def test_non_ascii_is_escaped_lowercase_with_surrogate_pairs():
    assert dumps({"t": "äöü €😀"}) == b'{"t":"\\u00e4\\u00f6\\u00fc \\u20ac\\ud83d\\ude00"}'
    assert dumps({"t": "\x7f"}) == b'{"t":"\\u007f"}'
    assert dumps({"t": "plain"}) == b'{"t":"plain"}'


def test_none_fields_are_omitted_and_aliases_applied():
    body = orjson.loads(Sample(name="om_x_1", sentry_trace=None).json_bytes())
    assert "optional" not in body and "baggage" not in body and "sentry-trace" not in body
    traced = orjson.loads(Sample.model_validate({"name": "n", "sentry-trace": "abc-def"}).json_bytes())
    assert traced["sentry-trace"] == "abc-def"


def test_envelope_comes_first_and_timestamp_is_float_unix_seconds():
    message = Sample(name="om_x_1", timestamp=datetime(2024, 6, 1, 10, 0, 0, 125000))
    body = orjson.loads(message.json_bytes())
    assert list(body)[:3] == ["timestamp", "name", "type"]
    assert body["timestamp"] == 1717236000.125


def test_other_datetimes_are_naive_iso_strings_with_microseconds_only_when_non_zero():
    assert orjson.loads(Sample(name="n", when=datetime(2024, 5, 1, 8)).json_bytes())["when"] == "2024-05-01T08:00:00"
    body = orjson.loads(Sample(name="n", when=datetime(2024, 1, 2, 3, 4, 5, 678000)).json_bytes())
    assert body["when"] == "2024-01-02T03:04:05.678000"


def test_aware_datetimes_are_read_as_naive_utc():
    plus_two = timezone(timedelta(hours=2))
    assert Sample(name="n", when="2024-01-01T10:00:00+02:00").when == datetime(2024, 1, 1, 8)
    assert Sample(name="n", when=datetime(2024, 1, 1, 10, tzinfo=plus_two)).when == datetime(2024, 1, 1, 8)
    assert Sample.model_validate({"timestamp": 1717236000.125, "name": "n"}).timestamp == datetime(
        2024, 6, 1, 10, 0, 0, 125000
    )
    assert Sample(name="n", timestamp=datetime(2024, 1, 1, tzinfo=UTC)).timestamp.tzinfo is None


def test_decimal_uuid_and_float_values():
    body = orjson.loads(
        Sample(name="n", price=Decimal("12.30"), ident=UUID("6f1c2b9e-8d1a-4c0e-9a57-3f0b5a1d2e44"), ratio=0)
        .json_bytes()
    )
    assert body["price"] == "12.30"
    assert body["ident"] == "6f1c2b9e-8d1a-4c0e-9a57-3f0b5a1d2e44"
    assert body["ratio"] == 0.0 and isinstance(body["ratio"], float)


def test_unknown_keys_are_ignored_on_input():
    assert not hasattr(Sample.model_validate({"name": "n", "surprise": 1}), "surprise")


def test_none_inside_plain_dict_fields_stays_null():
    class KV(OpenModuleModel):
        kvs: dict[str, str | None]

    assert KV(kvs={"k2": None}).json_bytes() == b'{"kvs":{"k2":null}}'


def test_event_listener_calls_every_callback_and_logs_exceptions(caplog):
    calls = []
    listener = EventListener(lambda x: calls.append(("a", x)), lambda x: 1 / 0, lambda x: calls.append(("c", x)))
    listener(5)
    assert calls == [("a", 5), ("c", 5)]
    assert "ZeroDivisionError" in caplog.text
    with pytest.raises(ZeroDivisionError):
        EventListener(lambda: 1 / 0, raise_exceptions=True)()


#: floats that end in exactly half a microsecond: pydantic rounds them away from zero, timedelta to even.
HALF_MICROSECONDS = [3106444915.7578125, 719542371.9453125, 1724089455.5390625, 0.5e-6, 1.5e-6, 2.5e-6]
#: ints, the millisecond switch (from 2e10 pydantic reads milliseconds), negatives, just below a second.
EDGES = [0, 1717236000, 1717236000123, 2e10 - 0.5, 2e10, -1.5, -1, 0.9999995, 0.99999949999]


def test_datetimes_read_from_numbers_are_exactly_pydantics_utc_made_naive():
    import random

    from pydantic import TypeAdapter

    reference, ours = TypeAdapter(datetime), TypeAdapter(Datetime)
    rng = random.Random(7)
    for value in [rng.uniform(0, 4e9) for _ in range(20_000)] + HALF_MICROSECONDS + EDGES:
        expected = reference.validate_python(value).astimezone(UTC).replace(tzinfo=None)
        got = ours.validate_python(value)
        assert (got, got.tzinfo, type(got)) == (expected, None, datetime), value


@settings(max_examples=3_000, deadline=None)
@given(value=st.one_of(st.floats(allow_nan=False, allow_infinity=False), st.integers(-(2**63), 2**63 - 1)))
def test_any_number_reads_as_pydantics_utc_made_naive_or_fails_as_pydantic_does(value: float) -> None:
    from pydantic import TypeAdapter, ValidationError

    reference, ours = TypeAdapter(datetime), TypeAdapter(Datetime)
    body = orjson.dumps(value)
    try:
        expected = reference.validate_json(body).astimezone(UTC).replace(tzinfo=None)
    except ValidationError as error:
        with pytest.raises(ValidationError) as ours_error:
            ours.validate_json(body)
        assert ours_error.value.errors()[0]["type"] == error.errors()[0]["type"]
        return
    for got in (ours.validate_json(body), ours.validate_python(value)):
        assert (got, got.tzinfo, got.fold, type(got)) == (expected, None, 0, datetime), value


def test_pydantic_reads_numbers_in_the_one_utc_instance_the_fast_naive_path_expects():
    """Not a correctness check (any other zone takes the general path): it guards the 0.4 us shortcut."""
    from openmodule_hookspecs._models import _PYDANTIC_UTC
    from pydantic import TypeAdapter

    reference = TypeAdapter(datetime)
    assert reference.validate_json(b"1717236000.125").tzinfo is _PYDANTIC_UTC
    assert reference.validate_python(1717236000).tzinfo is _PYDANTIC_UTC


def test_utcnow_and_a_new_envelope_are_the_current_utc_time_without_a_zone():
    from openmodule_hookspecs import utcnow

    before = datetime.now(UTC).replace(tzinfo=None)
    now, envelope = utcnow(), Sample(name="n").timestamp
    after = datetime.now(UTC).replace(tzinfo=None)
    assert before <= now <= envelope <= after
    assert (now.tzinfo, envelope.tzinfo, type(now), type(envelope)) == (None, None, datetime, datetime)


def test_a_dump_without_arguments_is_the_dump_with_pydantics_defaults_and_a_float_timestamp():
    message = Sample(name="n", text="t", when=datetime(2024, 1, 1), timestamp=datetime(2024, 6, 1, 10, 0, 0, 125000))
    assert message.model_dump() == message.model_dump(by_alias=True, exclude_none=True)
    assert message.model_dump()["timestamp"] == 1717236000.125
    assert "timestamp" not in message.model_dump(exclude={"timestamp"})


@given(value=st.uuids(version=None))
def test_a_uuid_is_written_as_its_canonical_text(value: UUID) -> None:
    """The RPC server puts the request's rpc_id (a UUID) into the reply envelope as it is."""
    assert dumps({"rpc_id": value}) == dumps({"rpc_id": str(value)})


def test_datetimes_reject_what_pydantic_rejects_with_its_own_error():
    from pydantic import TypeAdapter, ValidationError

    ours = TypeAdapter(Datetime)
    for value in [True, "garbage", None, float("nan")]:
        with pytest.raises(ValidationError) as error:
            ours.validate_python(value)
        assert error.value.errors()[0]["type"].startswith("datetime"), error.value
    assert ours.validate_python("2024-01-01T10:00:00+02:00") == datetime(2024, 1, 1, 8)


def test_the_default_dump_is_exactly_pydantics_by_alias_without_none():
    from decimal import Decimal

    from pydantic import BaseModel, Field

    class Inner(OpenModuleModel):
        value: Decimal
        note: str | None = None

    class Outer(ZMQMessage):
        type: str = "outer"
        inner: Inner
        items: list[Inner] = []
        when: Datetime | None = None
        renamed: int = Field(default=1, alias="other-name")

    message = Outer(inner=Inner(value=Decimal("1.5")), items=[Inner(value=Decimal(2), note="n")],
                    when=datetime(2024, 1, 1), baggage="b")
    expected = BaseModel.model_dump(message, by_alias=True, exclude_none=True)
    expected["timestamp"] = message.model_dump()["timestamp"]  # ZMQMessage sends it as unix seconds
    assert message.model_dump() == expected
    assert Inner(value=Decimal(1)).model_dump() == {"value": Decimal(1)}
    assert message.model_dump(exclude_none=False)["sentry-trace"] is None
