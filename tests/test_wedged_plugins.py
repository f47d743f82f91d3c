"""No plugin can wedge the host's start or stop: imports that hang or spin, health hooks that never return.

Through the real ``openmodule-host`` command: the plugins are real distributions (entry points read from a
``.dist-info`` folder on the subprocess's path), each failing in its own way.
"""

import json
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import zmq
from openmodule_hookspecs import hookimpl

from openmodule_host import Host, HostConfig, PluginCandidate
from openmodule_host.testing import TestClient, free_tcp_address
from tests.support import HostProcess, eventually, run_cli

#: the seconds the tests give an import (the host's start_timeout); short, so that the tests are.
START_TIMEOUT = 2
#: what a test allows for a SIGTERM to end the process of a host without queued work: what its stop takes
#: when no stage runs into its bound (``openmodule_host.host.stop_bound`` sums the bounds), and slack for a
#: loaded machine.
STOP_BOUND = 6

PLUGINS = {
    "echo": '''
from openmodule_hookspecs import ZMQMessage, hookimpl


class Echo(ZMQMessage):
    type: str = "echo"
    text: str


@hookimpl
def register_handlers(core):
    core.messages.register_handler("echo", Echo, lambda message: core.publish(Echo(text=message.text), "echo_reply"))
''',
    "hang_import": '''
import threading

threading.Event().wait()  # an import that never finishes (say, a connection without a timeout)
''',
    "spin_import": '''
while True:  # an import that never finishes and holds the GIL as much as it can
    pass
''',
    "hang_health": '''
import threading

from openmodule_hookspecs import hookimpl


@hookimpl
def health(core):
    threading.Event().wait()
''',
    "spin_health": '''
from openmodule_hookspecs import hookimpl


@hookimpl
def health(core):
    while True:
        pass
''',
    "hang_config_model": '''
import threading

from openmodule_hookspecs import hookimpl


@hookimpl
def config_model():
    threading.Event().wait()
''',
}


@pytest.fixture(scope="module")
def wedge_site(tmp_path_factory) -> str:
    """A folder with one package per plugin and a distribution that names them as entry points."""
    site = tmp_path_factory.mktemp("wedge-site")
    for name, code in PLUGINS.items():
        package = site / f"omh_wedge_{name}"
        package.mkdir()
        (package / "__init__.py").write_text("")
        (package / "plugin.py").write_text(code)
    dist_info = site / "omh_wedge_test-1.0.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: omh-wedge-test\nVersion: 1.0\n")
    (dist_info / "entry_points.txt").write_text(
        "[openmodule.plugins]\n" + "".join(f"{name} = omh_wedge_{name}.plugin\n" for name in PLUGINS)
    )
    (site / "host.toml").write_text(f"[host]\nstart_timeout = {START_TIMEOUT}\nhealth_timeout = 0.5\n")
    return str(site)


@pytest.fixture
def wedge_env(wedge_site, broker_env) -> dict[str, str]:
    return {"PYTHONPATH": wedge_site, **broker_env}


def host_args(env, plugins, *extra):
    return ["--plugins", ",".join(plugins), "--config", f"{env['PYTHONPATH']}/host.toml", *extra]


@contextmanager
def client_of(env) -> Iterator[TestClient]:
    context = zmq.Context()
    client = TestClient(context, env["BROKER_SUB"], env["BROKER_PUB"])
    try:
        yield client
    finally:
        client.close()
        context.destroy(linger=0)


def echo_answers(env) -> None:
    with client_of(env) as client:
        client.subscribe("echo_reply")
        client.publish("echo", {"type": "echo", "text": "still here"})
        assert client.wait_for_message("echo_reply")["text"] == "still here"


def stopped_within(host, bound, sig=signal.SIGTERM) -> float:
    started = time.monotonic()
    assert host.stop(sig, timeout=bound + 10) == 0, "\n".join(host.stderr)
    took = time.monotonic() - started
    assert took < bound, took
    return took


