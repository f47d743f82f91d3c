"""The pytest plugin (entry point ``pytest11``): fixtures for testing openmodule-host plugins.

Fixtures:

``om_broker``
    a private broker on free loopback ports (:class:`PrivateBroker`).
``om_client``
    a :class:`TestClient` on that broker: ``publish``, ``subscribe``, ``wait_for_message``.
``om_host``
    a factory: ``om_host("hello")``, ``om_host(("mine", my_module), config={"mine": {...}})`` starts a
    host with those plugins on the private broker and returns it, ready; it is stopped after the test.
    Strict: a plugin that fails to start raises ``PluginLoadError`` at once (``strict=False`` opts out).
``om_plugin_config``
    the plugin settings tables every ``om_host`` of a test starts from (``{}``); override the fixture in a
    ``conftest.py`` or module for defaults; the ``om_config`` marker changes them for one test or class, and
    ``config=`` for one host (each level replaces single settings of a table, not the whole table); the same
    layers apply to ``om_fake`` (its plugin's table).
``om_health``
    a :class:`HealthProbe` on ``om_client``: ``assert_ok(name)``, ``assert_error(name, message=...)``,
    ``wait(name)``, ``metric_value(name, metric_id, labels)``, ``check(name, check_id)``.
``om_migrations``
    a factory: ``om_migrations(folder, metadata=Base.metadata, database_url=None)`` is a
    :class:`MigrationTester` of a plugin's revisions on a fresh SQLite file (or, with ``database_url``, a
    fresh PostgreSQL schema), closed (the schema dropped) after the test.
``om_host_process``
    a factory: ``om_host_process("hello", config={...}, **host_settings)`` runs the real ``openmodule-host``
    command on the private broker and returns its :class:`HostProcess` once ready (``ready_timeout``);
    ``assert_clean_shutdown()`` sends SIGTERM and checks exit status 0 in time. Killed after the test.
``om_bad_neighbour``
    a factory: ``om_bad_neighbour(name="bad_neighbour", isolation="thread")`` is a :class:`NeighbourControl`:
    start ``.spec`` (with ``.config``) beside your plugin in ``om_host``, then ``.inject("hang")``. Every
    injected hang ends before the hosts stop (:func:`release_hangs`).
``om_settings``
    the garage's settings service on that broker (:class:`SettingsMock`): ``om_settings.set(key, value)``
    serves a value and announces the change; a plugin's ``SettingsProvider`` reads from it.
``om_fake``
    a factory: ``om_fake("om_welcome", config={...})`` starts one plugin on a :class:`FakeCore` (in memory,
    no broker) and returns it; it is closed after the test. Its plugin's settings table is layered as
    ``om_host``'s: ``om_plugin_config``, the ``om_config`` markers, then ``config=``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pytest
import zmq
from sqlalchemy import MetaData

from ..config import HostConfig
from ..host import Host
from ..states import PluginState
from .client import TestClient
from .fake_core import FakeCore, fake_plugin_name
from .faults import NeighbourControl, release_hangs
from .harness import PrivateBroker, start_host, wait_broker_subscribed
from .health import HealthProbe
from .migrations import MigrationTester
from .process import HostProcess, start_host_process
from .settings import SettingsMock

PluginTables = dict[str, dict[str, Any]]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "om_config(tables=None, **by_name): plugin settings for om_host and om_fake in this test, e.g. "
        "om_config(my_plugin={'prefix': '!!'}) or om_config({'my-plugin': {...}})")


def merge_tables(*layers: Mapping[str, Mapping[str, Any]]) -> PluginTables:
    """Plugin settings tables layered left to right: a later layer replaces single settings of a table."""
    merged: PluginTables = {}
    for layer in layers:
        for name, table in layer.items():
            merged[name] = {**merged.get(name, {}), **table}
    return merged


def _marked_tables(request: pytest.FixtureRequest) -> list[Mapping[str, Mapping[str, Any]]]:
    """The ``om_config`` markers' tables, the farthest (module, class) first, the test's own last."""
    layers: list[Mapping[str, Mapping[str, Any]]] = []
    for marker in reversed(list(request.node.iter_markers("om_config"))):
        for positional in marker.args:
            if not isinstance(positional, Mapping):
                raise TypeError(f"om_config takes a mapping of plugin name to settings, got {positional!r}")
            layers.append(positional)
        layers.append(marker.kwargs)
    return layers


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
def om_plugin_config() -> PluginTables:
    return {}


@pytest.fixture
def om_health(om_client: TestClient) -> HealthProbe:
    return HealthProbe(om_client)


@pytest.fixture
def om_migrations(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., MigrationTester]]:
    testers: list[MigrationTester] = []

    def factory(migrations: str | os.PathLike[str], *, metadata: MetaData | None = None,
                database_url: str | None = None) -> MigrationTester:
        if database_url is not None:
            tester = MigrationTester.postgresql(migrations, database_url, metadata=metadata)
        else:
            tester = MigrationTester.sqlite(migrations, tmp_path_factory.mktemp("migrations"), metadata=metadata)
        testers.append(tester)
        return tester

    yield factory
    for tester in testers:
        tester.close()


@pytest.fixture
def om_host_process(om_broker: PrivateBroker, request: pytest.FixtureRequest) -> Iterator[Callable[..., HostProcess]]:
    processes: list[HostProcess] = []

    def factory(*plugins: str, ready_timeout: float = 60.0, **kwargs: Any) -> HostProcess:
        process = start_host_process(om_broker, plugins, **kwargs)
        processes.append(process)
        process.wait_ready(ready_timeout)
        if "om_client" in request.fixturenames:
            client: TestClient = request.getfixturevalue("om_client")
            client.sync()
            if kwargs.get("host_pong", True):
                client.sync_with(str(kwargs.get("name", HostConfig.model_fields["name"].default)))
        return process

    yield factory
    for process in processes:
        process.close()


@pytest.fixture
def om_bad_neighbour(om_client: TestClient) -> Callable[..., NeighbourControl]:
    def factory(name: str = "bad_neighbour", isolation: str = "thread") -> NeighbourControl:
        return NeighbourControl(om_client, name, isolation)

    return factory


@pytest.fixture
def om_host(
    om_broker: PrivateBroker, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
    om_plugin_config: PluginTables,
) -> Iterator[Callable[..., Host]]:
    hosts: list[Host] = []
    tables = merge_tables(om_plugin_config, *_marked_tables(request))

    def factory(*plugins: Any, **kwargs: Any) -> Host:
        kwargs["config"] = merge_tables(tables, kwargs.get("config") or {})
        kwargs.setdefault("data_dir", str(tmp_path_factory.mktemp("data")))
        kwargs.setdefault("dsgvo", False)
        host = start_host(om_broker, plugins, **kwargs)
        hosts.append(host)
        if "om_client" in request.fixturenames:
            # the host subscribes on its intake thread, a moment after its plugins registered, and the
            # subscriptions travel to the broker, then on to the client's PUB (which connected before): wait for
            # both, so that a message the test publishes at once is not dropped for a subscription on its way
            wait_broker_subscribed(host)
            client: TestClient = request.getfixturevalue("om_client")
            # a plugin in a child process subscribes on the child's own socket, after the child said it runs:
            # once the child answers a ping (it subscribes ``healthz`` after its plugin's topics), the broker
            # has all of them, and the sync below brings them to this client's PUB
            for plugin in host.plugins.values():
                if plugin.process is not None and plugin.state is PluginState.RUNNING:
                    client.sync_with(plugin.process_name)
            client.sync()
        return host

    yield factory
    release_hangs()  # a plugin hung by an injected fault must not hold its host's stop
    for host in reversed(hosts):
        host.stop()


@pytest.fixture
def om_fake(request: pytest.FixtureRequest, om_plugin_config: PluginTables) -> Iterator[Callable[..., FakeCore]]:
    fakes: list[FakeCore] = []
    tables = merge_tables(om_plugin_config, *_marked_tables(request))

    def factory(plugin: Any, **kwargs: Any) -> FakeCore:
        name = fake_plugin_name(plugin, kwargs.get("name"))
        kwargs["config"] = merge_tables(tables, {name: kwargs.get("config") or {}}).get(name, {})
        fake = FakeCore(plugin, **kwargs)
        fakes.append(fake)
        return fake

    yield factory
    for fake in reversed(fakes):
        fake.close()
