"""The fake core must not drift from the host: the same scenarios run through a FakeCore and through a real
host on a real broker (om_host + om_client), and what a test can observe must be equal: RPC replies (or their
absence), what the plugin published, its alerts, its counters, its health pong (status, message, checks,
metrics), and the example plugins' behaviour.

On the real host, "no reply" and "everything handled" are established without sleeping: after each step a
``sync`` RPC goes to the same plugin, whose reply comes from the same worker after everything sent before it
(one mailbox, in order; one sender, one broker: in order).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import pytest
from openmodule_hookspecs import response_topic

from openmodule_host.host import Host
from openmodule_host.testing import FakeCore, TestClient
from tests.support.fake_plugins import Shop

WELCOME_TABLE = {"plugin": "om_welcome", "gate": "in-1", "lookup_timeout": 0.2}
#: envelope fields that differ between any two runs.
VOLATILE = ("timestamp", "rpc_id", "startup")

Sync = tuple[str, str, dict[str, Any]]


def stable(body: dict[str, Any]) -> dict[str, Any]:
    """A message without its run-specific fields (nested in ``pong`` too)."""
    out = {key: value for key, value in body.items() if key not in VOLATILE}
    if isinstance(out.get("pong"), dict):
        out["pong"] = stable(out["pong"])
    return out


class Driver(Protocol):
    def send(self, topic: str, message: dict[str, Any]) -> None: ...

    def send_raw(self, topic: str, body: bytes) -> None: ...

    def malformed(self) -> dict[str, int]: ...

    def rpc(self, channel: str, type: str, request: dict[str, Any], resource: str | None = None) -> Any: ...

    def published(self, topic: str) -> list[dict[str, Any]]: ...

    def health(self) -> dict[str, Any]: ...

    def connection(self, status: str) -> None: ...

    def stats(self) -> dict[str, int]: ...


def _counters(stats: Any) -> dict[str, int]:
    return {name: getattr(stats, name) for name in ("handled", "handler_errors", "filter_errors", "invalid",
                                                    "rpcs_served", "rpcs_failed")}


class FakeDriver:
    def __init__(self, fake: FakeCore) -> None:
        self.fake = fake

    def send(self, topic: str, message: dict[str, Any]) -> None:
        self.fake.send(topic, message)

    def send_raw(self, topic: str, body: bytes) -> None:
        self.fake.send_raw(topic, body)

    def malformed(self) -> dict[str, int]:
        return dict(self.fake.intake.stats.malformed)

    def rpc(self, channel: str, type: str, request: dict[str, Any], resource: str | None = None) -> Any:
        reply = self.fake.rpc(channel, type, request, resource=resource)
        return None if reply is None else stable(reply)

    def published(self, topic: str) -> list[dict[str, Any]]:
        return [stable(body) for body in self.fake.published(topic)]

    def health(self) -> dict[str, Any]:
        return stable(self.fake.get_health())

    def connection(self, status: str) -> None:
        self.fake.set_connection_status(status)

    def stats(self) -> dict[str, int]:
        return _counters(self.fake.stats)


class HostDriver:
    """The same operations on a real host, through the test client on the broker."""

    def __init__(self, host: Host, client: TestClient, plugin: str, sync: Sync, topics: list[str]) -> None:
        self.host, self.client, self.plugin, self._sync = host, client, plugin, sync
        self.name = host.plugins[plugin].core.name  # type: ignore[union-attr]
        client.subscribe(*topics)
        self.syncs = 0

    def sync(self) -> None:
        channel, type_, request = self._sync
        self.client.rpc(channel, type_, request, timeout=30)
        self.syncs += 1

    def send(self, topic: str, message: dict[str, Any]) -> None:
        self.client.publish(topic, message)
        self.sync()

    def send_raw(self, topic: str, body: bytes) -> None:
        self.client.send_frames(topic.encode(), body)
        self.sync()

    def malformed(self) -> dict[str, int]:
        assert self.host.intake is not None
        return dict(self.host.intake.stats.malformed)

    def rpc(self, channel: str, type: str, request: dict[str, Any], resource: str | None = None) -> Any:
        rpc_id = self.client.rpc_send(channel, type, request, resource=resource)
        self.sync()
        replies = [body for body in self.client.received(response_topic(channel)) if body.get("rpc_id") == rpc_id]
        return stable(replies[0]) if replies else None

    def published(self, topic: str) -> list[dict[str, Any]]:
        self.sync()
        return [stable(body) for body in self.client.received(topic) if body.get("name") == self.name]

    def health(self) -> dict[str, Any]:
        self.sync()
        return stable(self.client.get_health(self.name, timeout=30))

    def connection(self, status: str) -> None:
        self.client.set_connection_status(status)
        self.sync()

    def stats(self) -> dict[str, int]:
        self.sync()
        counters = _counters(self.host.plugins[self.plugin].stats)
        counters["rpcs_served"] -= self.syncs  # the sync calls themselves are not part of the scenario
        return counters


Scenario = Callable[[Driver], list[Any]]


def shop_scenario(driver: Driver) -> list[Any]:
    """Typed handlers (valid, invalid, another type, raising), malformed bodies, both filter forms, every RPC
    status and the
    replies that do not come, connection status callbacks, publishes, alerts and health after the events."""
    outcomes: list[Any] = [driver.health()]
    for message in ({"type": "order", "amount": 3}, {"type": "order", "amount": "many"}, {"type": "refund"},
                    {"type": "order", "amount": -1}, {"type": "order", "amount": 50}):
        driver.send("orders", message)
    for gate in ("in", "out", "side"):
        driver.send("gates", {"type": "gate", "gate": gate})
    for body in (b"{not json", b"[1, 2]", b'{"type": "order", "amount": ' + b"[" * 100 + b"]" * 100 + b"}"):
        driver.send_raw("orders", body)
    for request in ({"x": 2}, {"x": "two"}, {"x": 13}, {"x": 8}, {"x": 99}, {"x": 7}, {}):
        outcomes.append(driver.rpc("calc", "double", request))
    outcomes.append(driver.rpc("calc", "triple", {"x": 2}))
    outcomes.append(driver.rpc("calc", "double", {"x": 2}, resource="another-device"))
    for status in ("online", "offline", "shutdown", "online"):  # on_connect / on_disconnect publish on "seen"
        driver.connection(status)
    outcomes += [driver.published("seen"), driver.published("alert"), driver.stats(), driver.malformed(),
                 driver.health()]
    return outcomes


def welcome_scenario(driver: Driver) -> list[Any]:
    """om_welcome: its gate filter on RPCs and messages, a plate lookup nobody answers (a timeout, so a failed
    check), the display messages, the greetings metric."""
    outcomes: list[Any] = [driver.rpc("welcome", "greet", {"gate": "in-1"}), driver.rpc("welcome", "greet",
                                                                                         {"gate": "in-2"})]
    outcomes.append(driver.rpc("welcome", "greet", {"gate": 1}))
    enter = {"type": "enter", "gate": "in-1", "vehicle_id": "1", "lpr_front": {"plate": "G ARIVO1", "country": "A"},
             "enter_direction": "forward", "enter_time": 1700000000.0}
    driver.send("present_vehicle", enter)
    driver.send("present_vehicle", {**enter, "gate": "in-2"})
    driver.send("present_vehicle", {**enter, "lpr_front": None})  # no plate at all: invalid
    outcomes.append(driver.rpc("welcome", "greet", {"gate": "in-1", "plate": "G ARIVO1"}))
    outcomes += [driver.published("display"), driver.stats(), driver.health()]
    return outcomes


def access_demo_scenario(driver: Driver) -> list[Any]:
    """om_access_demo: accesses set over RPC into its migrated database, access checks answered from it."""
    check = {"name": "om_access_demo", "gate": "in-1", "vehicle": {"lpr": {"id": "GARIVO1", "type": "lpr"}}}
    outcomes = [driver.rpc("access_service", "auth", check)]
    outcomes.append(driver.rpc("access_demo", "set", {"name": "om_access_demo", "accesses": {
        "a1": {"plate": "G ARIVO1", "category": "permanent"}, "a2": {"plate": "W 1", "category": "booked"}}}))
    outcomes.append(driver.rpc("access_demo", "set", {"name": "om_access_demo", "accesses": {"a3": {"plate": 5}}}))
    outcomes.append(driver.rpc("access_demo", "set", {"name": "another", "accesses": {}}))
    outcomes += [driver.rpc("access_service", "auth", check), driver.stats(), driver.health()]
    return outcomes


#: case -> (the plugin: an object, or an installed plugin's or instance's name), its name, its table, the
#: scenario, the sync RPC, the topics it publishes on.
CASES: dict[str, tuple[Callable[[], Any], str, dict[str, Any], Scenario, Sync, list[str]]] = {
    "shop": (Shop, "shop", {"limit": 10}, shop_scenario, ("calc", "sync", {}), ["seen", "alert"]),
    "om_welcome": (lambda: "gate_in", "gate_in", WELCOME_TABLE, welcome_scenario,
                   ("welcome", "greet", {"gate": "in-1"}), ["display"]),
    "om_access_demo": (lambda: "om_access_demo", "om_access_demo", {}, access_demo_scenario,
                       ("access_demo", "set", {"name": "om_access_demo", "accesses": {}}), []),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_the_fake_and_the_real_host_give_the_same_outcomes(case: str, om_host: Callable[..., Host],
                                                           om_client: TestClient) -> None:
    make, name, table, scenario, sync, topics = CASES[case]
    plugin = make()
    host = om_host(plugin if isinstance(plugin, str) else (name, plugin), config={name: table})
    through_host = scenario(HostDriver(host, om_client, name, sync, topics))

    plugin = make()
    fake = FakeCore(plugin, config=table) if isinstance(plugin, str) else FakeCore(plugin, name=name, config=table)
    with fake:
        through_fake = scenario(FakeDriver(fake))

    assert through_fake == through_host
