"""The HTTP endpoint over real HTTP: /healthz for probes, /metrics for Prometheus."""

import json
import re
import socket
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import zmq
from openmodule_hookspecs import hookimpl
from prometheus_client.parser import text_string_to_metric_families

from tests.support import HostProcess, eventually, run_cli
from tests.support.plugins import Blocker, Ping, Recorder


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
    host = om_host(("broken", Broken()), ("ok", Recorder()), http="127.0.0.1:0", strict=False)
    status, _, body = get(host, "/healthz")
    assert status == 503
    assert json.loads(body)["plugins"]["broken"] == {
        "state": "failed", "required": True, "message": "register_handlers raised RuntimeError: no camera"}


def test_an_optional_plugin_that_failed_keeps_the_host_healthy(om_host):
    host = om_host(("broken", Broken()), ("ok", Recorder()), http="127.0.0.1:0", strict=False,
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
    host = om_host(("rec", recorder), ("broken", Broken()), http="127.0.0.1:0", strict=False)
    om_client.publish("t", Ping(seq=1))
    om_client.send_frames(b"t", b"not json")
    recorder.take(1)
    eventually(lambda: host.plugins["rec"].stats.handled == 1)
    eventually(lambda: host.intake.stats.malformed["invalid_json"] == 1)  # (the bad frame may come after the ping)

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


OPERATIONS = Path(__file__).resolve().parent.parent / "docs" / "operations.md"


def documented_metrics() -> dict[str, tuple[str, frozenset[str]]]:
    """operations.md's metrics table: name -> (type, label names), e.g. ``..._limit_hits_total{plugin,limit}``."""
    found = {}
    for line in OPERATIONS.read_text().splitlines():
        if line.startswith("| `openmodule_host_"):
            names, kind = line.split(" | ")[:2]
            for name, labels in re.findall(r"`(openmodule_host_[a-z_]+)(?:\{([a-z,]+)\})?`", names):
                found[name] = (kind, frozenset(labels.split(",")) if labels else frozenset())
    return found


def scraped_metrics(body: str) -> dict[str, tuple[str, frozenset[str] | None]]:
    """What /metrics exports: name -> (type, label names); None for a family without samples yet."""
    found: dict[str, tuple[str, frozenset[str] | None]] = {}
    for family in text_string_to_metric_families(body):
        label_sets = {frozenset(sample.labels) for sample in family.samples}
        assert len(label_sets) <= 1, (family.name, label_sets)
        name = family.name + ("_total" if family.type == "counter" else "")
        found[name] = (family.type, label_sets.pop() if label_sets else None)
    return found


def test_the_documented_metrics_are_what_a_running_host_exports(broker_env):
    from openmodule_host.testing import free_tcp_address

    address = free_tcp_address().removeprefix("tcp://")
    with HostProcess(["--plugins", "hello", "--http", address], env=broker_env) as host:
        host.wait_ready()
        context = zmq.Context.instance()
        sender = context.socket(zmq.PUB)
        sender.setsockopt(zmq.LINGER, 0)
        sender.connect(broker_env["BROKER_SUB"])

        scrapes = []

        def scraped_with_a_malformed_sample() -> bool:
            sender.send_multipart([b"healthz", b"not json"])  # so that messages_malformed has a sample
            with urllib.request.urlopen(f"http://{address}/metrics", timeout=5) as response:
                scrapes.append(scraped_metrics(response.read().decode()))
            return scrapes[-1]["openmodule_host_messages_malformed_total"][1] is not None

        try:
            eventually(scraped_with_a_malformed_sample, interval=0.1)
        finally:
            sender.close()
        exported = scrapes[-1]
        assert host.stop() == 0

    documented = documented_metrics()
    assert sorted(exported) == sorted(documented)
    for name, (kind, labels) in exported.items():
        assert kind == documented[name][0], name
        if labels is not None:  # (limit_hits has no sample until a limit is hit)
            assert labels == documented[name][1], name
    assert exported["openmodule_host_limit_hits_total"][1] is None  # the only one checked by the table alone


@pytest.mark.parametrize("address", ["8080", "localhost:", "localhost:http", "127.0.0.1:70000"])
def test_a_bad_http_address_is_a_clear_error(broker_env, address):
    result = run_cli("--plugins", "hello", "--http", address, env=broker_env)
    assert result.returncode == 2
    assert "invalid HTTP address" in result.stderr


# -- bounded: one thread, limited connections, timeouts, sizes, methods -------------------------------------


def exchange(address, data, *, wait=5.0):
    """Send ``data`` on a fresh connection and read until the server closes it; the answer as bytes."""
    host, port = address.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=wait) as sock:
        if data:
            sock.sendall(data)
        return read_to_end(sock)


