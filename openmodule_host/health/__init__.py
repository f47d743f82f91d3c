"""Health: ``core.health`` (checks, metrics), ping answers per plugin and for the host, plugin states."""

from .registry import PluginHealth
from .responder import HealthResponder, HookHealth, hook_check
from .status import PLUGIN_METRICS, PluginStatus, host_checks, host_metrics, plugin_status, plugin_values

__all__ = [
    "PLUGIN_METRICS",
    "HealthResponder",
    "HookHealth",
    "PluginHealth",
    "PluginStatus",
    "hook_check",
    "host_checks",
    "host_metrics",
    "plugin_status",
    "plugin_values",
]
