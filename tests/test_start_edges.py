"""The host at the edges of its start, through the real ``openmodule-host`` command.

A SIGTERM or SIGINT in each stage of the start (waiting for an external broker, a slow ``register_handlers``,
a slow migration) stops the host within its stop bounds with exit 0 and no ``ready``; an external broker that
is not there is waited for visibly, before any plugin starts; an ``--http`` address in use stops the host
before any plugin starts or migrates.
"""

import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import zmq

from openmodule_host.testing import free_tcp_address
from openmodule_host.wire import Broker
from tests.support import HostProcess, eventually, run_cli

#: what a test allows for the stop of a host without queued work or hung hooks: its threads' stages of the
#: documented stop bounds (watchdog, HTTP, intake, scheduler, health <= 2 s each, RPC sweeper and broker <= 1 s
#: each, workers <= 0.2 s per plugin; ``openmodule_host.host.stop_bound``), with slack for a loaded machine.
#: A start that ignored the signal would take minutes (timeouts of 600 s below).
STOP_BOUND = 20

PLUGINS = {
    "echo": '''
from openmodule_hookspecs import hookimpl


@hookimpl
def register_handlers(core):
    pass
''',
    "named_module": '''
from openmodule_hookspecs import hookimpl

NAME = "om_legacy_1"  # openmodule's settings habit: the host does not read it


@hookimpl
def register_handlers(core):
    pass
''',
    "slow_register": '''
import os
import pathlib
import threading

from openmodule_hookspecs import hookimpl


@hookimpl
def register_handlers(core):
    pathlib.Path(os.environ["OMH_MARKS"], "register").write_text("entered")
    threading.Event().wait()
''',
    "slow_migration": '''
import pathlib

from openmodule_hookspecs import hookimpl


@hookimpl
def database_migrations():
    return str(pathlib.Path(__file__).with_name("versions"))


@hookimpl
def register_handlers(core):
    pass
''',
}

SLOW_REVISION = '''"""takes ten minutes

Revision ID: 0001_slow
Revises:
"""
import os
import pathlib
import time

revision = "0001_slow"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    pathlib.Path(os.environ["OMH_MARKS"], "migration").write_text("entered")
    time.sleep(600)


def downgrade() -> None:
    pass
'''


@pytest.fixture(scope="module")
def edge_site(tmp_path_factory) -> Path:
    """A folder with one package per plugin and a distribution that names them as entry points."""
    site = tmp_path_factory.mktemp("edge-site")
    for name, code in PLUGINS.items():
        package = site / f"omh_edge_{name}"
        package.mkdir()
        (package / "__init__.py").write_text("")
        (package / "plugin.py").write_text(code)
    (site / "omh_edge_slow_migration" / "versions").mkdir()
    (site / "omh_edge_slow_migration" / "versions" / "0001_slow.py").write_text(SLOW_REVISION)
    dist_info = site / "omh_edge_test-1.0.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: omh-edge-test\nVersion: 1.0\n")
    (dist_info / "entry_points.txt").write_text(
        "[openmodule.plugins]\n" + "".join(f"{name} = omh_edge_{name}.plugin\n" for name in PLUGINS))
    (site / "host.toml").write_text("[host]\nstart_timeout = 600\nmigration_timeout = 600\nconnect_timeout = 600\n")
    return site


@pytest.fixture
def edge_env(edge_site, broker_env, tmp_path) -> dict[str, str]:
    """The site on the path, free broker addresses, and a folder where the slow plugins mark their stage."""
    (tmp_path / "marks").mkdir()
    return {"PYTHONPATH": str(edge_site), "OMH_MARKS": str(tmp_path / "marks"), **broker_env}


def start(env: dict[str, str], plugins: str, *extra: str) -> HostProcess:
    return HostProcess(["--plugins", plugins, "--config", f"{env['PYTHONPATH']}/host.toml", *extra], env=env)


def stops_at_once(host: HostProcess, sig: int) -> None:
    """``sig`` ends the host with exit 0 within the stop bound, and it never said ``ready``."""
    assert host.proc.poll() is None, "\n".join(host.stderr)
    started = time.monotonic()
    assert host.stop(sig, timeout=STOP_BOUND + 30) == 0, "\n".join(host.stderr)
    took = time.monotonic() - started
    assert took < STOP_BOUND, took
    assert not any(line.startswith("ready") for line in host.stdout), host.stdout


@pytest.fixture
def no_broker(edge_env) -> Iterator[dict[str, str]]:
    """Addresses where no broker runs (nothing listens there)."""
    yield {**edge_env, "BROKER_SUB": free_tcp_address(), "BROKER_PUB": free_tcp_address()}


