"""Test support for plugin authors: a private broker, a test client, a host with chosen plugins, and the
fake core (one plugin on an in-memory transport, no broker) with openmodule-test's unittest mixins.

Installed as a pytest plugin (fixtures ``om_broker``, ``om_client``, ``om_host``, ``om_settings``); the classes work
without pytest too.
"""

from .client import TestClient
from .fake_core import FakeCore
from .harness import PrivateBroker, free_tcp_address, start_host
from .helpers import MockEvent, TestGate, wait_for_value
from .io import IoSimulator, SignalSimulator, UnknownSignalError, generate_example_states
from .kv_cloud import KVSyncCloud
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
from .sentry import SentryTestTransport
from .settings import SettingsMock, SettingsMocker, SettingsRequest
from .vehicles import VehicleBuilder, VehicleSimulator

__all__ = [
    "AlertTestMixin",
    "FakeCore",
    "FakeTestClient",
    "HealthTestMixin",
    "IoSimulator",
    "KVSyncCloud",
    "MockEvent",
    "MockRPCClient",
    "MockRPCEntry",
    "OpenModuleCoreTestMixin",
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
    "free_tcp_address",
    "generate_example_states",
    "start_host",
    "wait_for_value",
]
