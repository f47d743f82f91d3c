"""The one plugin-state enum: a plugin's state as the host records it, as its child process's supervisor
tracks it, and as health reports it. A leaf module: it imports nothing from the host.

The values are the strings on the wire and in health (``openmodule-host`` output, ``/healthz``, the
``plugin_state`` alert's ``state``). Each holder uses a subset:

- a plugin (``HostedPlugin.state``): ``starting``, ``running``, ``failed``, ``stopped``;
- its child process (``PluginProcess.state``, ``ISOLATION = "process"``): those and ``restarting``
  (crashed; waiting out the back-off, or starting again) and ``quarantined`` (crashed too often: no more
  restarts);
- health (``PluginStatus.state``): a plugin's state, with ``degraded`` for a running plugin that is not
  well (a stuck handler, a failing health hook, a child process restarting).
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["PluginState"]


class PluginState(StrEnum):
    STARTING = "starting"
    RUNNING = "running"
    DEGRADED = "degraded"
    RESTARTING = "restarting"
    QUARANTINED = "quarantined"
    FAILED = "failed"
    STOPPED = "stopped"
