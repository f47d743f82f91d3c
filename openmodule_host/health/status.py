"""The host's view of its plugins' health: states, the host's checks and metrics.

A running plugin is *degraded* while one of its handlers has been busy for longer than ``stall_after``
seconds, or while its ``health`` hook reports an error (or hangs). A plugin in a child process is what its
child reports (see :mod:`openmodule_host.isolation.status`), and degraded while the child restarts or has
stopped reporting. The host's own threads have a check each too, failing while the watchdog finds the
thread dead or stuck.

A status's message is what ``/healthz``, the host's pong and its ``plugin_state`` alert show: secrets
masked and cut to ``max_health_message_bytes`` (the reasons are already bounded where they are set; this
covers the reasons of a plugin's child process too).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, NamedTuple

import orjson
from openmodule_hookspecs import HealthCheck, HealthCheckState, HealthMetric, HealthMetricType

from ..limits import Limits, public_text

if TYPE_CHECKING:
    from ..plugin import HostedPlugin
    from ..watchdog import Watchdog

__all__ = ["PLUGIN_METRICS", "PluginStatus", "host_checks", "host_metrics", "plugin_status", "plugin_values"]


class PluginStatus(NamedTuple):
    name: str
    state: str  # starting, running, degraded, failed, stopped
    message: str | None
    required: bool


def plugin_status(plugin: HostedPlugin, stall_after: float,
                  message_bytes: int = Limits.health_message_bytes) -> PluginStatus:
    from ..plugin import PluginState

    state, message = plugin.state.value, plugin.reason or None
    if plugin.process is not None:
        from ..isolation.process import ChildState  # loaded with the child process supervision

        if plugin.state is PluginState.RUNNING and plugin.process.state is ChildState.RESTARTING:
            state, message = "degraded", plugin.process.reason
        elif plugin.state is PluginState.RUNNING and plugin.process.state is ChildState.RUNNING:
            state, message = plugin.process.status.health(stall_after)
    elif plugin.state is PluginState.RUNNING:
        busy_since = plugin.worker.busy_since if plugin.worker is not None else None
        if busy_since is not None and time.monotonic() - busy_since > stall_after:
            state, message = "degraded", f"a handler has been running for {time.monotonic() - busy_since:.0f} s"
        elif plugin.hook_health is not None and plugin.hook_health.last is not None and not plugin.hook_health.last.ok:
            state, message = "degraded", plugin.hook_health.last.message
    if message is not None:
        message = public_text(message, message_bytes)
    return PluginStatus(plugin.name, state, message, plugin.required)


_CHECK_STATE = {"running": HealthCheckState.ok, "degraded": HealthCheckState.fail, "failed": HealthCheckState.fail}


def host_checks(host_name: str, statuses: Iterable[PluginStatus],
                watchdog: Watchdog | None = None) -> list[HealthCheck]:
    """One check per plugin: ok while running, fail while degraded or failed, no-data otherwise; one per
    watched host thread (``host_thread_<name>``): ok while it runs, fail while it is dead or stuck."""
    checks = []
    for watched in watchdog.threads if watchdog is not None else ():
        name, ok = watched.heartbeat.name, watched.state == "ok"
        checks.append(HealthCheck(
            id=f"host_thread_{name}", package=host_name, name=f"Host thread {name}",
            description=f"the host's {name} thread runs", state=HealthCheckState.ok if ok else HealthCheckState.fail,
            message=None if ok else f"{watched.state}: {watched.reason}",
        ))
    for status in statuses:
        state = _CHECK_STATE.get(status.state, HealthCheckState.no_data)
        checks.append(HealthCheck(
            id=f"plugin_{status.name}", package=host_name, name=f"Plugin {status.name}",
            description=f"plugin {status.name} is running", state=state,
            message=f"{status.state}: {status.message}" if state is HealthCheckState.fail else None,
        ))
    return sorted(checks, key=lambda check: (check.id, check.package))


#: (metric id, type, description, how to read it from a plugin)
PLUGIN_METRICS: list[tuple[str, HealthMetricType, str]] = [
    ("plugin_messages_handled", HealthMetricType.count, "messages handled by the plugin"),
    ("plugin_handler_errors", HealthMetricType.count, "message handlers that raised"),
    ("plugin_invalid_messages", HealthMetricType.count, "messages that failed validation"),
    ("plugin_mailbox_depth", HealthMetricType.gauge, "messages waiting in the plugin's mailbox"),
    ("plugin_mailbox_dropped", HealthMetricType.count, "messages dropped because the mailbox was full"),
    ("plugin_rpcs_served", HealthMetricType.count, "RPCs answered successfully"),
    ("plugin_rpcs_failed", HealthMetricType.count, "RPCs answered with an error status"),
    ("plugin_busy_seconds", HealthMetricType.count,
     "time the plugin's worker spent on its messages, RPCs and hooks (validation included), seconds"),
    ("plugin_restarts", HealthMetricType.count, "restarts of the plugin's child process after a crash"),
    ("plugin_publish_delayed", HealthMetricType.count,
     "messages the plugin sent that waited for its publish budget"),
    ("plugin_publish_dropped", HealthMetricType.count,
     "messages the plugin sent that were dropped: over its publish budget, or the publish queue was full"),
    ("plugin_jobs_run", HealthMetricType.count, "runs of the plugin's scheduled jobs, the failed ones included"),
    ("plugin_jobs_failed", HealthMetricType.count, "runs of the plugin's scheduled jobs that raised"),
    ("plugin_jobs_skipped", HealthMetricType.count,
     "due runs of a scheduled job not started because its last run was still queued or running"),
]


def plugin_values(plugin: HostedPlugin) -> dict[str, float]:
    if plugin.process is not None:  # its figures are its children's, as they reported them
        return {**plugin.process.status.values(), "plugin_restarts": plugin.process.restarts}
    stats = plugin.stats
    mailbox = plugin.worker.mailbox if plugin.worker is not None else None
    return {
        "plugin_messages_handled": stats.handled,
        "plugin_handler_errors": stats.handler_errors,
        "plugin_invalid_messages": stats.invalid,
        "plugin_mailbox_depth": len(mailbox) if mailbox is not None else 0,
        "plugin_mailbox_dropped": mailbox.dropped if mailbox is not None else 0,
        "plugin_rpcs_served": stats.rpcs_served,
        "plugin_rpcs_failed": stats.rpcs_failed,
        "plugin_busy_seconds": round(plugin.worker.busy_seconds, 6) if plugin.worker is not None else 0.0,
        "plugin_restarts": 0,
        "plugin_publish_delayed": plugin.budget.delayed if plugin.budget is not None else 0,
        "plugin_publish_dropped": plugin.budget.dropped if plugin.budget is not None else 0,
        "plugin_jobs_run": stats.jobs_run,
        "plugin_jobs_failed": stats.jobs_failed,
        "plugin_jobs_skipped": stats.jobs_skipped,
    }


#: (metric id, description) of the per-thread counts, labelled by thread.
THREAD_METRICS: list[tuple[str, str]] = [
    ("host_thread_errors", "exceptions a host thread caught at its loop (each cost one message or round)"),
    ("host_thread_restarts", "host threads the watchdog restarted after they ended"),
]


def host_metrics(host_name: str, compute_id: int, plugins: Iterable[HostedPlugin],
                 watchdog: Watchdog | None = None) -> list[HealthMetric]:
    """The host's per-plugin metrics, labelled by plugin, and per-thread ones, labelled by thread, in
    openmodule's metric shape."""
    values: dict[str, dict[str, float]] = {metric_id: {} for metric_id, _, _ in PLUGIN_METRICS}
    for plugin in plugins:
        label_key = orjson.dumps({"compute_id": str(compute_id), "plugin": plugin.name},
                                 option=orjson.OPT_SORT_KEYS).decode()
        for metric_id, value in plugin_values(plugin).items():
            values[metric_id][label_key] = value
    metrics = [
        HealthMetric(id=metric_id, name=metric_id.replace("_", " ").capitalize(), description=description,
                     type=metric_type, labels=["plugin"], values=values[metric_id], package=host_name)
        for metric_id, metric_type, description in PLUGIN_METRICS
    ]
    if watchdog is not None:
        threads = {metric_id: {} for metric_id, _ in THREAD_METRICS}
        for watched in watchdog.threads:
            label_key = orjson.dumps({"compute_id": str(compute_id), "thread": watched.heartbeat.name},
                                     option=orjson.OPT_SORT_KEYS).decode()
            threads["host_thread_errors"][label_key] = watched.heartbeat.errors
            threads["host_thread_restarts"][label_key] = watched.restarts
        metrics.extend(
            HealthMetric(id=metric_id, name=metric_id.replace("_", " ").capitalize(), description=description,
                         type=HealthMetricType.count, labels=["thread"], values=threads[metric_id], package=host_name)
            for metric_id, description in THREAD_METRICS
        )
    return metrics
