"""RPC over pub/sub, as openmodule 18.5.0 does it (wire-protocol.md 5.3): models, statuses, exceptions.

A request goes out on ``rpc-req-<channel>`` with a fresh ``rpc_id``; the server answers on
``rpc-rep-<channel>`` with ``response`` = the response model's fields plus ``status``. The client maps
an error status to an exception::

    RPCError                      (openmodule: RPCClient.Exception)
     +-- RPCTimeoutError          no reply in time; also a builtin TimeoutError
     +-- RPCCancelError           the call was cancelled
     +-- RPCValidationError       the reply did not validate; also a pydantic.ValidationError
     +-- ServerHandlerError       status handler_error: the handler raised or returned something invalid
     +-- ServerValidationError    status validation_error: the request did not validate
     +-- ServerFilterError        status filter_error: a server filter raised
     +-- RPCServerError           status error: from the cloud bridge, not from device servers
     +-- ServerUnknownError       any other status
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from uuid import UUID

import pydantic

from ._models import OpenModuleModel, ZMQMessage

__all__ = [
    "GatewayFilter",
    "RPCCancelError",
    "RPCError",
    "RPCErrorResult",
    "RPCErrorStatus",
    "RPCRequest",
    "RPCResponse",
    "RPCServerError",
    "RPCTimeoutError",
    "RPCValidationError",
    "ServerFilterError",
    "ServerHandlerError",
    "ServerUnknownError",
    "ServerValidationError",
    "gateway_filter",
    "request_topic",
    "response_topic",
]


def request_topic(channel: str) -> str:
    return "rpc-req-" + channel


def response_topic(channel: str) -> str:
    return "rpc-rep-" + channel


class RPCRequest(ZMQMessage):
    """The request envelope. ``resource`` targets one device; openmodule's own client never sets it."""

    rpc_id: UUID
    resource: str | None = None
    request: dict[str, Any] | None = None


class RPCResponse(ZMQMessage):
    """The reply envelope; ``rpc_id`` is omitted when the request's could not be read."""

    rpc_id: UUID | None = None
    response: Any = None


class RPCErrorStatus(StrEnum):
    """The ``response.status`` values other than ``ok`` (openmodule's ``RPCServerError`` enum)."""

    handler_error = "handler_error"
    validation_error = "validation_error"
    filter_error = "filter_error"
    error = "error"


class RPCErrorResult(OpenModuleModel):
    status: RPCErrorStatus
    error: str | None = None
    exception: Any = None


class RPCError(Exception):
    """Base of every RPC client error."""


class RPCTimeoutError(RPCError, TimeoutError):
    pass


class RPCCancelError(RPCError):
    pass


class RPCValidationError(pydantic.ValidationError, RPCError):
    """The reply did not validate against the expected response class."""


class ServerHandlerError(RPCError):
    pass


class ServerValidationError(RPCError):
    pass


class ServerFilterError(RPCError):
    pass


class RPCServerError(RPCError):
    pass


class ServerUnknownError(RPCError):
    pass


@dataclass(frozen=True, slots=True)
class GatewayFilter:
    """What :func:`gateway_filter` returns: an RPC filter that passes requests whose ``gateway`` matches
    (``None`` or ``""`` matches anything).

    Its gate and direction are data, not code: a host may apply it to a request before it reaches the
    plugin (openmodule-host's intake does, see docs/writing-plugins.md), with the same outcome.
    """

    gate: str | None = None
    direction: str | None = None

    def __call__(self, request: Any, _message: Any, _handler: Any) -> bool:
        gateway = request.get("gateway") if isinstance(request, dict) else getattr(request, "gateway", None)
        if not gateway:
            return False
        if not isinstance(gateway, dict):
            gateway = {"gate": getattr(gateway, "gate", None), "direction": getattr(gateway, "direction", None)}
        return ((not self.gate or self.gate == gateway.get("gate"))
                and (not self.direction or self.direction == gateway.get("direction")))


def gateway_filter(gate: str | None = None, direction: str | None = None) -> GatewayFilter:
    """An RPC filter that passes requests whose ``gateway`` matches (``None`` matches anything)."""
    return GatewayFilter(gate, direction)
