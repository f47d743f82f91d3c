"""Ambient accessors for code ported from openmodule: ``from openmodule_host.compat import core, settings``.

openmodule services reach their core with ``core()`` and their settings with ``settings.NAME`` from
anywhere, because a service is a process of its own. In a host several plugins (and several instances of
one plugin) share the process, so here both are resolved from the thread the code runs on: every plugin's
code runs on its own worker (its hooks, message and RPC handlers and filters, whatever else is queued to
it) or on its health hook's thread, and those threads are bound to the plugin's core while they run.
Ported code then works after changing only its import lines, and two instances of one plugin each see
their own core and settings.

Called on any other thread (at import time, in ``config_model`` or ``database_migrations``, which run before
the core exists, or on a thread the plugin started itself) they raise a :class:`RuntimeError` that says
where they may be called. A thread the plugin starts itself can be bound with :func:`plugin_context`.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .config import PluginConfig
    from .core import HostedCore

__all__ = ["core", "plugin_context", "settings"]

_bound = threading.local()


def core() -> HostedCore:
    """The core of the plugin whose code runs on this thread (openmodule's ``core()``)."""
    bound: HostedCore | None = getattr(_bound, "core", None)
    if bound is None:
        raise RuntimeError(
            f"openmodule_host.compat.core() and settings were used on thread {threading.current_thread().name!r}, "
            "which runs no plugin's code. They work in a plugin's hooks (register_handlers, health, shutdown, ...), "
            "its message and RPC handlers and filters, i.e. on the plugin's worker (whatever runs there) and "
            "health threads; not at import time nor in config_model or database_migrations (there is no core "
            "yet). On a thread the plugin starts itself, run the code inside "
            "`with openmodule_host.compat.plugin_context(core):`."
        )
    return bound


@contextmanager
def plugin_context(plugin_core: HostedCore) -> Iterator[HostedCore]:
    """Bind this thread to ``plugin_core`` while the block runs: :func:`core` and :data:`settings` resolve to it.

    The host binds each plugin's worker and health threads itself; use this on threads a plugin starts.
    """
    previous = getattr(_bound, "core", None)
    _bound.core = plugin_core
    try:
        yield plugin_core
    finally:
        _bound.core = previous


class _Settings:
    """openmodule's ``settings``: the calling plugin's ``core.config`` (``settings.NAME``, ``settings.gate``)."""

    __slots__ = ()

    @staticmethod
    def _config() -> PluginConfig:
        return core().config

    def __getattr__(self, name: str) -> Any:
        return getattr(self._config(), name)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("settings are read-only: set them in the plugin's table or its environment")

    def __repr__(self) -> str:
        bound = getattr(_bound, "core", None)
        return f"settings({bound.config!r})" if bound is not None else "settings(<no plugin on this thread>)"


#: the calling plugin's settings (its ``core.config``), resolved on each attribute read.
settings = _Settings()