def read_to_end(sock):
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def status_of(answer):
    return int(answer.split(b" ", 2)[1])


@pytest.fixture
def endpoint(om_host):
    """An endpoint of its own on a running host, with short limits to test them quickly."""
    from openmodule_host.observability import HTTPEndpoint

    host = om_host(("a", Recorder()))
    endpoints = []

    def start(**limits):
        endpoints.append(HTTPEndpoint(host, "127.0.0.1:0", **limits))
        endpoints[-1].start()
        return endpoints[-1]

    yield start
    for each in endpoints:
        each.stop()


def test_200_idle_connections_take_no_thread_and_healthz_still_answers(om_host):
    host = om_host(("a", Recorder()), http="127.0.0.1:0")
    threads = threading.active_count()
    hostname, port = host.http.address.rsplit(":", 1)
    idle = [socket.create_connection((hostname, int(port)), timeout=5) for _ in range(200)]
    try:
        for sock in idle[::2]:
            sock.sendall(b"GET /hea")  # half a request line
        eventually(lambda: host.http.server.connections == host.http.server.max_connections)
        assert threading.active_count() == threads
        status, _, body = get(host, "/healthz")
        assert status == 200 and json.loads(body)["status"] == "ok"
        assert threading.active_count() == threads
    finally:
        for sock in idle:
            sock.close()


def test_at_the_bound_the_oldest_waiting_connection_is_answered_503_and_makes_room(endpoint):
    http = endpoint(max_connections=3)
    hostname, port = http.address.rsplit(":", 1)
    waiting = [socket.create_connection((hostname, int(port)), timeout=5) for _ in range(3)]
    try:
        eventually(lambda: http.server.connections == 3)
        assert status_of(exchange(http.address, b"GET /healthz HTTP/1.1\r\n\r\n")) == 200
        assert status_of(read_to_end(waiting[0])) == 503
    finally:
        for sock in waiting:
            sock.close()


def test_a_slowloris_connection_is_answered_408_and_closed_after_the_timeout(endpoint):
    http = endpoint(request_timeout=1.0)
    hostname, port = http.address.rsplit(":", 1)
    with socket.create_connection((hostname, int(port)), timeout=5) as sock:
        started = time.monotonic()
        sock.sendall(b"GET /he")
        sock.settimeout(0.2)
        answer = b""
        while time.monotonic() - started < 5:  # a byte every 0.2 s: trickling does not extend the deadline
            try:
                chunk = sock.recv(4096)
            except TimeoutError:
                sock.send(b"a")
                continue
            answer += chunk
            if not chunk:
                break
        took = time.monotonic() - started
    assert status_of(answer) == 408
    assert 0.9 < took < 2.5


def test_answers_carry_no_version_banner(om_host):
    host = om_host(("a", Recorder()), http="127.0.0.1:0")
    for path in ("/healthz", "/metrics", "/nope"):
        answer = exchange(host.http.address, f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        head = answer.split(b"\r\n\r\n", 1)[0].lower()
        assert b"server:" not in head
        assert b"python" not in head and b"basehttp" not in head


def test_an_oversized_request_line_is_414_and_oversized_headers_431(om_host):
    host = om_host(("a", Recorder()), http="127.0.0.1:0")
    long_line = b"GET /healthz?" + b"x" * 5000 + b" HTTP/1.1\r\n\r\n"
    assert status_of(exchange(host.http.address, long_line)) == 414
    big_headers = b"GET /healthz HTTP/1.1\r\n" + b"".join(b"X-Pad-%d: %s\r\n" % (i, b"y" * 100) for i in range(200))
    assert status_of(exchange(host.http.address, big_headers + b"\r\n")) == 431
    assert get(host, "/healthz")[0] == 200


def test_only_get_and_head_on_the_two_paths(om_host):
    host = om_host(("a", Recorder()), http="127.0.0.1:0")
    address = host.http.address
    posted = exchange(address, b"POST /healthz HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello")
    assert status_of(posted) == 405 and b"\r\nAllow: GET, HEAD\r\n" in posted
    assert status_of(exchange(address, b"DELETE /metrics HTTP/1.1\r\n\r\n")) == 405
    assert status_of(exchange(address, b"POST /other HTTP/1.1\r\n\r\n")) == 404
    head = exchange(address, b"HEAD /healthz HTTP/1.1\r\n\r\n")
    assert status_of(head) == 200 and head.endswith(b"\r\n\r\n") and b"Content-Length: 0" not in head
    assert status_of(exchange(address, b"NONSENSE\r\n\r\n")) == 400
