"""What health reads of a hosted plugin: :class:`PluginView`, a Protocol the host's ``HostedPlugin`` meets.

Health sits below the plugin record (a plugin's core is built from :class:`.PluginHealth`), so it sees the
record through this view and never imports it.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from ..budget import PublishBudget
from ..config import PluginConfig
from ..states import PluginState
from ..stats import PluginStats
from .hooks import HookHealth
from .registry import PluginHealth

if TYPE_CHECKING:  # annotations only: the child process supervision loads only with process isolation
    from ..isolation import PluginProcess, Worker

__all__ = ["CoreView", "PluginView"]


class CoreView(Protocol):
    """What a plugin's pong takes from its core."""

    @property
    def name(self) -> str: ...

    @property
    def config(self) -> PluginConfig: ...

    @property
    def health(self) -> PluginHealth: ...


class PluginView(Protocol):
    """A hosted plugin as health reads it (read-only)."""

    @property
    def name(self) -> str: ...

    @property
    def state(self) -> PluginState: ...

    @property
    def reason(self) -> str: ...

    @property
    def required(self) -> bool: ...

    @property
    def stats(self) -> PluginStats: ...

    @property
    def started_at(self) -> datetime: ...

    @property
    def core(self) -> CoreView | None: ...

    @property
    def worker(self) -> Worker | None: ...

    @property
    def hook_health(self) -> HookHealth | None: ...

    @property
    def budget(self) -> PublishBudget | None: ...

    @property
    def process(self) -> PluginProcess | None: ...
