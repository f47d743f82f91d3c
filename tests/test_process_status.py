"""``ISOLATION = "process"``: the child reports its plugin's state and figures, and the host shows them as
it shows a thread plugin's (``/healthz``, the host's pong, the ``plugin_state`` alert, the metrics)."""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import time
import urllib.error
import urllib.request
from itertools import pairwise

import pytest
from prometheus_client.parser import text_string_to_metric_families

from openmodule_host.isolation import STATUS_INTERVAL, ChildReport, ChildStatus
from openmodule_host.isolation.status import read_reports
from openmodule_host.states import PluginState
from openmodule_host.testing import TestClient
from tests.support import eventually
from tests.support.children import child_pid, restarted_child

TROUBLED = "tests.support.process_plugins:troubled"
IN_PROCESS = {"ISOLATION": "process", "NAME": "om_troubled_1"}
LABELS = '{"compute_id":"1","plugin":"crasher"}'


def get(host, path):
    try:
        with urllib.request.urlopen(f"http://{host.http.address}{path}", timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def host_check(client: TestClient, host) -> dict:
    checks = {check["id"]: check for check in client.get_health(host.config.name)["checks"]}
    return checks["plugin_crasher"]


def figures(host) -> dict[str, float]:
    return {metric.id: metric.values[LABELS] for metric in host.health_metrics() if metric.id.startswith("plugin_")}


@pytest.fixture
def troubled(om_host, om_client):
    host = om_host(("crasher", TROUBLED), config={"crasher": IN_PROCESS}, stall_after=0.2, http="127.0.0.1:0",
                   restart_backoff=0.05)
    child_pid(om_client)  # it answers: its subscriptions are in place
    eventually(lambda: figures(host)["plugin_rpcs_served"] == 1)  # and it reports
    return host


def test_a_stuck_handler_in_the_child_shows_degraded_and_alerts_then_ok_again(troubled, om_client):
    host = troubled
    om_client.subscribe("alert")
    assert get(host, "/healthz")[0] == 200

    om_client.publish("stuck", {"type": "stuck", "seconds": 6})

    eventually(lambda: get(host, "/healthz")[0] == 503, timeout=5)
    [status] = host.statuses()
    assert status.state == "degraded"
    assert re.fullmatch(r"a handler has been running for \d+ s", status.message)
    document = json.loads(get(host, "/healthz")[1])
    assert document["plugins"]["crasher"]["state"] == "degraded"
    check = host_check(om_client, host)
    assert check["state"] == "fail" and check["message"].startswith("degraded: a handler has been running for")
    alert = om_client.wait_for_message("alert", lambda body: body["status"] == "error")
    assert (alert["alert_type"], alert["source"], alert["alert_meta"]["state"]) == ("plugin_state", "crasher",
                                                                                    "degraded")

    eventually(lambda: get(host, "/healthz")[0] == 200, timeout=10)
    assert host_check(om_client, host)["state"] == "ok"
    alert = om_client.wait_for_message("alert", lambda body: body["status"] == "ok")
    assert (alert["source"], alert["alert_meta"]["state"]) == ("crasher", "running")
    assert host.plugins["crasher"].process.restarts == 0


def test_a_stuck_handler_in_the_child_alerts_once_per_change_with_nobody_pinging(troubled, om_client):
    host = troubled
    om_client.subscribe("alert")
    om_client.publish("stuck", {"type": "stuck", "seconds": 4})  # and no ping from here on: the host looks itself
    error = om_client.wait_for_message("alert", timeout=10)
    assert error["name"] == host.config.name  # the host's alert: its child, whose state it reports, sends none
    assert (error["source"], error["status"], error["alert_meta"]["state"]) == ("crasher", "error", "degraded")
    ok = om_client.wait_for_message("alert", timeout=15)
    assert (ok["source"], ok["status"], ok["alert_meta"]["state"]) == ("crasher", "ok", "running")
    om_client.assert_no_message("alert", timeout=1.5)  # once per change


def test_a_raising_health_hook_in_the_child_shows_degraded_until_it_answers_ok(troubled, om_client):
    host = troubled
    assert host_check(om_client, host)["state"] == "ok"

    om_client.rpc("crasher", "health", {"ok": False})

    def degraded() -> bool:
        host_check(om_client, host)  # the child calls its plugin's hook on the same ping
        return host.statuses()[0].state == "degraded"

    eventually(degraded, timeout=10)
    assert host.statuses()[0].message == "the health hook raised RuntimeError: the barrier's sensor is gone"
    assert get(host, "/healthz")[0] == 503
    check = host_check(om_client, host)
    assert (check["state"], check["message"]) == (
        "fail", "degraded: the health hook raised RuntimeError: the barrier's sensor is gone")

    om_client.rpc("crasher", "health", {"ok": True})
    eventually(lambda: host_check(om_client, host)["state"] == "ok", timeout=10)
    assert get(host, "/healthz")[0] == 200


def test_the_childs_handler_errors_and_failed_rpcs_appear_in_the_hosts_metrics(troubled, om_client):
    host = troubled
    om_client.publish("fail", {"type": "fail"})
    om_client.publish("fail", {"type": "fail"})
    reply = om_client.rpc("crasher", "fail", {})
    assert reply["response"]["status"] == "handler_error"

    eventually(lambda: figures(host)["plugin_handler_errors"] == 2 and figures(host)["plugin_rpcs_failed"] == 1)
    values = figures(host)
    assert values["plugin_messages_handled"] >= 2
    assert values["plugin_busy_seconds"] > 0
    metrics = {metric["id"]: metric["values"] for metric in om_client.get_health(host.config.name)["metrics"]}
    assert (metrics["plugin_handler_errors"][LABELS], metrics["plugin_rpcs_failed"][LABELS],
            metrics["plugin_rpcs_served"][LABELS]) == (2, 1, 1)
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(get(host, "/metrics")[1].decode())
        for sample in family.samples
    }
    assert samples[("openmodule_host_plugin_handler_errors_total", (("plugin", "crasher"),))] == 2
    assert samples[("openmodule_host_plugin_rpcs_failed_total", (("plugin", "crasher"),))] == 1
    assert samples[("openmodule_host_plugin_state", (("plugin", "crasher"), ("state", "running")))] == 1


