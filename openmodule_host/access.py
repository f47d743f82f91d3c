"""The backend hooks: access checks served in both protocols, ``check_in``/``check_out`` from counts.

A plugin that implements ``check_access`` (openmodule 18.x's model) or ``check_backend_access`` (10.x's) is an
access service on the wire, as openmodule 18.5.0's ``AccessService`` is: it serves RPC ``access_service``/
``auth`` for the requests whose ``request.name`` is its NAME (several such plugins share one host), and the
legacy ``backend``/``auth`` (see :mod:`.legacy`), each from the hook of its own model or, without one,
from the other hook with request and answer converted (:mod:`.utils.access_conversion`). The
``access_protocols`` hook may turn either protocol off. A plugin that implements ``check_in`` or ``check_out``
gets the legacy ``count`` messages (openmodule 10.x's ``Backend``): ``check_in`` when the gateway's direction
is ``in``, ``check_out`` otherwise. Everything runs on the plugin's worker.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import TYPE_CHECKING

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

from .access_calls import HookRaised, access_response, backend_response, call_access_hook
from .legacy import DEFAULT_TIMEZONE, serve_legacy_backend, serve_sessions
from .utils.access_conversion import access_check_accesses, backend_requests

if TYPE_CHECKING:
    from .plugin import HostedPlugin

__all__ = ["ACCESS_PROTOCOLS", "access_response", "serve_backend_hooks"]

#: the protocols an access hook may answer, by the names ``access_protocols`` returns.
ACCESS_PROTOCOLS = frozenset({"access_service", "backend"})


def access_protocols(plugin: HostedPlugin) -> frozenset[str]:
    """The protocols the plugin's access hooks answer (its ``access_protocols`` hook; both without one);
    ``ValueError`` for anything but a collection of known names."""
    assert plugin.manager is not None
    chosen = plugin.manager.hook.access_protocols(core=plugin.core)
    if chosen is None:
        return ACCESS_PROTOCOLS
    if isinstance(chosen, str | bytes) or not isinstance(chosen, Collection):
        raise ValueError(f"access_protocols must return a collection of {sorted(ACCESS_PROTOCOLS)}, not {chosen!r}")
    unknown = set(chosen) - ACCESS_PROTOCOLS
    if unknown:
        raise ValueError(f"access_protocols returned unknown protocol(s) {sorted(map(str, unknown))}; "
                         f"known: {sorted(ACCESS_PROTOCOLS)}")
    return frozenset(chosen)


def serve_backend_hooks(plugin: HostedPlugin) -> None:
    """Wire the plugin's access, count and session hooks, those it implements. ``ValueError`` when they
    cannot be served (e.g. a bad ``access_protocols``)."""
    manager, core, hooks = plugin.manager, plugin.core, plugin.hookimpls
    if manager is None or core is None:
        return
    if "check_access" in hooks or "check_backend_access" in hooks:
        protocols = access_protocols(plugin)
        if "access_service" in protocols:
            core.rpc_server.register_named_handler(
                ACCESS_CHANNEL, ACCESS_TYPE, AccessCheckRequest, AccessCheckResponse, _access_handler(plugin)
            )
        if "backend" in protocols:
            serve_legacy_backend(plugin)
    if "check_in" in hooks or "check_out" in hooks:

        def on_count(message: CountMessage) -> None:
            if message.gateway.direction == Direction.IN:
                manager.hook.check_in(core=core, message=message)
            else:
                manager.hook.check_out(core=core, message=message)

        core.messages.register_handler(COUNT_TOPIC, CountMessage, on_count)
    serve_sessions(plugin)


def _access_handler(plugin: HostedPlugin) -> Callable[[AccessCheckRequest, RPCRequest], AccessCheckResponse]:
    """``access_service``/``auth`` from ``check_access``, or else from ``check_backend_access`` once per medium."""
    where = (ACCESS_CHANNEL, ACCESS_TYPE)
    native = "check_access" in plugin.hookimpls
    assert plugin.core is not None
    core = plugin.core

    def check_access(request: AccessCheckRequest, message: RPCRequest) -> AccessCheckResponse:
        about = f"gate {request.gate}, vehicle {request.vehicle_id}"
        try:
            if native:
                result = call_access_hook(plugin, "check_access", request, where, about)
                return access_response(result)
            accesses = []
            for legacy in backend_requests(request):
                answer = backend_response(
                    call_access_hook(plugin, "check_backend_access", legacy, where, about), legacy)
                if not answer.success:
                    return AccessCheckResponse(success=False, accesses=[])
                timezone = getattr(core.config, "TIMEZONE", DEFAULT_TIMEZONE)
                accesses += access_check_accesses(answer.medium.accesses, legacy, core.name, timezone)
            return AccessCheckResponse(success=True, accesses=accesses)
        except HookRaised:
            return AccessCheckResponse(success=False, accesses=[])

    return check_access
