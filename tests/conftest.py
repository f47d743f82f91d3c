import subprocess
import sys
from pathlib import Path

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


FIXTURE_PLUGINS = Path(__file__).parent / "support" / "fixtures" / "plugins"


@pytest.fixture(scope="session")
def test_plugins_env(tmp_path_factory) -> dict[str, str]:
    """The fixture plugin distributions (tests/support/fixtures/plugins), really installed with pip into a
    private target folder; the returned env puts that folder on a subprocess's path."""
    target = tmp_path_factory.mktemp("site")
    result = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-deps",
         "--no-build-isolation", "--target", str(target), *sorted(str(path) for path in FIXTURE_PLUGINS.iterdir())],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    return {"PYTHONPATH": str(target)}


def _backend(kind, tmp_path):
    from tests.support.databases import Backend

    chosen = Backend(kind, tmp_path / "data")
    yield chosen
    chosen.cleanup()


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request, tmp_path):
    """Each database test runs against real SQLite files and against the real PostgreSQL server."""
    yield from _backend(request.param, tmp_path)


@pytest.fixture
def sqlite_backend(tmp_path):
    yield from _backend("sqlite", tmp_path)


@pytest.fixture
def postgres_backend(tmp_path):
    yield from _backend("postgresql", tmp_path)
