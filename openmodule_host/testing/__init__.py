"""Test support for plugin authors: a private broker, a test client, a host with chosen plugins.

Installed as a pytest plugin (fixtures ``om_broker``, ``om_client``, ``om_host``); the classes work
without pytest too.
"""

from .client import TestClient
from .faults import BadNeighbour, FailingService, NeighbourControl, database_outage, release_hangs
from .harness import PrivateBroker, free_tcp_address, start_host
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
from .migrations import MigrationTester, truncate_all_tables
from .presence import PresenceSimulator
from .process import HostProcess, start_host_process
from .sentry import SentryTestTransport
from .vehicles import VehicleBuilder, VehicleSimulator

__all__ = [
    "BadNeighbour",
    "FailingService",
    "HealthProbe",
    "HostProcess",
    "MigrationTester",
    "MockEvent",
    "NeighbourControl",
    "PongSource",
    "PresenceSimulator",
    "PrivateBroker",
    "SentryTestTransport",
    "TestClient",
    "TestGate",
    "VehicleBuilder",
    "VehicleSimulator",
    "assert_health_error",
    "assert_health_ok",
    "database_outage",
    "find_check",
    "find_metric",
    "free_tcp_address",
    "metric_value",
    "release_hangs",
    "start_host",
    "start_host_process",
    "truncate_all_tables",
    "wait_for_health",
    "wait_for_value",
]
