"""The wire: broker, the shared publisher, the single intake, and openmodule's framing."""

from .broker import Broker
from .codec import DecodeError, decode
from .connection_check import wait_for_connection
from .intake import Intake, Route
from .listener import Listener, field_filter, message_type_of
from .publisher import Publisher
from .raw import raw_or_decoded

__all__ = [
    "Broker",
    "DecodeError",
    "Intake",
    "Listener",
    "Publisher",
    "Route",
    "decode",
    "field_filter",
    "message_type_of",
    "raw_or_decoded",
    "wait_for_connection",
]
