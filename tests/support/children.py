"""A plugin's child process seen from a test: its pid (asked of the plugin, which answers the ``pid`` RPC on
its channel, as ``process_plugins.crasher`` does) and the child that takes over after a crash."""

from __future__ import annotations

from openmodule_host.isolation import PluginProcess
from openmodule_host.testing import TestClient

from .waiting import eventually

__all__ = ["child_pid", "restarted_child"]


def child_pid(client: TestClient, channel: str = "crasher", timeout: float = 10.0) -> int:
    """The pid of the child that serves ``channel`` (a bound: a loaded machine may take a while to answer)."""
    return client.rpc(channel, "pid", {}, timeout=timeout)["response"]["pid"]


def restarted_child(client: TestClient, process: PluginProcess, name: str, other_than: int,
                    channel: str = "crasher", timeout: float = 30.0) -> int:
    """The pid of the child that replaced ``other_than``, once it answers: its parent launched it, it answered a
    ping to its plugin's ``name`` (it subscribes ``healthz`` after its plugin's topics), and this client's PUB
    knows its topics (:meth:`~TestClient.sync`), so the RPC is not lost to a subscription still on its way."""
    eventually(lambda: process.pid not in (None, other_than), timeout=timeout)
    client.sync_with(name, timeout=timeout)
    client.sync()
    return child_pid(client, channel)
