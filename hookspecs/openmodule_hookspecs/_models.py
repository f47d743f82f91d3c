"""Wire models with openmodule 18.5.0's exact JSON encoding (wire-protocol.md section 2).

Encoding rules, all applied by :meth:`OpenModuleModel.json_bytes`:

* ``model_dump`` with ``by_alias=True`` and ``exclude_none=True`` (``None`` fields are omitted);
* ``orjson.dumps`` with ``Decimal`` turned into ``str``;
* every character outside printable ASCII escaped as ``\\uXXXX`` (lowercase hex, surrogate pairs for
  astral characters), so the body is pure ASCII and byte-identical to what openmodule sends.

The envelope :class:`ZMQMessage` sends its ``timestamp`` as float unix seconds (UTC) and reads it back
as a naive UTC datetime; every other datetime travels as a naive ISO-8601 string.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any

import orjson
from annotated_types import BaseMetadata, GroupedMetadata
from pydantic import (
    AfterValidator,
    AllowInfNan,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    WrapValidator,
)
from pydantic.fields import FieldInfo

__all__ = [
    "Datetime",
    "OpenModuleModel",
    "ZMQMessage",
    "datetime_to_timestamp",
    "dumps",
    "utcnow",
]

_EPOCH_NAIVE = datetime(1970, 1, 1)
_NON_ASCII = re.compile(r"[^ -~]")


_EPOCH_UTC = _EPOCH_NAIVE.replace(tzinfo=UTC)


def utcnow() -> datetime:
    """The current time as a naive UTC datetime, the form openmodule keeps datetimes in."""
    # The same as ``datetime.now(UTC).replace(tzinfo=None)`` (aware datetimes with one tzinfo subtract as
    # naive ones), a third of its cost: 0.35 us against 1.1 us, once per message built.
    return _EPOCH_NAIVE + (datetime.now(UTC) - _EPOCH_UTC)


#: the envelope's default timestamp: ``datetime.utcnow`` itself where it is not deprecated (before Python 3.12),
#: a C function that pydantic calls without a Python frame: a message is built in 1.2 us instead of 1.65.
_default_timestamp: Callable[[], datetime] = datetime.utcnow if sys.version_info < (3, 12) else utcnow

_ZERO = timedelta(0)
#: the tzinfo pydantic gives datetimes it reads from numbers (one shared instance).
_PYDANTIC_UTC = TypeAdapter(datetime).validate_python(0).tzinfo


#: the Unix epoch in pydantic's UTC, to turn its datetimes naive by arithmetic (see ``_to_naive_utc``).
_EPOCH_PYDANTIC_UTC = _EPOCH_NAIVE.replace(tzinfo=_PYDANTIC_UTC)


def _to_naive_utc(value: datetime) -> datetime:
    tzinfo = value.tzinfo
    if tzinfo is None:
        return value
    if tzinfo is _PYDANTIC_UTC:
        # Every envelope timestamp comes here (a float, read as UTC). Two aware datetimes with the same
        # tzinfo subtract as naive ones (exact integer arithmetic), so this is the same wall time without
        # the zone: two C operations, 0.4 us per message less than the seven attribute reads and the
        # constructor below (``tests/test_wire_models.py`` checks equality with pydantic's own result).
        return _EPOCH_NAIVE + (value - _EPOCH_PYDANTIC_UTC)
    if tzinfo is not UTC and value.utcoffset() != _ZERO:
        value = value.astimezone(UTC)
    return datetime(value.year, value.month, value.day, value.hour, value.minute, value.second, value.microsecond)


#: A datetime that is always naive UTC: aware input is converted, as openmodule does.
Datetime = Annotated[datetime, AfterValidator(_to_naive_utc)]


def datetime_to_timestamp(value: datetime) -> float:
    """Unix seconds of a datetime; naive values are taken as UTC whatever the local time zone is."""
    if value.tzinfo is None:
        return (value - _EPOCH_NAIVE).total_seconds()
    return value.timestamp()


def _escape_char(match: re.Match[str]) -> str:
    code = ord(match.group(0))
    if code < 0x10000:
        return f"\\u{code:04x}"
    code -= 0x10000
    return f"\\u{0xD800 | (code >> 10):04x}\\u{0xDC00 | (code & 0x3FF):04x}"


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"Type is not JSON serializable: {type(value).__name__}")


def dumps(data: Any) -> bytes:
    """Serialise plain data exactly as openmodule does: orjson, Decimal as str, ASCII-only output."""
    body = orjson.dumps(data, default=_default)
    # Fast path: orjson already escapes control characters, so only DEL and non-ASCII need work.
    # (``127 not in body`` looks for the byte without the buffer protocol: 0.1 us less than ``b"\x7f"``.)
    if body.isascii() and 127 not in body:
        return body
    return _NON_ASCII.sub(_escape_char, body.decode()).encode("ascii")


#: the field types whose values ``model_dump`` returns as they are, and ``orjson`` writes as they are.
_SCALARS = (str, int, float, bool)
#: what a scalar field's metadata may carry without changing its dump (constraints and validators); anything
#: else (a serializer, a type's own schema) takes pydantic's way.
_CONSTRAINTS = (BaseMetadata, GroupedMetadata, AllowInfNan, AfterValidator, BeforeValidator, WrapValidator)


def _dumped_as(field: FieldInfo) -> tuple[object, ...]:
    return field.annotation, field.metadata, field.exclude, field.alias, field.serialization_alias


def _dumps_as_fields(cls: type[OpenModuleModel]) -> bool:
    """Whether ``model_dump()`` of a ``cls`` instance is a copy of its ``__dict__`` (a message's: without its
    ``baggage`` and ``sentry-trace`` when they are None, and its timestamp as a number): the envelope's own
    fields, and every other field one of ``str``, ``int``, ``float``, ``bool`` (never None, never a model)
    with no alias, exclusion or metadata but constraints and validators; no serializers of the model,
    computed fields or extras. (A model built with ``model_construct`` and a None in such a field would send
    it as ``null`` instead of leaving it out.)"""
    if cls.model_config.get("extra") == "allow" or cls.model_computed_fields:
        return False
    decorators = cls.__pydantic_decorators__
    if decorators.field_serializers or decorators.model_serializers:
        return False
    envelope = ZMQMessage.model_fields if issubclass(cls, ZMQMessage) else {}
    for name, field in cls.model_fields.items():
        if name in envelope:
            if _dumped_as(field) != _dumped_as(envelope[name]):
                return False
        elif (field.annotation not in _SCALARS or field.exclude or field.alias or field.serialization_alias
              or not all(isinstance(item, _CONSTRAINTS) for item in field.metadata)):
            return False
    return True


class _Shapes(dict[type, bool]):
    """Model class -> whether its ``model_dump()`` is its fields as they are; filled on first use (a hit is a
    plain dictionary lookup, no Python call)."""

    def __missing__(self, cls: type[OpenModuleModel]) -> bool:
        as_fields = self[cls] = _dumps_as_fields(cls)
        return as_fields


_AS_FIELDS = _Shapes()


class OpenModuleModel(BaseModel):
    """Base of every wire model: openmodule's dump defaults and JSON encoding.

    Unknown keys are ignored on input (pydantic's default), as openmodule does; assignments are
    validated so a model that is built up field by field cannot go out invalid.
    """

    # The contract's own models (about a hundred) build their validators when first used: a host or plugin
    # pays only for the messages it handles (about 1 MiB and 60 ms of start-up for the rest). A model
    # defined outside this package is built when its class is created, as pydantic does by default, so a
    # plugin's broken model still fails at import (see ``__pydantic_init_subclass__``).
    model_config = ConfigDict(validate_assignment=True, validate_default=True, defer_build=True)

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        if not cls.__module__.startswith(__package__ + "."):
            cls.model_rebuild(raise_errors=False, _parent_namespace_depth=0)

    def model_dump(self, **kwargs: Any) -> dict[str, Any]:
        if not kwargs:
            # The usual model (scalar fields, see ``_dumps_as_fields``): its fields as they are, 0.1 us against
            # 0.55 us for pydantic's serializer (once per RPC request and reply; tests/test_model_dump.py
            # compares the two). Any other: what BaseModel.model_dump(by_alias=True, exclude_none=True) does,
            # without its Python wrapper (0.55 us against 0.95).
            if _AS_FIELDS[self.__class__]:
                return self.__dict__.copy()
            data: dict[str, Any] = self.__pydantic_serializer__.to_python(self, by_alias=True, exclude_none=True)
            return data
        kwargs.setdefault("by_alias", True)
        kwargs.setdefault("exclude_none", True)
        return super().model_dump(**kwargs)

    def json_bytes(self, **kwargs: Any) -> bytes:
        """The message body as openmodule puts it on the wire."""
        return dumps(self.model_dump(**kwargs))


class ZMQMessage(OpenModuleModel):
    """The envelope every message carries.

    ``name`` is the sender's service name; the host fills it in with the publishing plugin's NAME, and
    a receiver fills in its own NAME when the field is missing (openmodule's behaviour).
    """

    # The envelope's defaults are valid as they are (the timestamp is naive UTC already): validating them again
    # (the model's validate_default) cost 0.15 us of every message built.
    timestamp: Datetime = Field(default_factory=_default_timestamp, validate_default=False)
    name: str = Field(default="", validate_default=False)
    type: str
    baggage: str | None = Field(default=None, validate_default=False)
    sentry_trace: str | None = Field(
        default=None, validation_alias="sentry-trace", serialization_alias="sentry-trace", validate_default=False
    )

    def model_dump(self, **kwargs: Any) -> dict[str, Any]:
        fields = self.__dict__
        if kwargs:
            data = super().model_dump(**kwargs)
        elif fields["baggage"] is None and fields["sentry_trace"] is None and _AS_FIELDS[self.__class__]:
            # The usual message: its fields as they are, without the unset trace headers (0.5 us less per
            # message sent than pydantic's serializer; tests/test_model_dump.py compares the two).
            data = fields.copy()
            del data["baggage"], data["sentry_trace"]
        else:
            # OpenModuleModel.model_dump's general way, inlined: one Python call less per message sent.
            data = self.__pydantic_serializer__.to_python(self, by_alias=True, exclude_none=True)
        timestamp = data.get("timestamp")
        if timestamp.__class__ is datetime and timestamp.tzinfo is None:
            # datetime_to_timestamp's usual case inlined (the default timestamp, utcnow()): 0.15 us per message.
            data["timestamp"] = (timestamp - _EPOCH_NAIVE).total_seconds()
        elif isinstance(timestamp, datetime):
            data["timestamp"] = datetime_to_timestamp(timestamp)
        return data