# -- imports that hang or spin ----------------------------------------------------------------------------


@pytest.mark.parametrize("wedged", ["hang_import", "spin_import"])
def test_an_import_that_never_finishes_fails_that_plugin_and_the_host_runs_the_others(wedge_env, wedged):
    env = wedge_env
    started = time.monotonic()
    with HostProcess(host_args(env, ["echo", wedged]), env=env) as host:
        assert host.wait_for_line("plugin echo ", timeout=START_TIMEOUT + 20) == "plugin echo 1.0 running topics=echo"
        assert host.wait_for_line(f"plugin {wedged} ") == (
            f"plugin {wedged} 1.0 failed: import of omh_wedge_{wedged}.plugin did not finish within {START_TIMEOUT} s")
        assert host.wait_ready() == "ready: 1 running, 1 failed"
        assert time.monotonic() - started < START_TIMEOUT + 15
        echo_answers(env)
        stopped_within(host, STOP_BOUND)


def test_a_later_plugin_waiting_for_the_hung_imports_module_is_bounded_too(wedge_env, tmp_path):
    """Python's import lock: a second import of the module the hung import holds waits for it, and fails."""
    env = wedge_env
    config = tmp_path / "host.toml"
    # the same module under a second plugin name: its import waits on the first one's module lock
    (tmp_path / "omh_wedge_twice-1.0.dist-info").mkdir()
    (tmp_path / "omh_wedge_twice-1.0.dist-info" / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: omh-wedge-twice\nVersion: 1.0\n")
    (tmp_path / "omh_wedge_twice-1.0.dist-info" / "entry_points.txt").write_text(
        "[openmodule.plugins]\nhang_import_again = omh_wedge_hang_import.plugin\n")
    config.write_text(f"[host]\nstart_timeout = {START_TIMEOUT}\n")
    env = {**env, "PYTHONPATH": f"{wedge_env['PYTHONPATH']}:{tmp_path}"}
    with HostProcess(["--plugins", "echo,hang_import,hang_import_again", "--config", str(config)], env=env) as host:
        for name in ("hang_import", "hang_import_again"):
            assert host.wait_for_line(f"plugin {name} ", timeout=2 * START_TIMEOUT + 20).endswith(
                f"failed: import of omh_wedge_hang_import.plugin did not finish within {START_TIMEOUT} s")
        assert host.wait_ready() == "ready: 1 running, 2 failed"
        stopped_within(host, STOP_BOUND)


def test_a_hook_at_start_that_never_returns_fails_that_plugin(wedge_env):
    env = wedge_env
    with HostProcess(host_args(env, ["echo", "hang_config_model"]), env=env) as host:
        assert host.wait_for_line("plugin hang_config_model ", timeout=START_TIMEOUT + 20) == (
            f"plugin hang_config_model 1.0 failed: config_model did not finish within {START_TIMEOUT} s")
        host.wait_ready()
        echo_answers(env)
        stopped_within(host, STOP_BOUND)


@pytest.mark.parametrize("wedged", ["hang_import", "spin_import"])
def test_strict_exits_1_naming_the_import_that_never_finished(wedge_env, wedged):
    env = wedge_env
    started = time.monotonic()
    result = run_cli(*host_args(env, ["echo", wedged], "--strict"), env=env, timeout=START_TIMEOUT + 30)
    assert result.returncode == 1, result.stderr
    assert (f"plugin '{wedged}' failed: import of omh_wedge_{wedged}.plugin did not finish within "
            f"{START_TIMEOUT} s (--strict)") in result.stderr
    assert time.monotonic() - started < START_TIMEOUT + 15


@pytest.mark.parametrize(("wedged", "sig"), [("hang_import", signal.SIGTERM), ("spin_import", signal.SIGINT)])
def test_a_signal_while_an_import_hangs_stops_the_host_at_once(wedge_env, tmp_path, wedged, sig):
    env = wedge_env
    config = tmp_path / "host.toml"
    config.write_text("[host]\nstart_timeout = 600\n")  # the import would be waited for 10 minutes
    with HostProcess(["--plugins", f"echo,{wedged}", "--config", str(config)], env=env) as host:
        # echo (first in name order) is running: the host is waiting for the import now
        eventually(lambda: any("plugin echo running" in line for line in host.stderr), timeout=30)
        time.sleep(0.5)
        assert host.proc.poll() is None
        stopped_within(host, STOP_BOUND, sig)
    assert not any(line.startswith("ready") for line in host.stdout)
    assert any("stop requested while waiting for import of" in line for line in host.stderr), host.stderr


# -- health hooks that never return ------------------------------------------------------------------------


@pytest.mark.parametrize("wedged", ["hang_health", "spin_health"])
def test_a_health_hook_that_never_returns_does_not_keep_the_process_alive(wedge_env, wedged):
    env = wedge_env
    with HostProcess(host_args(env, ["echo", wedged]), env=env) as host:
        host.wait_ready()
        with client_of(env) as client:
            first = client.get_health(wedged)
            second = client.get_health(wedged)
        assert first["pong"]["status"] == "error"
        assert first["pong"]["message"] == "the health hook did not return within 0.5 s"
        assert second["pong"]["message"] == "the health hook is still running since an earlier ping"
        echo_answers(env)
        stopped_within(host, STOP_BOUND)
    assert any("host stopped" in line for line in host.stderr)


def test_the_plugins_command_reports_an_import_that_never_finishes_and_lists_the_others(wedge_env):
    result = run_cli("plugins", "--json", "--import-timeout", "1", env=wedge_env, timeout=60)
    assert result.returncode == 1, result.stderr  # an entry with a problem
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    for wedged in ("hang_import", "spin_import"):
        assert rows[wedged]["problem"] == f"import of omh_wedge_{wedged}.plugin did not finish within 1 s"
    assert rows["echo"]["problem"] == "" and rows["echo"]["hookimpls"] == ["register_handlers"]


# -- a stop requested during start, in process ---------------------------------------------------------------


class HangingRegister:
    """register_handlers blocks until released."""

    def __init__(self) -> None:
        self.entered, self.release = threading.Event(), threading.Event()

    @hookimpl
    def register_handlers(self, core):
        self.entered.set()
        self.release.wait(60)


def make_host(sub, pub, tmp_path, plugins, lines, **settings):
    config = HostConfig(broker="external", broker_sub=sub, broker_pub=pub, data_dir=str(tmp_path), dsgvo=False,
                        **settings)
    return Host(config, [PluginCandidate.from_object(name, plugin) for name, plugin in plugins], report=lines.append)


def test_a_stop_requested_while_register_handlers_hangs_ends_the_start_at_once(om_broker, tmp_path):
    hanging, lines = HangingRegister(), []
    host = make_host(om_broker.sub_address, om_broker.pub_address, tmp_path, [("hanging", hanging)], lines,
                     start_timeout=60)
    threading.Thread(target=lambda: hanging.entered.wait(30) and host.request_stop(), daemon=True).start()
    started = time.monotonic()
    try:
        host.start()
        assert time.monotonic() - started < 5
        assert lines == [] and host.wait(0)  # never ready; the caller's wait returns at once
    finally:
        hanging.release.set()
        host.stop()


def test_a_stop_requested_during_the_broker_connection_check_ends_the_start_at_once(tmp_path):
    lines = []
    host = make_host(free_tcp_address(), free_tcp_address(), tmp_path, [], lines, connect_timeout=100)
    timer = threading.Timer(1.0, host.request_stop)
    timer.start()
    started = time.monotonic()
    host.start()  # no broker there: the check would go on for 100 s
    assert time.monotonic() - started < 5
    assert lines == []
