"""openmodule-hookspecs: the contract between openmodule-host and its plugins.

A plugin is a distribution with an entry point in the group ``openmodule.plugins`` pointing at a module
(or object) that holds ``@hookimpl`` functions named after the hooks in :mod:`openmodule_hookspecs.specs`.
"""

from . import _specs as specs
from ._alerts import AlertHandleType, AlertMessage, AlertStatus
from ._connection import BridgeStatus, ConnectionRPCResponse, ConnectionStatus, ConnectionStatusMessage
from ._core import (
    Database,
    MessageFilter,
    Messages,
    PluginConfig,
    PluginCore,
    RPCClient,
    RPCEntry,
    RPCFilter,
    RPCHandler,
    RPCServer,
    Subscription,
)
from ._events import EventListener
from ._health import (
    HealthCheck,
    HealthCheckState,
    HealthMetric,
    HealthMetricType,
    HealthPingMessage,
    HealthPongMessage,
    HealthPongPayload,
    HealthResult,
    health_error,
    health_ok,
)
from ._markers import PROJECT_NAME, hookimpl, hookspec
from ._models import Datetime, OpenModuleModel, ZMQMessage, datetime_to_timestamp, dumps, utcnow
from ._privacy import AnonymizeMessage, AnonymizeRequest, AnonymizeResponse, PrivacySettings, PrivacyTime
from ._rpc import (
    RPCCancelError,
    RPCError,
    RPCErrorResult,
    RPCErrorStatus,
    RPCRequest,
    RPCResponse,
    RPCServerError,
    RPCTimeoutError,
    RPCValidationError,
    ServerFilterError,
    ServerHandlerError,
    ServerUnknownError,
    ServerValidationError,
    gateway_filter,
    request_topic,
    response_topic,
)

#: The entry point group plugins register under.
ENTRY_POINT_GROUP = "openmodule.plugins"

__all__ = [
    "ENTRY_POINT_GROUP",
    "PROJECT_NAME",
    "AlertHandleType",
    "AlertMessage",
    "AlertStatus",
    "AnonymizeMessage",
    "AnonymizeRequest",
    "AnonymizeResponse",
    "BridgeStatus",
    "ConnectionRPCResponse",
    "ConnectionStatus",
    "ConnectionStatusMessage",
    "Database",
    "Datetime",
    "EventListener",
    "HealthCheck",
    "HealthCheckState",
    "HealthMetric",
    "HealthMetricType",
    "HealthPingMessage",
    "HealthPongMessage",
    "HealthPongPayload",
    "HealthResult",
    "MessageFilter",
    "Messages",
    "OpenModuleModel",
    "PluginConfig",
    "PluginCore",
    "PrivacySettings",
    "PrivacyTime",
    "RPCCancelError",
    "RPCClient",
    "RPCEntry",
    "RPCError",
    "RPCErrorResult",
    "RPCErrorStatus",
    "RPCFilter",
    "RPCHandler",
    "RPCRequest",
    "RPCResponse",
    "RPCServer",
    "RPCServerError",
    "RPCTimeoutError",
    "RPCValidationError",
    "ServerFilterError",
    "ServerHandlerError",
    "ServerUnknownError",
    "ServerValidationError",
    "Subscription",
    "ZMQMessage",
    "datetime_to_timestamp",
    "dumps",
    "gateway_filter",
    "health_error",
    "health_ok",
    "hookimpl",
    "hookspec",
    "request_topic",
    "response_topic",
    "specs",
    "utcnow",
]