# -- a signal in each stage of the start --------------------------------------------------------------------


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_while_waiting_for_an_external_broker_stops_the_host_at_once(no_broker, sig):
    with start(no_broker, "echo", "--broker", "external") as host:
        eventually(lambda: any("waiting for the broker" in line for line in host.stderr), timeout=30)
        stops_at_once(host, sig)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_during_a_slow_register_handlers_stops_the_host_at_once(edge_env, sig):
    with start(edge_env, "echo,slow_register") as host:
        eventually(lambda: (Path(edge_env["OMH_MARKS"]) / "register").exists(), timeout=60)
        stops_at_once(host, sig)
    assert any("stop requested while waiting for register_handlers" in line for line in host.stderr), host.stderr


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_during_a_slow_migration_stops_the_host_at_once_and_kills_the_migration(edge_env, sig):
    with start(edge_env, "echo,slow_migration") as host:
        eventually(lambda: (Path(edge_env["OMH_MARKS"]) / "migration").exists(), timeout=60)
        stops_at_once(host, sig)
    assert any("stop requested during database migrations" in line for line in host.stderr), host.stderr


# -- an external broker that is not there (yet) ----------------------------------------------------------------


def test_the_host_says_at_once_what_broker_it_waits_for_and_that_it_still_waits(no_broker):
    sub, pub = no_broker["BROKER_SUB"], no_broker["BROKER_PUB"]
    with start(no_broker, "echo", "--broker", "external") as host:
        eventually(lambda: any("waiting for the broker" in line for line in host.stderr), timeout=30)
        waiting = next(line for line in host.stderr if "waiting for the broker" in line)
        assert f"XSUB {sub}, XPUB {pub}" in waiting and "up to 600 s" in waiting
        eventually(lambda: any("still waiting for the broker" in line for line in host.stderr), timeout=30)
        still = next(line for line in host.stderr if "still waiting for the broker" in line)
        assert f"XSUB {sub}, XPUB {pub}" in still and "of 600 s; is it running?" in still
        # no plugin has started, let alone been reported running
        assert host.stdout == []
        assert not any("plugin echo running" in line for line in host.stderr), host.stderr
        stops_at_once(host, signal.SIGTERM)


def test_plugins_start_once_the_external_broker_comes(no_broker):
    with start(no_broker, "echo", "--broker", "external") as host:
        eventually(lambda: any("waiting for the broker" in line for line in host.stderr), timeout=30)
        context = zmq.Context()
        broker = Broker(context, no_broker["BROKER_SUB"], no_broker["BROKER_PUB"])
        broker.start()
        try:
            assert host.wait_for_line("plugin echo ", timeout=60) == "plugin echo 1.0 running topics=-"
            assert host.wait_ready() == "ready: 1 running, 0 failed"
            assert host.stop(signal.SIGTERM, timeout=STOP_BOUND + 30) == 0
        finally:
            broker.stop()
            context.destroy(linger=0)


# -- checks that need no plugin come before any plugin starts ------------------------------------------------------


def test_an_http_address_in_use_stops_the_host_before_any_plugin_starts_or_migrates(edge_env):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        result = run_cli("--plugins", "echo,slow_migration,slow_register", "--config",
                         f"{edge_env['PYTHONPATH']}/host.toml", "--http", f"127.0.0.1:{port}", env=edge_env,
                         timeout=120)
    assert result.returncode == 2, result.stderr
    assert f"cannot serve HTTP on 127.0.0.1:{port}: Address already in use" in result.stderr
    assert "plugin " not in result.stdout and "running as" not in result.stderr
    assert list(Path(edge_env["OMH_MARKS"]).iterdir()) == []  # neither the migration nor register_handlers ran


def test_two_plugins_with_one_name_stop_the_host_before_either_migrates(edge_env, tmp_path):
    config = tmp_path / "host.toml"
    config.write_text("[host]\nstart_timeout = 600\n\n[plugins.slow_migration]\nNAME = \"om_same\"\n\n"
                      "[plugins.slow_register]\nNAME = \"om_same\"\n")
    result = run_cli("--plugins", "slow_migration,slow_register", "--config", str(config), env=edge_env, timeout=120)
    assert result.returncode == 2, result.stderr
    assert "plugins 'slow_migration' and 'slow_register' both use NAME='om_same'" in result.stderr
    assert list(Path(edge_env["OMH_MARKS"]).iterdir()) == []


# -- openmodule habits that do nothing in a plugin -------------------------------------------------------------


def test_a_module_level_name_is_warned_about_with_the_way_to_set_it(edge_env):
    with start(edge_env, "named_module") as host:
        # the plugin runs under its plugin name, not the module's NAME
        assert host.wait_for_line("plugin named_module ") == "plugin named_module 1.0 running topics=-"
        host.wait_ready()
        assert host.stop() == 0
    warning = next(line for line in host.stderr if "at module level" in line)
    assert ("plugin named_module: omh_edge_named_module.plugin sets NAME = 'om_legacy_1' at module level, which the "
            "host does not read; set NAME in [plugins.named_module] of the config file or the environment variable "
            "NAMED_MODULE__NAME (default: the plugin's name, 'named_module')") in warning
