"""``ISOLATION = "process"``: a plugin in a supervised child process; its crash never stops the others."""

from __future__ import annotations

import os
import signal
import time

import pytest

from openmodule_host import ConfigError
from openmodule_host.host import Host
from openmodule_host.states import PluginState
from openmodule_host.testing import TestClient
from tests.support import HostProcess, eventually
from tests.support.children import child_pid, restarted_child
from tests.support.rpc_plugins import Lookup

CRASHER = "tests.support.process_plugins:crasher"
IN_PROCESS = {"ISOLATION": "process", "NAME": "om_crasher_1"}


def restarted(client: TestClient, host: Host, other_than: int) -> int:
    """The pid of the crasher's new child, once it answers."""
    return restarted_child(client, host.plugins["crasher"].process, IN_PROCESS["NAME"], other_than)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture
def garage(om_host, om_client):
    host = om_host(("crasher", CRASHER), ("lookup", Lookup()),
                   config={"crasher": IN_PROCESS, "lookup": {"NAME": "om_lookup_1"}}, restart_backoff=0.05)
    return host


def test_the_plugin_runs_in_a_child_process_and_serves_as_in_a_thread(garage, om_client):
    pid = child_pid(om_client)
    assert pid != os.getpid() and alive(pid)
    assert garage.plugins["crasher"].process.pid == pid
    assert garage.plugins["crasher"].describe() == f"plugin crasher 0.0.0 running NAME=om_crasher_1 in process {pid}"
    reply = om_client.rpc("crasher", "pid", {})
    assert reply["name"] == "om_crasher_1"


@pytest.mark.parametrize("how", ["segfault", "exit"])
def test_a_crash_stops_only_that_plugin_and_it_is_restarted(garage, om_client, how):
    first = child_pid(om_client)

    om_client.publish("crash", {"type": "crash", "how": how})
    eventually(lambda: not alive(first))

    # the plugin in the host's own thread never noticed
    assert om_client.rpc("plates", "lookup", {"plate": "GARIVO1"})["response"]["known"] is True
    restarted(om_client, garage, first)
    process = garage.plugins["crasher"].process
    # (the child answers as soon as its plugin runs; its parent marks it running once it said so)
    eventually(lambda: process.state is PluginState.RUNNING)
    assert process.restarts == 1
    eventually(lambda: garage.statuses()[0].state == "running")


def test_while_it_restarts_it_shows_degraded_in_health_and_alerts(om_host, om_client):
    host = om_host(("crasher", CRASHER), config={"crasher": IN_PROCESS}, restart_backoff=3.0)
    om_client.subscribe("alert")
    first = child_pid(om_client)

    os.kill(first, signal.SIGKILL)

    eventually(lambda: host.plugins["crasher"].process.state is PluginState.RESTARTING)
    [status] = host.statuses()
    assert (status.state, status.message) == ("degraded", "its process killed by SIGKILL; restarting in 3 s")
    alert = om_client.wait_for_message("alert", lambda body: body["status"] == "error")
    assert (alert["alert_type"], alert["source"]) == ("plugin_state", "crasher")
    assert alert["alert_meta"]["state"] == "degraded"
    pong = om_client.get_health(host.config.name)
    assert pong["pong"]["status"] == "error"
    assert "restarting" in pong["pong"]["message"]


def test_the_host_counts_restarts_and_the_child_answers_its_plugins_health_pings(garage, om_client):
    first = child_pid(om_client)
    os.kill(first, signal.SIGKILL)
    restarted(om_client, garage, first)

    metrics = {metric["id"]: metric for metric in om_client.get_health(garage.config.name)["metrics"]}
    restarts = metrics["plugin_restarts"]["values"]
    assert restarts['{"compute_id":"1","plugin":"crasher"}'] == 1
    assert restarts['{"compute_id":"1","plugin":"lookup"}'] == 0
    pong = om_client.get_health("om_crasher_1")  # from the new child, which answers the pings itself
    assert (pong["pong"]["status"], pong["pong"]["version"]) == ("ok", "0.0.0")


