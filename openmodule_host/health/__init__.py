"""Health: ``core.health`` (checks, metrics), ping answers per plugin and for the host, plugin states."""

from .hooks import HookHealth, hook_check
from .registry import PluginHealth
from .responder import HealthResponder
from .status import PLUGIN_METRICS, PluginStatus, host_checks, host_metrics, plugin_status, plugin_values
from .view import CoreView, PluginView

__all__ = [
    "PLUGIN_METRICS",
    "CoreView",
    "HealthResponder",
    "HookHealth",
    "PluginHealth",
    "PluginStatus",
    "PluginView",
    "hook_check",
    "host_checks",
    "host_metrics",
    "plugin_status",
    "plugin_values",
]
