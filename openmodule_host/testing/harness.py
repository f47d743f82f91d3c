"""Building blocks of the pytest plugin, usable without pytest too."""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

import zmq

from ..config import HostConfig
from ..errors import PluginLoadError
from ..host import Host
from ..instances import select_instances
from ..loader import PluginCandidate, discover
from ..wire import Broker, Route

__all__ = ["PrivateBroker", "free_tcp_address", "start_host", "wait_broker_subscribed"]


def free_tcp_address() -> str:
    """A loopback TCP address whose port is free right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"tcp://127.0.0.1:{probe.getsockname()[1]}"


class PrivateBroker:
    """A broker on free loopback ports, in its own ZeroMQ context."""

    def __init__(self) -> None:
        self.context = zmq.Context()
        for attempt in range(5):  # a freed port may be taken again before we bind it
            self.sub_address, self.pub_address = free_tcp_address(), free_tcp_address()
            self._broker = Broker(self.context, self.sub_address, self.pub_address)
            try:
                self._broker.start()
                break
            except Exception:
                if attempt == 4:
                    raise

    @property
    def env(self) -> dict[str, str]:
        """The environment that points an openmodule service (or a host subprocess) at this broker."""
        return {"BROKER_SUB": self.sub_address, "BROKER_PUB": self.pub_address}

    def close(self) -> None:
        if self._broker.stop():  # (closing its sockets under its proxy could crash the process)
            self.context.destroy(linger=0)


#: an installed plugin's name, or (name, plugin object), or (name, "module:attribute") for one a child process
#: can import too (``ISOLATION = "process"``).
PluginSpec = str | tuple[str, Any]


def _candidates(plugins: Iterable[PluginSpec] | Mapping[str, Any],
                tables: Mapping[str, Mapping[str, Any]]) -> list[PluginCandidate]:
    items = plugins.items() if isinstance(plugins, Mapping) else plugins
    installed: dict[str, PluginCandidate] | None = None
    candidates = []
    for item in items:
        if isinstance(item, str):
            installed = installed if installed is not None else discover()
            candidates.extend(select_instances(installed, tables, [item]))
        else:
            name, plugin = item
            candidates.append(PluginCandidate.from_target(name, plugin) if isinstance(plugin, str)
                              else PluginCandidate.from_object(name, plugin))
    return candidates


def start_host(
    broker: PrivateBroker,
    plugins: Iterable[PluginSpec] | Mapping[str, Any],
    *,
    config: Mapping[str, Mapping[str, Any]] | None = None,
    strict: bool = True,
    lines: list[str] | None = None,
    sentry_options: Mapping[str, Any] | None = None,
    **host_settings: Any,
) -> Host:
    """Start a host on ``broker`` (as an external broker) with the given plugins and return it, ready.

    ``plugins`` holds installed plugin names and/or ``(name, module_or_object)`` pairs for plugins
    defined in the test itself; ``config`` maps plugin names to their settings tables (a table with
    ``plugin = "<entry point>"`` makes its name an instance of that installed entry point); ``sentry_options``
    are further ``sentry_sdk.init`` options (e.g. a ``transport`` that keeps events in memory), used with
    ``sentry_dsn``.

    ``strict`` (the default): a plugin that fails to load or start raises :class:`PluginLoadError` at once,
    naming the plugin and the reason (the host is stopped first); ``strict=False`` starts the host anyway and
    leaves that plugin ``failed``, for tests about a failing plugin.
    """
    host_config = HostConfig(
        broker="external",
        broker_sub=broker.sub_address,
        broker_pub=broker.pub_address,
        plugins={name: dict(table) for name, table in (config or {}).items()},
        **host_settings,
    )
    sink = lines if lines is not None else []
    host = Host(host_config, _candidates(plugins, host_config.plugins), strict=strict, report=sink.append,
                sentry_options=sentry_options)
    try:
        host.start()
    except PluginLoadError as error:
        error.add_note("(strict=False starts the host anyway and leaves the plugin failed)")
        raise
    return host


def wait_broker_subscribed(host: Host, timeout: float = 10.0) -> None:
    """Return once the broker knows every topic ``host`` subscribed so far; ``AssertionError`` after ``timeout``.

    :meth:`~openmodule_host.wire.Intake.wait_subscribed` only proves the intake's SUB socket took the
    subscriptions: they still travel to the broker on libzmq's I/O thread. This subscribes a fresh probe topic
    after them, on the same socket, and publishes to it from the host's own publisher until a probe comes
    back: the broker handles one connection's subscriptions in order, so by then it has all the earlier
    ones. A test client's :meth:`~openmodule_host.testing.TestClient.sync` after this makes sure its PUB
    knows them too.
    """
    intake, publisher = host.intake, host.publisher
    assert intake is not None and publisher is not None, "the host is not started"
    topic = f"omh-probe-{uuid.uuid4().hex}"
    arrived = threading.Event()
    route = Route(None, lambda body: arrived.set())
    intake.add(topic, route)
    try:
        deadline = time.monotonic() + timeout
        if not intake.wait_subscribed(timeout):
            raise AssertionError(f"the host's intake took no subscription within {timeout} s")
        while not arrived.is_set():
            if time.monotonic() >= deadline:
                raise AssertionError(f"the broker passed no message on the host's probe topic within {timeout} s")
            publisher.send(topic, b'{"type":"probe"}')
            arrived.wait(0.01)
    finally:
        intake.remove(topic, route)
