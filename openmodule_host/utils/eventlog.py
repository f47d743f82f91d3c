"""User-visible events (openmodule's ``utils/eventlog.py``): ``create_event`` messages on topic ``eventlog``.

An event is a message text, a Python format string over named arguments, plus :class:`EventInfo` (its
category ``type``, which must contain ``_``, and the session, gate, plate it belongs to). Each argument is a
:class:`MessageKwarg` that says how the event log shows and anonymises it; its constructors
(:meth:`MessageKwarg.lpr`, ``.medium``, ``.string``, ``.price``, ``.rate``, ``.cost_group``, ``.gate``) pick
the right types::

    send_event(core, EventInfo.create("session_start", gate="entry1", session_id="s-42"),
               "Session with plate {lpr} started at {gate}",
               lpr=MessageKwarg.lpr("G ARIVO1", "A"), gate=MessageKwarg.gate("entry1"))

openmodule sends through its one global core; here the event goes out on the plugin's core (with the
plugin's NAME), which is why :func:`send_event` and :meth:`EventlogMessage.send` take it.
"""

from __future__ import annotations

import logging
from datetime import datetime
from enum import StrEnum
from typing import Protocol, Self

from openmodule_hookspecs import Datetime, OpenModuleModel, ZMQMessage, utcnow
from pydantic import field_validator, model_validator

__all__ = [
    "EVENTLOG_TOPIC",
    "AnonymizationType",
    "Event",
    "EventInfo",
    "EventlogMessage",
    "MessageKwarg",
    "PlateFormatData",
    "send_event",
]

EVENTLOG_TOPIC = "eventlog"
log = logging.getLogger("Eventlog")


class _Publisher(Protocol):
    def publish(self, message: ZMQMessage, topic: str) -> None: ...


class AnonymizationType(StrEnum):
    lpr = "lpr"  # shown anonymised as "***AB"
    medium = "medium"  # anonymised when linked to a session
    default = "default"  # shown with the anonymise icon
    no = "no"


class PlateFormatData(OpenModuleModel):
    plate: str
    country: str | None = None


#: the Python type each known format type's value must have
_VALUE_TYPES: dict[str, type | tuple[type, ...]] = {
    "lpr": PlateFormatData, "medium": str, "string": str, "price": int, "gate": str,
}


class MessageKwarg(OpenModuleModel):
    """One argument of an event's message."""

    value: PlateFormatData | int | float | bool | str
    anonymization_type: AnonymizationType = AnonymizationType.default
    format_type: str  # lpr, medium, string, price, rate, cost_group, gate, or another

    @model_validator(mode="after")
    def _value_fits_format_type(self) -> Self:
        expected = _VALUE_TYPES.get(self.format_type)
        if expected is not None and not isinstance(self.value, expected):
            name = expected.__name__ if isinstance(expected, type) else expected
            raise ValueError(f"{self.format_type} has to be {name}")
        return self

    @staticmethod
    def lpr(plate: str, country: str | None = None) -> MessageKwarg:
        """A plate (country ``-`` when unknown), anonymised as a plate."""
        return MessageKwarg(value=PlateFormatData(plate=plate, country=country or "-"), format_type="lpr",
                            anonymization_type=AnonymizationType.lpr)

    @staticmethod
    def medium(value: str) -> MessageKwarg:
        return MessageKwarg(value=value, format_type="medium", anonymization_type=AnonymizationType.medium)

    @staticmethod
    def string(value: str) -> MessageKwarg:
        return MessageKwarg(value=value, format_type="string", anonymization_type=AnonymizationType.default)

    @staticmethod
    def price(cents: int) -> MessageKwarg:
        return MessageKwarg(value=cents, format_type="price", anonymization_type=AnonymizationType.no)

    @staticmethod
    def rate(rate_id: str) -> MessageKwarg:
        return MessageKwarg(value=rate_id, format_type="rate", anonymization_type=AnonymizationType.no)

    @staticmethod
    def cost_group(cost_group: str) -> MessageKwarg:
        return MessageKwarg(value=cost_group, format_type="cost_group", anonymization_type=AnonymizationType.no)

    @staticmethod
    def gate(technical_name: str) -> MessageKwarg:
        return MessageKwarg(value=technical_name, format_type="gate", anonymization_type=AnonymizationType.no)


class EventInfo(OpenModuleModel):
    """What an event is about; ``type`` is its category (icons, grouping), with at least one ``_``."""

    type: str
    timestamp: Datetime
    gate: str | None = None
    license_plate: str | None = None  # anonymised as a plate
    license_plate_country: str | None = None
    session_id: str | None = None
    related_session_id: str | None = None
    vehicle_id: str | None = None
    price: int | None = None  # cents

    @field_validator("type")
    @classmethod
    def _type_contains_underscore(cls, value: str) -> str:
        if "_" not in value:
            raise ValueError("type must contain at least one underscore")
        return value

    @staticmethod
    def create(type: str, timestamp: datetime | None = None, gate: str | None = None,
               license_plate: str | None = None, license_plate_country: str | None = None,
               session_id: str | None = None, related_session_id: str | None = None,
               vehicle_id: str | None = None, price: int | None = None) -> EventInfo:
        """An info stamped now unless ``timestamp`` is given."""
        return EventInfo(type=type, timestamp=timestamp or utcnow(), gate=gate, license_plate=license_plate,
                         license_plate_country=license_plate_country, session_id=session_id,
                         related_session_id=related_session_id, vehicle_id=vehicle_id, price=price)


class Event(OpenModuleModel):
    message: str  # e.g. 'Session with plate {lpr} at entry "Einfahrt" started.'
    message_kwargs: dict[str, MessageKwarg]
    infos: EventInfo


class EventlogMessage(ZMQMessage):
    type: str = "create_event"
    event: Event

    @staticmethod
    def create(infos: EventInfo, message: str, **message_kwargs: MessageKwarg) -> EventlogMessage:
        return EventlogMessage(event=Event(infos=infos, message=message, message_kwargs=message_kwargs))

    def send(self, core: _Publisher) -> None:
        """Publish on topic ``eventlog`` through ``core`` (the plugin's core)."""
        core.publish(self, EVENTLOG_TOPIC)


def send_event(core: _Publisher, infos: EventInfo, message: str, **message_kwargs: MessageKwarg) -> None:
    """Log the event's text and publish it on topic ``eventlog`` through ``core``.

    The text must format with the arguments given (``KeyError``/``IndexError`` otherwise, before anything
    is sent), as openmodule formats it for its log line."""
    text = message.format(**{key: kwarg.value for key, kwarg in message_kwargs.items()})
    if infos.gate:
        log.info("Sending event at %s: %s", infos.gate, text)
    else:
        log.info("Sending event: %s", text)
    EventlogMessage.create(infos, message, **message_kwargs).send(core)
