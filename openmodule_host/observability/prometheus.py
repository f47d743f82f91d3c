"""The host's metrics in the Prometheus exposition format, read at scrape time (nothing is copied)."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

from ..health import PLUGIN_METRICS, plugin_values
from .view import ObservedHost

__all__ = ["HostCollector", "host_registry"]

_STATES = ("starting", "running", "degraded", "failed", "stopped")


class HostCollector(Collector):
    def __init__(self, host: ObservedHost) -> None:
        self._host = host

    def collect(self) -> Iterator[Metric]:
        host = self._host
        statuses = host.statuses()
        state = GaugeMetricFamily("openmodule_host_plugin_state", "1 for the plugin's current state",
                                  labels=["plugin", "state"])
        for status in statuses:
            for name in _STATES:
                state.add_metric([status.name, name], 1.0 if status.state == name else 0.0)
        yield state

        families: dict[str, CounterMetricFamily | GaugeMetricFamily] = {}
        for metric_id, metric_type, description in PLUGIN_METRICS:
            name = f"openmodule_host_{metric_id}"
            family_class = GaugeMetricFamily if metric_type == "gauge" else CounterMetricFamily
            families[metric_id] = family_class(name, description, labels=["plugin"])
        for plugin in host.plugins.values():
            for metric_id, value in plugin_values(plugin).items():
                families[metric_id].add_metric([plugin.name], value)
        yield from families.values()

        limits = CounterMetricFamily("openmodule_host_limit_hits",
                                     "what a limit cut or refused of a plugin, by plugin and limit (see docs, Limits)",
                                     labels=["plugin", "limit"])
        for plugin in host.plugins.values():
            for limit, count in sorted(plugin.stats.limits.snapshot().items()):
                limits.add_metric([plugin.name, limit], count)
        yield limits

        if host.intake is not None:
            stats = host.intake.stats
            yield CounterMetricFamily("openmodule_host_messages_received", "frames received by the host's intake",
                                      value=stats.received)
            yield CounterMetricFamily("openmodule_host_messages_unrouted",
                                      "well-formed messages no handler wanted", value=stats.unrouted)
            malformed = CounterMetricFamily("openmodule_host_messages_malformed",
                                            "messages dropped before decoding, by reason", labels=["reason"])
            for reason, count in sorted(stats.malformed.items()):
                malformed.add_metric([reason], count)
            yield malformed
        if host.publisher is not None:
            yield CounterMetricFamily("openmodule_host_publisher_dropped",
                                      "messages the host's PUB socket refused: its queue to the broker was full",
                                      value=host.publisher.dropped)
        if host.rpc_router is not None:
            yield CounterMetricFamily("openmodule_host_rpcs_unknown", "RPC requests no plugin serves",
                                      value=host.rpc_router.unknown)
        if host.connection is not None:
            yield CounterMetricFamily("openmodule_host_connection_status_invalid",
                                      "connection status messages that failed validation",
                                      value=host.connection.invalid)
        if host.watchdog is not None:
            up = GaugeMetricFamily("openmodule_host_thread_up", "1 while the host thread runs, 0 while it is dead "
                                   "or stuck", labels=["thread"])
            errors = CounterMetricFamily("openmodule_host_thread_errors", "exceptions the host thread caught at "
                                         "its loop", labels=["thread"])
            restarts = CounterMetricFamily("openmodule_host_thread_restarts", "restarts of the host thread after "
                                           "it ended", labels=["thread"])
            for watched in host.watchdog.threads:
                name = watched.heartbeat.name
                up.add_metric([name], 1.0 if watched.state == "ok" else 0.0)
                errors.add_metric([name], watched.heartbeat.errors)
                restarts.add_metric([name], watched.restarts)
            yield from (up, errors, restarts)


def host_registry(host: ObservedHost) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(HostCollector(host))
    return registry
