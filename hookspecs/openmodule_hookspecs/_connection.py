"""Connection status on the wire (wire-protocol.md 5.5): topic ``connection_internal`` (legacy
``connection_status``) and the RPC ``connection``/``status`` for the first value."""

from __future__ import annotations

from enum import StrEnum

from ._models import OpenModuleModel, ZMQMessage

__all__ = ["BridgeStatus", "ConnectionRPCResponse", "ConnectionStatus", "ConnectionStatusMessage"]


class ConnectionStatus(StrEnum):
    startup = "startup"
    online = "online"
    shutdown = "shutdown"
    offline = "offline"


class BridgeStatus(StrEnum):
    online = "online"
    offline = "offline"


class ConnectionStatusMessage(ZMQMessage):
    type: str = "connection_status"
    connected: ConnectionStatus
    bridge_status: BridgeStatus | None = None


class ConnectionRPCResponse(OpenModuleModel):
    connected: ConnectionStatus
    bridge_status: BridgeStatus | None = None
