"""The backend hooks: ``check_access`` served as an access service, ``check_in``/``check_out`` from counts.

A plugin that implements ``check_access`` is an access service on the wire, as openmodule 18.5.0's
``AccessService`` is: it serves RPC ``access_service``/``auth`` for the requests whose ``request.name`` is
its NAME (several such plugins share one host). A plugin that implements ``check_in`` or ``check_out``
gets the legacy ``count`` messages (openmodule 10.x's ``Backend``): ``check_in`` when the gateway's
direction is ``in``, ``check_out`` otherwise. Both run on the plugin's worker.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from openmodule_hookspecs import (
    ACCESS_CHANNEL,
    ACCESS_TYPE,
    COUNT_TOPIC,
    AccessCheckRequest,
    AccessCheckResponse,
    CountMessage,
    Direction,
    RPCRequest,
)

if TYPE_CHECKING:
    from .plugin import HostedPlugin

__all__ = ["access_response", "serve_backend_hooks"]


def access_response(result: Any) -> AccessCheckResponse:
    """What ``check_access`` returned, as the response: an ``AccessCheckResponse`` (or its dict) as it is, a
    list of accesses (``AccessCheckAccess`` or dicts) as a successful answer, ``None`` as no accesses."""
    if result is None:
        return AccessCheckResponse(success=True, accesses=[])
    if isinstance(result, AccessCheckResponse):
        return result
    if isinstance(result, dict):
        return AccessCheckResponse.model_validate(result)
    if isinstance(result, Sequence) and not isinstance(result, str | bytes):
        return AccessCheckResponse(success=True, accesses=list(result))
    raise TypeError(
        "check_access must return an AccessCheckResponse, a list of AccessCheckAccess or None, "
        f"not {type(result).__name__}"
    )


def serve_backend_hooks(plugin: HostedPlugin) -> None:
    """Wire the plugin's ``check_access``, ``check_in`` and ``check_out`` hooks, those it implements."""
    manager, core, hooks = plugin.manager, plugin.core, plugin.hookimpls
    if manager is None or core is None:
        return
    if "check_access" in hooks:
        log = core.log

        def check_access(request: AccessCheckRequest, message: RPCRequest) -> AccessCheckResponse:
            try:
                result = manager.hook.check_access(core=core, request=request)
            except Exception:
                # openmodule's Backend answered a failing check with success=false; so does the host.
                plugin.stats.handler_errors += 1
                plugin.log_throttle.log(
                    log, logging.ERROR, (plugin.name, ACCESS_CHANNEL, ACCESS_TYPE, "check_access raised"),
                    "check_access raised (gate %s, vehicle %s): answering success=false", request.gate,
                    request.vehicle_id, exc_info=True,
                )
                return AccessCheckResponse(success=False, accesses=[])
            return access_response(result)

        core.rpc_server.register_named_handler(
            ACCESS_CHANNEL, ACCESS_TYPE, AccessCheckRequest, AccessCheckResponse, check_access
        )
    if "check_in" in hooks or "check_out" in hooks:

        def on_count(message: CountMessage) -> None:
            if message.gateway.direction == Direction.IN:
                manager.hook.check_in(core=core, message=message)
            else:
                manager.hook.check_out(core=core, message=message)

        core.messages.register_handler(COUNT_TOPIC, CountMessage, on_count)
