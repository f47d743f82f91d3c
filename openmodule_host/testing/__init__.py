"""Test support for plugin authors: a private broker, a test client, a host with chosen plugins, and the
fake core (one plugin on an in-memory transport, no broker) with openmodule-test's unittest mixins.

Installed as a pytest plugin (fixtures ``om_broker``, ``om_client``, ``om_host``, ``om_plugin_config``,
``om_settings``, ``om_fake``, ``om_health``, ``om_migrations``, ``om_host_process``, ``om_bad_neighbour``;
docs/testing.md); the classes work without pytest too.
"""

from .client import TestClient
from .fake_core import FakeCore
from .faults import BadNeighbour, FailingService, NeighbourControl, database_outage, release_hangs
from .harness import PrivateBroker, free_tcp_address, start_host, wait_broker_subscribed
from .health import (
    HealthProbe,
    PongSource,
    assert_health_error,
    assert_health_ok,
    find_check,
    find_metric,
    metric_value,
    wait_for_health,
)
from .helpers import MockEvent, TestGate, wait_for_value
from .io import IoSimulator, SignalSimulator, UnknownSignalError, generate_example_states
from .kv_cloud import KVSyncCloud
from .migrations import MigrationTester, truncate_all_tables
from .mixins import (
    AlertTestMixin,
    FakeTestClient,
    HealthTestMixin,
    OpenModuleCoreTestMixin,
    RPCServerTestMixin,
    ZMQTestMixin,
)
from .mock_rpc import MockRPCClient, MockRPCEntry
from .presence import PresenceSimulator
from .process import HostProcess, start_host_process
from .sentry import SentryTestTransport
from .settings import SettingsMock, SettingsMocker, SettingsRequest
from .vehicles import VehicleBuilder, VehicleSimulator

__all__ = [
    "AlertTestMixin",
    "BadNeighbour",
    "FailingService",
    "FakeCore",
    "FakeTestClient",
    "HealthProbe",
    "HealthTestMixin",
    "HostProcess",
    "IoSimulator",
    "KVSyncCloud",
    "MigrationTester",
    "MockEvent",
    "MockRPCClient",
    "MockRPCEntry",
    "NeighbourControl",
    "OpenModuleCoreTestMixin",
    "PongSource",
    "PresenceSimulator",
    "PrivateBroker",
    "RPCServerTestMixin",
    "SentryTestTransport",
    "SettingsMock",
    "SettingsMocker",
    "SettingsRequest",
    "SignalSimulator",
    "TestClient",
    "TestGate",
    "UnknownSignalError",
    "VehicleBuilder",
    "VehicleSimulator",
    "ZMQTestMixin",
    "assert_health_error",
    "assert_health_ok",
    "database_outage",
    "find_check",
    "find_metric",
    "free_tcp_address",
    "generate_example_states",
    "metric_value",
    "release_hangs",
    "start_host",
    "start_host_process",
    "truncate_all_tables",
    "wait_broker_subscribed",
    "wait_for_health",
    "wait_for_value",
]
