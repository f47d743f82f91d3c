"""What the HTTP endpoint and the metrics read of the host: :class:`ObservedHost`, a Protocol the
:class:`~openmodule_host.host.Host` meets. Observability sits below the host (the host starts the endpoint)
and never imports it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from ..config import HostConfig
from ..health import PluginStatus, PluginView
from ..watchdog import Watchdog
from ..wire import Intake, Publisher

__all__ = ["ObservedHost"]


class _RPCRouting(Protocol):
    #: requests for a (channel, type) nobody serves.
    @property
    def unknown(self) -> int: ...


class _ConnectionStatus(Protocol):
    #: connection status messages that were not valid.
    @property
    def invalid(self) -> int: ...


class ObservedHost(Protocol):
    """The host as ``/healthz`` and ``/metrics`` read it (read-only)."""

    @property
    def config(self) -> HostConfig: ...

    @property
    def plugins(self) -> Mapping[str, PluginView]: ...

    @property
    def watchdog(self) -> Watchdog | None: ...

    @property
    def intake(self) -> Intake | None: ...

    @property
    def publisher(self) -> Publisher | None: ...

    @property
    def rpc_router(self) -> _RPCRouting | None: ...

    @property
    def connection(self) -> _ConnectionStatus | None: ...

    def statuses(self) -> list[PluginStatus]: ...
