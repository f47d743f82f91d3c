"""Fixtures for interop tests: real openmodule services (separate processes), hosts, a wire tap."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from tests.support import HostProcess

from .peer import OpenModulePeer
from .wire_tap import WireTap

BrokerEnv = Mapping[str, str]


@pytest.fixture
def openmodule_peer() -> Iterator[Callable[..., OpenModulePeer]]:
    """Factory: ``openmodule_peer(broker_env, name="om_interop_1")`` starts a real openmodule 18.5.0
    service on that broker and returns it once ``init_openmodule`` is through. Fails (never skips) when
    ``.venv-openmodule`` is missing. Every service is stopped after the test."""
    peers: list[OpenModulePeer] = []

    def factory(broker: BrokerEnv, name: str = "om_interop_1", ready_timeout: float = 30.0) -> OpenModulePeer:
        peer = OpenModulePeer(name, broker["BROKER_SUB"], broker["BROKER_PUB"])
        peers.append(peer)
        peer.wait_ready(ready_timeout)
        return peer

    yield factory
    for peer in reversed(peers):
        peer.stop()


def _toml(plugins: Mapping[str, Mapping[str, Any]]) -> str:
    """``[plugins.<name>]`` tables; JSON spells strings, numbers, booleans and lists as TOML does."""
    lines = []
    for plugin, table in plugins.items():
        lines.append(f"[plugins.{plugin}]")
        lines.extend(f"{key} = {json.dumps(value)}" for key, value in table.items())
    return "\n".join(lines) + "\n"


@pytest.fixture
def host_with_plugins(tmp_path: Path) -> Iterator[Callable[..., HostProcess]]:
    """Factory: ``host_with_plugins("hello", env=broker_env, config={"hello": {"NAME": "om_hello_1"}},
    args=["--broker", "external"])`` runs ``openmodule-host --plugins hello --config <toml> ...`` and returns
    it once it printed ``ready``. Stopped after the test."""
    hosts: list[HostProcess] = []

    def factory(
        *plugins: str,
        env: BrokerEnv,
        config: Mapping[str, Mapping[str, Any]] | None = None,
        args: Sequence[str] = (),
        ready_timeout: float = 30.0,  # a migration child and the imports take seconds on a loaded machine
    ) -> HostProcess:
        config_file = tmp_path / f"host-{len(hosts)}.toml"
        config_file.write_text(_toml(config or {}))
        host = HostProcess(["--plugins", ",".join(plugins), "--config", str(config_file), *args], env=env)
        hosts.append(host)
        host.wait_ready(ready_timeout)
        return host

    yield factory
    for host in reversed(hosts):
        host.stop()


@pytest.fixture
def standalone_broker_process(broker_env: dict[str, str]) -> Iterator[dict[str, str]]:
    """``openmodule-host broker`` on the free addresses of ``broker_env``; yields that env."""
    with HostProcess(["broker"], env=broker_env) as broker:
        broker.wait_for_line("broker ready", timeout=30)
        yield broker_env
        assert broker.stop() == 0


@pytest.fixture
def wire_tap() -> Iterator[Callable[[BrokerEnv], WireTap]]:
    """Factory: ``wire_tap(broker_env)`` captures every message on that broker, raw."""
    taps: list[WireTap] = []

    def factory(broker: BrokerEnv) -> WireTap:
        tap = WireTap(broker["BROKER_SUB"], broker["BROKER_PUB"])
        taps.append(tap)
        return tap

    yield factory
    for tap in taps:
        tap.close()