def test_a_crash_loop_quarantines_the_plugin_and_the_host_goes_on(om_host, om_client):
    host = om_host(("crasher", CRASHER), ("lookup", Lookup()), config={"crasher": IN_PROCESS},
                   restart_backoff=0.05, crash_loop_crashes=2, crash_loop_window=60)
    first = child_pid(om_client)
    os.kill(first, signal.SIGKILL)
    os.kill(restarted(om_client, host, first), signal.SIGKILL)

    plugin = host.plugins["crasher"]
    eventually(lambda: plugin.process.state is PluginState.QUARANTINED)
    assert plugin.state.value == "failed"
    assert plugin.reason == "its process killed by SIGKILL; 2 crashes within 60 s: quarantined, not restarted"
    supervisor = plugin.process._supervisor
    assert supervisor is not None
    supervisor.join(10)  # it ends after the quarantine: nothing restarts the plugin any more
    assert not supervisor.is_alive()
    assert plugin.process.pid is None and plugin.process.restarts == 1
    assert om_client.rpc("plates", "lookup", {"plate": "GARIVO1"})["response"]["known"] is True


def test_once_its_process_shows_a_state_the_host_shows_it_too(om_host, om_client):
    """The host takes a change of the child's state (the plugin's state and reason, the alert) before the
    process shows it: a test or a health check that sees the process quarantined sees the plugin failed."""
    host = om_host(("crasher", CRASHER), config={"crasher": IN_PROCESS}, crash_loop_crashes=1)
    plugin = host.plugins["crasher"]
    takes_its_time = plugin.process._on_change

    def slow_host(state: PluginState, reason: str) -> None:  # (a loaded machine, widened)
        time.sleep(0.5)
        takes_its_time(state, reason)

    plugin.process._on_change = slow_host
    os.kill(child_pid(om_client), signal.SIGKILL)
    eventually(lambda: plugin.process.state is PluginState.QUARANTINED)
    assert (plugin.state.value, plugin.reason) == (
        "failed", "its process killed by SIGKILL; 1 crashes within 300 s: quarantined, not restarted")


def test_a_plugin_that_fails_to_start_in_its_process_fails_with_the_childs_reason(om_host):
    host = om_host(("broken", "tests.support.process_plugins:broken_at_start"), ("lookup", Lookup()), strict=False,
                   config={"broken": {"ISOLATION": "process"}})
    plugin = host.plugins["broken"]
    assert plugin.state.value == "failed"
    assert "exited with status 1" in plugin.reason and "no licence file" in plugin.reason
    assert host.plugins["lookup"].state.value == "running"


def test_an_object_of_this_process_cannot_run_in_a_child(om_host):
    host = om_host(("lookup", Lookup()), config={"lookup": {"ISOLATION": "process"}}, strict=False)
    assert "only when installed or given as an import path" in host.plugins["lookup"].reason


def test_a_wrong_isolation_value_stops_the_start(om_host):
    with pytest.raises(ConfigError, match=r"\[plugins.lookup\] ISOLATION: Input should be 'thread' or 'process'"):
        om_host(("lookup", Lookup()), config={"lookup": {"ISOLATION": "fork"}})


def test_stop_ends_the_child_even_when_its_shutdown_hook_hangs(om_host, om_client):
    host = om_host(("crasher", "tests.support.process_plugins:slow_to_stop"), config={"crasher": IN_PROCESS},
                   shutdown_timeout=0.5, drain_timeout=0.2)
    pid = child_pid(om_client)
    started = time.monotonic()
    host.stop()
    assert time.monotonic() - started < 10
    assert not alive(pid)
    assert host.plugins["crasher"].process.state is PluginState.STOPPED


def test_the_children_stop_when_the_host_is_killed(broker_env):
    with HostProcess(["--plugins", "hello,backend_x", "--isolation", "process"], env=broker_env) as parent:
        pids = []
        for plugin in ("backend_x", "hello"):
            line = parent.wait_for_line(f"plugin {plugin}")
            pids.append(int(line.rsplit(" ", 1)[1]))
            assert line == f"plugin {plugin} 0.1.0 running in process {pids[-1]}"
        assert all(alive(pid) for pid in pids)
        parent.proc.send_signal(signal.SIGKILL)
        eventually(lambda: not any(alive(pid) for pid in pids), timeout=10)


def test_the_host_config_sets_every_plugins_isolation(om_host, om_client):
    host = om_host(("crasher", CRASHER), config={"crasher": {"NAME": "om_crasher_1"}}, isolation="process")
    assert host.plugins["crasher"].process is not None
    assert child_pid(om_client) != os.getpid()
