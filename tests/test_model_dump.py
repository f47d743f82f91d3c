"""``model_dump()`` of the wire models: its shortcut for the usual shape (the fields as they are, no pydantic
serializer) gives exactly what pydantic's ``model_dump(by_alias=True, exclude_none=True)`` gives, and so the
same bytes on the wire (``message_body``, RPC requests and replies); every shape it does not know takes
pydantic's way."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Annotated, Any, Literal

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from openmodule_hookspecs import OpenModuleModel, ZMQMessage, datetime_to_timestamp, dumps
from openmodule_hookspecs._models import _dumps_as_fields
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    Strict,
    StringConstraints,
    WrapSerializer,
    computed_field,
    field_serializer,
)

from openmodule_host.core import message_body


class Scalars(ZMQMessage):
    type: str = "scalars"
    text: str
    number: int
    ratio: float
    flag: bool


class Constrained(ZMQMessage):
    type: str = "constrained"
    number: int = Field(gt=0)
    text: Annotated[str, StringConstraints(max_length=10)] = "x"
    ratio: float = Field(default=1.0, allow_inf_nan=False)
    strict: Annotated[int, Strict()] = 1


class Nested(BaseModel):
    value: int


class WithOptional(ZMQMessage):
    type: str = "optional"
    text: str | None = None


class WithNested(ZMQMessage):
    type: str = "nested"
    inner: Nested


class WithAlias(ZMQMessage):
    type: str = "alias"
    text: str = Field(serialization_alias="the-text")


class WithSerializer(ZMQMessage):
    type: str = "serializer"
    text: str

    @field_serializer("text")
    def _upper(self, value: str) -> str:
        return value.upper()


class WithComputed(ZMQMessage):
    type: str = "computed"
    text: str

    @computed_field  # type: ignore[prop-decorator]
    @property
    def length(self) -> int:
        return len(self.text)


class WithExtra(ZMQMessage):
    model_config = ConfigDict(extra="allow")
    type: str = "extra"


class WithOwnDump(ZMQMessage):
    type: str = "own"
    text: str

    def model_dump(self, **kwargs: Any) -> dict[str, Any]:
        data = super().model_dump(**kwargs)
        data["added"] = True
        return data


class WithAnnotatedSerializer(ZMQMessage):
    type: str = "annotated"
    number: Annotated[int, PlainSerializer(lambda value: value * 2)]


class WithWrapSerializer(OpenModuleModel):
    number: Annotated[int, WrapSerializer(lambda value, handler: handler(value) + 1)]


class WithLiteral(ZMQMessage):
    type: Literal["literal"] = "literal"


class WithFloatTimestamp(ZMQMessage):
    type: str = "float-timestamp"
    timestamp: float = 0.0  # type: ignore[assignment]


class Request(OpenModuleModel):
    seq: int
    text: str
    ratio: float
    flag: bool


class RequestWithOptional(OpenModuleModel):
    text: str | None = None


def _pydantic_dump(model: OpenModuleModel) -> dict[str, Any]:
    data = BaseModel.model_dump(model, by_alias=True, exclude_none=True)
    if isinstance(data.get("timestamp"), datetime):  # the envelope's timestamp goes out as Unix seconds
        data["timestamp"] = datetime_to_timestamp(data["timestamp"])
    return data


def _general(message: ZMQMessage, name: str) -> bytes:
    data = _pydantic_dump(message)
    data["name"] = name
    return dumps(data)


def test_the_usual_shape_takes_the_shortcut_and_the_others_do_not() -> None:
    assert _dumps_as_fields(Scalars)
    assert _dumps_as_fields(Request)
    assert _dumps_as_fields(Constrained)
    for cls in (WithOptional, WithNested, WithAlias, WithSerializer, WithComputed, WithExtra, WithLiteral,
                WithFloatTimestamp, RequestWithOptional, WithAnnotatedSerializer, WithWrapSerializer):
        assert not _dumps_as_fields(cls), cls.__name__


def _texts() -> st.SearchStrategy[str]:
    return st.text(st.characters(exclude_categories=("Cs",)), max_size=20)


_TIMESTAMPS = st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1)) | st.datetimes(
    min_value=datetime(1900, 1, 2), max_value=datetime(2200, 1, 1),
    timezones=st.sampled_from([UTC, timezone(timedelta(hours=5, minutes=30)), timezone(-timedelta(hours=8))]))


@settings(max_examples=1_500, deadline=None)
@given(text=_texts(), number=st.integers(min_value=-(2**63), max_value=2**64 - 1), ratio=st.floats(),
       flag=st.booleans(), name=_texts(), timestamp=_TIMESTAMPS,
       baggage=st.none() | _texts(), trace=st.none() | _texts())
def test_the_shortcut_writes_what_model_dump_and_dumps_write(
    text: str, number: int, ratio: float, flag: bool, name: str, timestamp: datetime, baggage: str | None,
    trace: str | None,
) -> None:
    message = Scalars(text=text, number=number, ratio=ratio, flag=flag, timestamp=timestamp, baggage=baggage,
                      **{"sentry-trace": trace})
    assert message_body(message, name) == _general(message, name)
    assert message.model_dump() == _pydantic_dump(message)


@settings(max_examples=500, deadline=None)
@given(text=_texts(), number=st.integers(min_value=-(2**63), max_value=2**64 - 1), ratio=st.floats() | st.integers(),
       flag=st.booleans())
def test_a_request_model_dumps_as_pydantic_dumps_it(text: str, number: int, ratio: float, flag: bool) -> None:
    request = Request(seq=number, text=text, ratio=ratio, flag=flag)
    assert request.model_dump() == _pydantic_dump(request)
    assert dumps(request.model_dump()) == dumps(_pydantic_dump(request))
    assert request.model_dump() is not request.__dict__  # a copy: the caller may change it


@pytest.mark.parametrize("message", [
    WithOptional(), WithOptional(text="ü"), WithNested(inner=Nested(value=3)), WithAlias(text="a"),
    WithSerializer(text="a"), WithComputed(text="abc"), WithExtra(more=1), WithOwnDump(text="a"), WithLiteral(),
    WithFloatTimestamp(timestamp=12.5), WithAnnotatedSerializer(number=2), Constrained(number=3),
], ids=lambda message: type(message).__name__)
def test_other_shapes_go_the_general_way(message: ZMQMessage) -> None:
    expected = _general(message, "sender")
    if isinstance(message, WithOwnDump):  # its own model_dump is what is sent
        expected = dumps({**orjson.loads(expected), "added": True})
    assert message_body(message, "sender") == expected


def test_a_field_serializer_in_annotated_metadata_is_applied() -> None:
    assert WithAnnotatedSerializer(number=2).model_dump()["number"] == 4
    assert WithWrapSerializer(number=2).model_dump() == {"number": 3}


def test_a_request_with_an_optional_field_leaves_out_none() -> None:
    assert RequestWithOptional().model_dump() == {}
    assert RequestWithOptional(text="x").model_dump() == {"text": "x"}


def test_a_model_built_without_validation_still_gets_the_envelopes_timestamp_as_unix_seconds() -> None:
    message = Scalars.model_construct(text="t", number=1, ratio=0.5, flag=True, timestamp=datetime(2024, 1, 1, 12),
                                      baggage=None, sentry_trace=None)
    assert message_body(message, "sender") == _general(message, "sender")
    assert b'"timestamp":1704110400.0,' in message_body(message, "sender")


def test_anything_but_a_message_is_refused_by_name() -> None:
    with pytest.raises(TypeError, match="must be a ZMQMessage, got dict"):
        message_body({"type": "x"}, "sender")  # type: ignore[arg-type]
