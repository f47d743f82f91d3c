import pytest

from openmodule_host.testing import PrivateBroker, free_tcp_address


@pytest.fixture
def broker_env() -> dict[str, str]:
    """Free loopback addresses for a host (or service) that brings its own embedded broker."""
    return {"BROKER_SUB": free_tcp_address(), "BROKER_PUB": free_tcp_address()}


@pytest.fixture
def standalone_broker():
    broker = PrivateBroker()
    yield broker
    broker.close()