def test_a_stopped_child_shows_degraded_and_is_not_killed_then_runs_on_after_sigcont(troubled, om_client):
    host = troubled
    pid = child_pid(om_client)
    os.kill(pid, signal.SIGSTOP)
    stopped = time.monotonic()
    try:
        eventually(lambda: host.statuses()[0].state == "degraded", timeout=10)
        # silent for stall_after + 3 intervals; its last report came about an interval before the SIGSTOP
        assert time.monotonic() - stopped > host.config.stall_after + STATUS_INTERVAL
        assert re.fullmatch(r"no status from its process for \d+ s", host.statuses()[0].message)
        assert get(host, "/healthz")[0] == 503
        assert host_check(om_client, host)["message"].startswith("degraded: no status from its process for")
        process = host.plugins["crasher"].process
        assert (process.pid, process.state, process.restarts) == (pid, PluginState.RUNNING, 0)
    finally:
        os.kill(pid, signal.SIGCONT)
    eventually(lambda: host.statuses()[0].state == "running", timeout=5)
    assert child_pid(om_client) == pid


def test_the_counters_go_on_from_where_the_crashed_child_left_them(troubled, om_client):
    host = troubled
    first = child_pid(om_client)
    om_client.publish("fail", {"type": "fail"})
    om_client.rpc("crasher", "fail", {})
    eventually(lambda: figures(host)["plugin_handler_errors"] == 1 and figures(host)["plugin_rpcs_failed"] == 1)
    before = figures(host)

    os.kill(first, signal.SIGKILL)
    seen = [before]
    process = host.plugins["crasher"].process

    def launched_again() -> bool:
        seen.append(figures(host))
        return process.pid not in (None, first)

    eventually(launched_again, timeout=20)
    restarted_child(om_client, process, IN_PROCESS["NAME"], first)
    om_client.publish("fail", {"type": "fail"})
    om_client.rpc("crasher", "fail", {})
    eventually(lambda: figures(host)["plugin_handler_errors"] == 2 and figures(host)["plugin_rpcs_failed"] == 2)
    after = figures(host)
    seen.append(after)
    assert after["plugin_restarts"] == 1
    assert after["plugin_rpcs_served"] >= before["plugin_rpcs_served"] + 1
    for name in ("plugin_messages_handled", "plugin_handler_errors", "plugin_rpcs_served", "plugin_rpcs_failed",
                 "plugin_busy_seconds", "plugin_mailbox_dropped", "plugin_invalid_messages"):
        assert all(earlier[name] <= later[name] for earlier, later in pairwise(seen)), name


def test_the_parent_drops_invalid_report_lines_and_keeps_the_last_valid_one():
    status = ChildStatus()
    child = status.begin()
    read_fd, write_fd = os.pipe()
    valid = ChildReport(state="degraded", message="a handler has been running for 12 s", plugin_messages_handled=3,
                        plugin_handler_errors=1, plugin_invalid_messages=0, plugin_mailbox_depth=2,
                        plugin_mailbox_dropped=0, plugin_rpcs_served=4, plugin_rpcs_failed=0, plugin_busy_seconds=0.5,
                        plugin_publish_delayed=0, plugin_publish_dropped=0, plugin_jobs_run=5, plugin_jobs_failed=1,
                        plugin_jobs_skipped=0)
    lines = [
        b"not json\n",
        b"\xff\xfe\n",
        b"[" * 5000 + b"]" * 5000 + b"\n",
        b'{"state": "exploded"}\n',
        valid.model_dump_json().replace('"plugin_rpcs_failed":0', '"plugin_rpcs_failed":-1').encode() + b"\n",
        b'{"state": "running", "message": "' + b"x" * 20_000 + b'"}\n',  # longer than any report
        valid.model_dump_json().encode() + b"\n",
    ]
    with os.fdopen(write_fd, "wb") as out:
        out.write(b"".join(lines))
    read_reports(os.fdopen(read_fd, "rb"), child, status, "crasher", logging.getLogger("test"))

    assert status.invalid == 6
    assert status.health(stall_after=10) == ("degraded", "a handler has been running for 12 s")
    assert status.values()["plugin_rpcs_served"] == 4
    status.end()  # the child is gone: its figures stay in the totals, its mailbox with it
    assert (status.values()["plugin_rpcs_served"], status.values()["plugin_mailbox_depth"]) == (4, 0)
    status.receive(child, valid)  # a late line of that child no longer counts
    assert status.values()["plugin_rpcs_served"] == 4


def test_the_mailbox_drops_of_a_flooded_child_appear_in_the_hosts_metrics(om_host, om_client):
    host = om_host(("crasher", TROUBLED), config={"crasher": IN_PROCESS}, mailbox_size=5)
    child_pid(om_client)
    om_client.publish("stuck", {"type": "stuck", "seconds": 1})
    for _ in range(50):
        om_client.publish("fail", {"type": "fail"})

    eventually(lambda: figures(host)["plugin_mailbox_dropped"] >= 40, timeout=10)
    eventually(lambda: figures(host)["plugin_handler_errors"] + figures(host)["plugin_mailbox_dropped"] == 50,
               timeout=10)
    assert figures(host)["plugin_mailbox_depth"] == 0
