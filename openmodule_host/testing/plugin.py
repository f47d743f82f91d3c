"""The pytest plugin (entry point ``pytest11``): fixtures for testing openmodule-host plugins.

Fixtures:

``om_broker``
    a private broker on free loopback ports (:class:`PrivateBroker`).
``om_client``
    a :class:`TestClient` on that broker: ``publish``, ``subscribe``, ``wait_for_message``.
``om_host``
    a factory: ``om_host("hello")``, ``om_host(("mine", my_module), config={"mine": {...}})`` starts a
    host with those plugins on the private broker and returns it, ready; it is stopped after the test.
``om_settings``
    the garage's settings service on that broker (:class:`SettingsMock`): ``om_settings.set(key, value)``
    serves a value and announces the change; a plugin's ``SettingsProvider`` reads from it.
``om_fake``
    a factory: ``om_fake("om_welcome", config={...})`` starts one plugin on a :class:`FakeCore` (in memory,
    no broker) and returns it; it is closed after the test.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import zmq

from ..host import Host
from .client import TestClient
from .fake_core import FakeCore
from .harness import PrivateBroker, start_host
from .settings import SettingsMock


@pytest.fixture
def om_broker() -> Iterator[PrivateBroker]:
    broker = PrivateBroker()
    yield broker
    broker.close()


@pytest.fixture
def om_client(om_broker: PrivateBroker) -> Iterator[TestClient]:
    context = zmq.Context()
    client = TestClient(context, om_broker.sub_address, om_broker.pub_address)
    yield client
    client.close()
    context.destroy(linger=0)


@pytest.fixture
def om_settings(om_broker: PrivateBroker) -> Iterator[SettingsMock]:
    with SettingsMock(om_broker.sub_address, om_broker.pub_address) as mock:
        yield mock


@pytest.fixture
def om_host(
    om_broker: PrivateBroker, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[..., Host]]:
    hosts: list[Host] = []

    def factory(*plugins: Any, **kwargs: Any) -> Host:
        kwargs.setdefault("data_dir", str(tmp_path_factory.mktemp("data")))
        kwargs.setdefault("dsgvo", False)
        host = start_host(om_broker, plugins, **kwargs)
        hosts.append(host)
        if "om_client" in request.fixturenames:
            # the client connected before the host subscribed: let the new subscriptions reach it
            request.getfixturevalue("om_client").sync()
        return host

    yield factory
    for host in reversed(hosts):
        host.stop()


@pytest.fixture
def om_fake() -> Iterator[Callable[..., FakeCore]]:
    fakes: list[FakeCore] = []

    def factory(plugin: Any, **kwargs: Any) -> FakeCore:
        fake = FakeCore(plugin, **kwargs)
        fakes.append(fake)
        return fake

    yield factory
    for fake in reversed(fakes):
        fake.close()
