"""The legacy backend wire (openmodule 10.x's ``Backend``), served by the host for a plugin's hooks.

* RPC ``backend``/``auth`` for the requests whose ``request.name`` is the plugin's NAME, from its
  ``check_backend_access`` hook or else, converted, from its ``check_access``;
* registration on topic ``backend``: ``register`` once the host is ready (:func:`announce_backend`), again on
  every ``register_request``, and ``unregister`` at stop (:func:`withdraw_backend`), with the plugin's NAME;
* topic ``session``: ``start`` -> ``check_in_session``, ``finish`` -> ``check_out_session``, ``delete`` /
  ``exit_without_entry`` / ``incomplete`` -> ``session_error``, for the hooks the plugin implements.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from openmodule_hookspecs import (
    BACKEND_CHANNEL,
    BACKEND_TOPIC,
    BACKEND_TYPE,
    SESSION_TOPIC,
    AccessRequest,
    AccessResponse,
    BackendRegisterMessage,
    BackendRegisterRequestMessage,
    BackendUnregisterMessage,
    MediumAccesses,
    RPCRequest,
    SessionDeleteMessage,
    SessionExitWithoutEntryMessage,
    SessionFinishMessage,
    SessionIncompleteMessage,
    SessionStartMessage,
    ZMQMessage,
)

from .access_calls import HookRaised, access_response, backend_response, call_access_hook
from .utils.access_conversion import access_check_request, legacy_accesses

if TYPE_CHECKING:
    from pluggy import HookCaller

    from .core import HostedCore
    from .plugin import HostedPlugin

__all__ = ["DEFAULT_TIMEZONE", "announce_backend", "serve_legacy_backend", "serve_sessions", "withdraw_backend"]

#: the time zone recurrent V2 accesses are evaluated in when the plugin's config names none (openmodule's).
DEFAULT_TIMEZONE = "Europe/Vienna"

_SESSION_HOOKS: dict[str, tuple[type[ZMQMessage], ...]] = {
    "check_in_session": (SessionStartMessage,),
    "check_out_session": (SessionFinishMessage,),
    "session_error": (SessionDeleteMessage, SessionExitWithoutEntryMessage, SessionIncompleteMessage),
}


def serve_legacy_backend(plugin: HostedPlugin) -> None:
    """Serve ``backend``/``auth`` for the plugin's NAME and answer ``register_request``; the plugin is marked
    as a legacy backend, to be announced once the host is ready and withdrawn at stop."""
    core = plugin.core
    assert core is not None
    core.rpc_server.register_named_handler(BACKEND_CHANNEL, BACKEND_TYPE, AccessRequest, AccessResponse,
                                           _auth_handler(plugin))
    core.messages.register_handler(BACKEND_TOPIC, BackendRegisterRequestMessage,
                                   lambda _request: announce_backend(plugin))
    plugin.legacy_backend = True


def _auth_handler(plugin: HostedPlugin) -> Callable[[AccessRequest, RPCRequest], AccessResponse]:
    where = (BACKEND_CHANNEL, BACKEND_TYPE)
    native = "check_backend_access" in plugin.hookimpls

    def check_access(request: AccessRequest, message: RPCRequest) -> AccessResponse:
        gateway = f" at {request.gateway}" if request.gateway is not None else ""
        about = f"{request.medium_type} {request.medium_id}{gateway}"
        try:
            if native:
                return backend_response(call_access_hook(plugin, "check_backend_access", request, where, about),
                                        request)
            answer = access_response(call_access_hook(plugin, "check_access", access_check_request(request), where,
                                                      about))
        except HookRaised:
            answer = None
        return AccessResponse(
            success=answer is not None and answer.success,
            medium=MediumAccesses(accesses=legacy_accesses(answer.accesses) if answer is not None else [],
                                  medium_id=request.medium_id, medium_type=request.medium_type),
        )

    return check_access


def serve_sessions(plugin: HostedPlugin) -> None:
    """Subscribe the plugin's session hooks, those it implements, to their ``session`` message types."""
    manager, core = plugin.manager, plugin.core
    assert manager is not None and core is not None
    for hook_name in set(_SESSION_HOOKS) & set(plugin.hookimpls):
        handler = _session_handler(getattr(manager.hook, hook_name), core)
        for message_class in _SESSION_HOOKS[hook_name]:
            core.messages.register_handler(SESSION_TOPIC, message_class, handler)


def _session_handler(hook: HookCaller, core: HostedCore) -> Callable[[ZMQMessage], None]:
    """The message handler that calls the session hook ``hook`` with each message."""

    def handle(message: ZMQMessage) -> None:
        hook(core=core, message=message)

    return handle


def announce_backend(plugin: HostedPlugin) -> None:
    """Publish ``register`` on topic ``backend`` for a legacy backend plugin."""
    if plugin.legacy_backend and plugin.core is not None:
        plugin.core.publish(BackendRegisterMessage(), BACKEND_TOPIC)


def withdraw_backend(plugin: HostedPlugin) -> None:
    """Publish ``unregister`` on topic ``backend`` for a legacy backend plugin."""
    if plugin.legacy_backend and plugin.core is not None:
        plugin.core.publish(BackendUnregisterMessage(), BACKEND_TOPIC)
