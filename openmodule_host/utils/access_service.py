"""openmodule 18.5.0's ``AccessService`` template, as a plugin object: subclass it, implement
``rpc_check_access``, and load an instance as the plugin.

The instance's ``check_access`` hookimpl is what the host serves as RPC ``access_service``/``auth`` for the
requests whose ``request.name`` is the plugin's NAME (:mod:`openmodule_host.access`), so several access
services (several plugins, or instances of one) share a host and each answers only for itself. Nothing here
serves the RPC a second time: openmodule's ``register_rpcs`` has no counterpart. As openmodule's template,
it answers ``access_service``/``auth`` only, not the legacy ``backend``/``auth`` (its ``access_protocols``).
"""

from __future__ import annotations

import logging
from collections.abc import Collection

from openmodule_hookspecs import AccessCheckRequest, AccessCheckResponse, PluginCore, RPCRequest, hookimpl

from ..compat import core as current_core

__all__ = ["AccessService"]


class AccessService:
    """Base of an access service plugin (openmodule's ``AccessService``).

    ``rpc_check_access(request, message)`` is called on the plugin's worker for each request naming the
    plugin; ``message`` is ``None`` (the host hands access hooks the request only). Its answer and its
    exceptions are treated as ``check_access``'s: an exception answers ``success: false`` and is logged and
    counted. A subclass may implement further hooks (``register_handlers``, ``shutdown``, ...) as
    ``@hookimpl`` methods.
    """

    @property
    def log(self) -> logging.Logger:
        """The logger of the plugin whose code runs on this thread."""
        return current_core().log

    @hookimpl
    def access_protocols(self, core: PluginCore) -> Collection[str]:
        return ("access_service",)

    @hookimpl
    def check_access(self, core: PluginCore, request: AccessCheckRequest) -> AccessCheckResponse:
        return self.rpc_check_access(request, None)

    def rpc_check_access(self, request: AccessCheckRequest, message: RPCRequest | None) -> AccessCheckResponse:
        """Check whether the vehicle has access at ``request.gate`` at ``request.timestamp``."""
        raise NotImplementedError(f"{type(self).__name__} must implement rpc_check_access")
