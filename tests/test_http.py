"""The HTTP endpoint over real HTTP: /healthz for probes, /metrics for Prometheus."""

import json
import urllib.error
import urllib.request

import pytest
from openmodule_hookspecs import hookimpl
from prometheus_client.parser import text_string_to_metric_families

from tests.plugins import Blocker, Ping, Recorder
from tests.support import HostProcess, eventually, run_cli


class Broken:
    @hookimpl
    def register_handlers(self, core):
        raise RuntimeError("no camera")


def get(host, path):
    try:
        with urllib.request.urlopen(f"http://{host.http.address}{path}", timeout=5) as response:
            return response.status, response.headers["Content-Type"], response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers["Content-Type"], error.read()


def test_healthz_is_200_with_each_plugins_state_when_all_required_plugins_run(om_host):
    host = om_host(("a", Recorder()), ("b", Recorder()), http="127.0.0.1:0")
    status, content_type, body = get(host, "/healthz")
    assert (status, content_type) == (200, "application/json")
    assert json.loads(body) == {
        "status": "ok", "name": "openmodule_host",
        "plugins": {name: {"state": "running", "required": True, "message": None} for name in ("a", "b")},
    }


def test_healthz_is_503_when_a_required_plugin_failed_but_not_for_an_optional_one(om_host):
    host = om_host(("broken", Broken()), ("ok", Recorder()), http="127.0.0.1:0")
    status, _, body = get(host, "/healthz")
    assert status == 503
    assert json.loads(body)["plugins"]["broken"] == {
        "state": "failed", "required": True, "message": "register_handlers raised RuntimeError: no camera"}


def test_an_optional_plugin_that_failed_keeps_the_host_healthy(om_host):
    host = om_host(("broken", Broken()), ("ok", Recorder()), http="127.0.0.1:0",
                   config={"broken": {"REQUIRED": False}})
    assert get(host, "/healthz")[0] == 200


def test_healthz_is_503_while_a_plugin_is_degraded(om_host, om_client):
    blocker = Blocker(hold=10)
    host = om_host(("stuck", blocker), http="127.0.0.1:0", stall_after=0.2)
    om_client.publish("t", Ping(seq=1))
    assert blocker.entered.wait(5)
    try:
        eventually(lambda: get(host, "/healthz")[0] == 503)
    finally:
        blocker.release.set()
    eventually(lambda: get(host, "/healthz")[0] == 200)


def test_metrics_parse_with_prometheus_clients_parser(om_host, om_client):
    recorder = Recorder()
    host = om_host(("rec", recorder), ("broken", Broken()), http="127.0.0.1:0")
    om_client.publish("t", Ping(seq=1))
    om_client.send_frames(b"t", b"not json")
    recorder.take(1)
    eventually(lambda: host.plugins["rec"].stats.handled == 1)

    status, content_type, body = get(host, "/metrics")
    assert status == 200 and content_type.startswith("text/plain; version=")
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(body.decode())
        for sample in family.samples
    }
    assert samples[("openmodule_host_plugin_messages_handled_total", (("plugin", "rec"),))] == 1
    assert samples[("openmodule_host_plugin_state", (("plugin", "rec"), ("state", "running")))] == 1
    assert samples[("openmodule_host_plugin_state", (("plugin", "broken"), ("state", "failed")))] == 1
    assert samples[("openmodule_host_plugin_mailbox_depth", (("plugin", "rec"),))] == 0
    assert samples[("openmodule_host_messages_malformed_total", (("reason", "invalid_json"),))] == 1
    assert ("openmodule_host_plugin_rpcs_served_total", (("plugin", "rec"),)) in samples


def test_other_paths_are_404(om_host):
    host = om_host(("a", Recorder()), http="127.0.0.1:0")
    assert get(host, "/nope")[0] == 404


def test_the_cli_serves_http_when_asked(broker_env):
    from openmodule_host.testing import free_tcp_address

    address = free_tcp_address().removeprefix("tcp://")
    with HostProcess(["--plugins", "hello", "--http", address], env=broker_env) as host:
        host.wait_ready()
        with urllib.request.urlopen(f"http://{address}/healthz", timeout=5) as response:
            assert json.loads(response.read())["plugins"]["hello"]["state"] == "running"
        assert host.stop() == 0


@pytest.mark.parametrize("address", ["8080", "localhost:", "localhost:http", "127.0.0.1:70000"])
def test_a_bad_http_address_is_a_clear_error(broker_env, address):
    result = run_cli("--plugins", "hello", "--http", address, env=broker_env)
    assert result.returncode == 2
    assert "invalid HTTP address" in result.stderr
