"""``Backend``: openmodule 10.x's backend template as a plugin (re-exported as ``openmodule_host.utils.Backend``;
it lives here so that a plugin built on it needs only this package). Subclass it, implement the methods you need,
and make an instance the plugin::

    class MyBackend(Backend):
        def check_access(self, request: AccessRequest) -> list[Access]: ...
        def check_in(self, message: CountMessage) -> None: ...
        def check_out(self, message: CountMessage) -> None: ...

    plugin = MyBackend()      # entry point: my_backend = "my_backend.plugin:plugin"

Underneath it is an ordinary pluggy plugin: each method the subclass overrides becomes the hookimpl of its
hook (``check_access`` -> ``check_backend_access``, ``check_access_service`` -> ``check_access``,
``session_error_message`` -> ``session_error``, the others by their own names); the host does the
registration and the message passing. Further hooks (``config_model``, ``register_handlers``, ...) may be
methods of the subclass marked ``@hookimpl``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Collection
from typing import Any, ClassVar

from ._access import AccessCheckAccess, AccessCheckRequest, AccessCheckResponse, CountMessage
from ._backend import (
    Access,
    AccessRequest,
    AccessResponse,
    SessionErrorMessage,
    SessionFinishMessage,
    SessionStartMessage,
)
from ._core import PluginCore
from ._markers import hookimpl

__all__ = ["Backend"]

#: Backend method -> (the hook it implements, the name of the hook's argument it takes).
_METHOD_HOOKS: dict[str, tuple[str, str]] = {
    "check_access": ("check_backend_access", "request"),
    "check_access_service": ("check_access", "request"),
    "check_in": ("check_in", "message"),
    "check_out": ("check_out", "message"),
    "check_in_session": ("check_in_session", "message"),
    "check_out_session": ("check_out_session", "message"),
    "session_error_message": ("session_error", "message"),
}


class Backend:
    """A legacy backend (10.x's ``Backend``) answering both access protocols.

    Override what the backend does; a method left alone is not served. ``check_access`` answers RPC
    ``backend``/``auth`` and, converted once per medium, ``access_service``/``auth``, unless
    ``check_access_service`` answers that one natively. ``protocols`` picks the protocols served (both by
    default). Exceptions are the host's to handle: a raising access check answers ``success: false``, a raising
    message method is logged and counted. ``self.core`` is the plugin's core (``self.log`` its logger) on the
    plugin's worker, where every method runs; one object may serve several instances of the plugin.
    """

    #: the access protocols answered: "access_service" (openmodule 18.x) and/or "backend" (10.x).
    protocols: ClassVar[Collection[str]] = ("access_service", "backend")

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for method, (hook, argument) in _METHOD_HOOKS.items():
            if getattr(cls, method) is not getattr(Backend, method):
                setattr(cls, f"_hook_{hook}", hookimpl(specname=hook)(_hook_calling(method, argument)))

    # -- the hooks every backend implements -----------------------------------------------------------

    @hookimpl(specname="register_handlers", tryfirst=True)
    def _bind_core(self, core: PluginCore) -> None:
        """Before any of the subclass's own ``register_handlers``: ``self.core`` on this plugin's worker."""
        self._bound().core = core

    @hookimpl(specname="access_protocols")
    def _access_protocols(self, core: PluginCore) -> Collection[str]:
        return self.protocols

    @property
    def core(self) -> PluginCore:
        """The core of the plugin instance whose worker calls (set before its ``register_handlers``)."""
        core: PluginCore | None = getattr(self._bound(), "core", None)
        if core is None:
            raise RuntimeError(f"{type(self).__name__}.core is only known on its plugin's worker, once started")
        return core

    @property
    def log(self) -> logging.Logger:
        return self.core.log

    def _bound(self) -> threading.local:
        """Per worker thread: the core bound there (made on first use, so a subclass need not call
        ``super().__init__()``)."""
        bound: threading.local
        try:
            bound = self.__dict__["_omh_bound"]
        except KeyError:
            bound = self.__dict__.setdefault("_omh_bound", threading.local())
        return bound

    # -- what a subclass overrides ------------------------------------------------------------------------

    def check_access(self, request: AccessRequest) -> list[Access] | AccessResponse | None:
        """The medium's accesses (V2 ``Access``): RPC ``backend``/``auth`` for this plugin's NAME."""
        raise NotImplementedError

    def check_access_service(self, request: AccessCheckRequest) -> list[AccessCheckAccess] | AccessCheckResponse | None:
        """The accesses for an 18.x ``access_service``/``auth`` request, when not converted from ``check_access``."""
        raise NotImplementedError

    def check_in(self, message: CountMessage) -> None:
        """A ``count`` message whose gateway direction is ``in``."""
        raise NotImplementedError

    def check_out(self, message: CountMessage) -> None:
        """A ``count`` message with any other direction."""
        raise NotImplementedError

    def check_in_session(self, message: SessionStartMessage) -> None:
        """A ``session`` ``start`` message."""
        raise NotImplementedError

    def check_out_session(self, message: SessionFinishMessage) -> None:
        """A ``session`` ``finish`` message."""
        raise NotImplementedError

    def session_error_message(self, message: SessionErrorMessage) -> None:
        """A ``session`` ``delete``, ``exit_without_entry`` or ``incomplete`` message."""
        raise NotImplementedError


def _hook_calling(method: str, argument: str) -> Callable[..., Any]:
    """A hookimpl (``self, core, <argument>``) that calls the backend's ``method`` with the argument; pluggy
    matches hookimpls by their argument names, hence one function per name."""
    if argument == "request":

        def call_with_request(self: Backend, core: PluginCore, request: Any) -> Any:
            return getattr(self, method)(request)

        return call_with_request

    def call_with_message(self: Backend, core: PluginCore, message: Any) -> Any:
        return getattr(self, method)(message)

    return call_with_message
