"""The host's own threads survive any input, and the watchdog notices one that does not.

Faults are injected where a buggy route or a hostile body would strike: a route on the intake whose
``post`` raises or blocks, exactly as the connection-status route did on a deeply nested body.
"""

import os
import random
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import orjson
import pytest
from openmodule_hookspecs import hookimpl

from openmodule_host.wire import Route
from openmodule_host.wire.codec import too_deep
from tests.support import eventually
from tests.support.children import child_pid
from tests.support.plugins import Ping, Recorder
from tests.support.rpc_plugins import Lookup, LookupRequest


class Poison(BaseException):
    """Escapes every ``except Exception``: what it takes to end a host thread."""


def nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


def deep_body(kind: str, depth: int = 1000) -> bytes:
    """A ~2 KB valid JSON body of the kind the topic expects, with one field nested ``depth`` deep."""
    fields = {
        "status": b'"type":"connection_status","connected":',
        "rpc": b'"type":"lookup","rpc_id":"x","request":',
        "ping": b'"type":"ping","seq":',
    }[kind]
    return b'{"name":"attacker","timestamp":1,' + fields + nested(depth) + b"}"


def get(host, path):
    try:
        with urllib.request.urlopen(f"http://{host.http.address}{path}", timeout=5) as response:
            return response.status, orjson.loads(response.read()) if path == "/healthz" else response.read()
    except urllib.error.HTTPError as error:
        return error.code, orjson.loads(error.read()) if path == "/healthz" else error.read()


class Both(Recorder, Lookup):
    """Receives pings on ``t`` and serves ``plates``/``lookup``."""

    def __init__(self) -> None:
        Recorder.__init__(self)
        Lookup.__init__(self)

    @hookimpl
    def register_handlers(self, core):
        Recorder.register_handlers(self, core)
        Lookup.register_handlers(self, core)


def assert_plugin_fully_served(host, plugin, client, seq):
    """The plugin receives a message, answers an RPC, and it and the host answer a ping."""
    client.publish("t", Ping(seq=seq))
    assert plugin.take(1)[0][0].seq == seq
    reply = client.rpc("plates", "lookup", LookupRequest(plate="G1"))
    assert reply["response"]["status"] == "ok"
    assert client.get_health("both")["pong"]["status"] == "ok"
    assert client.get_health(host.config.name)["pong"]["status"] == "ok"


# -- the depth limit ------------------------------------------------------------------------------------------


def test_the_depth_bound_counts_only_structure_and_finds_the_exact_limit():
    assert not too_deep(nested(64), 64)
    assert too_deep(nested(65), 64)
    # brackets in strings, escaped quotes and backslashes included, are text
    assert not too_deep(b'{"a":"' + b"[" * 500 + b'\\"' + b"{" * 500 + b'\\\\"}', 64)
    assert too_deep(b'{"a":"\\\\","b":' + nested(100) + b"}", 64)
    # brackets that do not balance are no JSON: left for the parser to reject, unless too many open in a row
    assert not too_deep(b"]" * 100 + b"[" * 50, 64)
    assert too_deep(b"]" * 100 + b"[" * 65, 64)
    wide = orjson.dumps({"items": [{"a": [1, {"b": "]]"}]} for _ in range(1000)]})
    assert not too_deep(wide, 5) and too_deep(wide, 4)


def real_depth(value) -> int:
    if isinstance(value, dict | list):
        children = value.values() if isinstance(value, dict) else value
        return 1 + max((real_depth(child) for child in children), default=0)
    return 0


def test_the_depth_bound_agrees_with_the_real_depth_of_generated_bodies():
    chooser = random.Random(10)
    texts = [1, None, "a]", "[{", '\\', 'x\\"', '"[', "}]}"]

    def generate(depth):
        if depth == 0 or chooser.random() < 0.1:
            return chooser.choice(texts)
        width = 1 if chooser.random() < 0.8 else chooser.randint(0, 3)
        if chooser.random() < 0.5:
            return [generate(depth - 1) for _ in range(width)]
        return {f"k{index}{chooser.choice(texts)}": generate(depth - 1) for index in range(width)}

    for _ in range(500):
        value = generate(chooser.randint(1, 90))
        raw, depth = orjson.dumps(value), real_depth(value)
        for limit in (2, 10, 64):
            assert too_deep(raw, limit) is (depth > limit), (raw[:200], depth, limit)


@pytest.mark.parametrize(
    ("topic", "kind"),
    [("connection_internal", "status"), ("connection_status", "status"), ("rpc-req-plates", "rpc"), ("t", "ping")],
)
def test_a_nested_frame_does_not_kill_the_intake(om_host, om_client, topic, kind):
    plugin = Both()
    host = om_host(("both", plugin))
    body = deep_body(kind)
    assert len(body) < 2100
    for _ in range(3):
        om_client.send_frames(topic.encode(), body)
    eventually(lambda: host.intake.stats.malformed["too_deep"] == 3)
    assert host.intake.thread.is_alive()
    assert host.intake.heartbeat.errors == 0
    assert plugin.received.empty()
    assert_plugin_fully_served(host, plugin, om_client, seq=7)


def test_the_depth_limit_is_a_host_setting(om_host, om_client):
    recorder = Recorder()
    host = om_host(("recorder", recorder), max_depth=8)
    for depth, seq in ((8, 1), (9, 2)):  # the body itself is one level
        om_client.publish("t", {"type": "ping", "seq": seq, "extra": orjson.loads(nested(depth - 1))})
    om_client.publish("t", Ping(seq=3))
    assert [message.seq for message, _ in recorder.take(2)] == [1, 3]
    assert host.intake.stats.malformed["too_deep"] == 1


def test_the_depth_limit_applies_on_a_plugins_undecoded_way_too(om_host, om_client):
    """A compact body with the listener's type goes to the worker undecoded: bounded before that."""
    recorder = Recorder()
    host = om_host(("recorder", recorder))
    om_client.send_frames(b"t", b'{"type":"ping","name":"x","seq":1,"extra":' + nested(70) + b"}")
    om_client.publish("t", Ping(seq=2))
    assert recorder.take(1)[0][0].seq == 2
    assert host.intake.stats.malformed["too_deep"] == 1
    assert host.plugins["recorder"].stats.invalid == 0  # no worker saw it


# -- whatever a route raises, the intake goes on ------------------------------------------------------------


def test_an_exception_from_a_route_costs_one_message_and_is_counted_and_logged_once(om_host, om_client, caplog):
    plugin = Both()
    host = om_host(("both", plugin))

    def post(body):
        raise RecursionError("maximum recursion depth exceeded")

    host.intake.add("bad", Route(type=None, post=post))
    assert host.intake.wait_subscribed()  # (the intake thread subscribes it a moment later)
    om_client.sync()
    for _ in range(50):
        om_client.publish("bad", {"type": "x"})
    eventually(lambda: host.intake.heartbeat.errors == 50)
    assert host.intake.thread.is_alive()
    assert caplog.text.count("intake thread: handling a message raised RecursionError") == 1
    assert_plugin_fully_served(host, plugin, om_client, seq=1)


def test_any_exception_from_connection_status_validation_is_counted_never_raised(om_host, om_client, caplog,
                                                                                  monkeypatch):
    from openmodule_host import connection_status

    original = connection_status.ConnectionStatusMessage

    class Hostile(original):
        @classmethod
        def model_validate(cls, body, **kwargs):
            if body.get("connected") == "hostile":
                raise RecursionError("maximum recursion depth exceeded while validating")
            return original.model_validate(body, **kwargs)

    monkeypatch.setattr(connection_status, "ConnectionStatusMessage", Hostile)
    plugin = Both()
    host = om_host(("both", plugin))
    for _ in range(20):
        om_client.publish("connection_internal", {"type": "connection_status", "connected": "hostile"})
    om_client.publish("connection_internal", {"type": "connection_status", "connected": 42})
    eventually(lambda: host.connection.invalid == 21)
    assert host.intake.heartbeat.errors == 0
    assert caplog.text.count("invalid connection status message") == 1
    assert "RecursionError" in caplog.text
    om_client.set_connection_status("online")
    eventually(lambda: host.connection.status is not None and host.connection.status.connected == "online")
    assert_plugin_fully_served(host, plugin, om_client, seq=2)


def test_the_health_responder_survives_an_answer_that_raises(om_host, om_client, monkeypatch):
    host = om_host(("both", Both()))
    answer = host.health.answer
    calls = []

    def failing_once():
        calls.append(1)
        if len(calls) == 1:
            raise ValueError("publisher hiccup")
        answer()

    monkeypatch.setattr(host.health, "answer", failing_once)
    om_client.publish("healthz", {"type": "ping", "ping": "ping"})
    eventually(lambda: host.health.heartbeat.errors == 1)
    assert om_client.get_health(host.config.name)["pong"]["status"] == "ok"


# -- connection-status callbacks are coalesced ----------------------------------------------------------


class Watcher(Both):
    def __init__(self) -> None:
        super().__init__()
        self.events: list[tuple[str, str]] = []

    @hookimpl
    def register_handlers(self, core):
        super().register_handlers(core)
        core.connection_listener.on_connect.append(lambda status: self._seen("connect", status))
        core.connection_listener.on_disconnect.append(lambda status: self._seen("disconnect", status))

    def _seen(self, kind, status):
        time.sleep(0.002)  # a callback with some work to do: a queue of them would take a while
        self.events.append((kind, status))


def test_a_flapping_status_queues_at_most_one_callback_and_rpcs_answer_promptly(om_host, om_client):
    watcher = Watcher()
    host = om_host(("both", watcher), mailbox_size=1000)
    host.rpc_client.default_timeout = 0.2
    mailbox = watcher.core.connection_listener._mailbox
    changes = 5000
    depths = []
    sampling = threading.Event()

    def sample():
        while not sampling.is_set():
            depths.append(len(mailbox))
            time.sleep(0.001)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        for index in range(changes):
            om_client.set_connection_status("online" if index % 2 else "offline")
        started = time.monotonic()
        reply = om_client.rpc("plates", "lookup", LookupRequest(plate="G1"))
        took = time.monotonic() - started
    finally:
        sampling.set()
        sampler.join()
    assert reply["response"]["status"] == "ok"
    assert took < 1.0
    assert max(depths) <= 2  # the pending callback (and the RPC)
    eventually(lambda: host.connection.status.connected == "online")  # the last one sent
    eventually(lambda: watcher.events and watcher.events[-1] == ("connect", "online"))
    assert len(watcher.events) < changes / 2


def test_a_single_change_still_calls_its_listener_with_the_new_status(om_host, om_client):
    watcher = Watcher()
    host = om_host(("both", watcher))
    host.rpc_client.default_timeout = 0.2
    om_client.set_connection_status("online")
    eventually(lambda: watcher.events == [("connect", "online")])
    om_client.set_connection_status("offline")
    eventually(lambda: watcher.events == [("connect", "online"), ("disconnect", "offline")])


# -- the watchdog -----------------------------------------------------------------------------------------------


def test_idle_host_threads_keep_beating(om_host):
    host = om_host(("both", Both()), http="127.0.0.1:0", watchdog_timeout=1.0)
    time.sleep(3)
    assert host.watchdog.problems() == {}
    assert not host.wait(0)
    assert get(host, "/healthz")[0] == 200
    assert {watched.heartbeat.name for watched in host.watchdog.threads} == {"connection", "health", "http", "intake",
                                                                            "scheduler"}


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")  # the thread dies: the point
def test_a_dead_intake_is_restarted_on_new_sockets_and_alerts_until_it_runs(om_host, om_client):
    plugin = Both()
    host = om_host(("both", plugin), watchdog_timeout=2.0)
    om_client.subscribe("alert")

    def post(body):
        raise Poison()

    host.intake.add("poison", Route(type=None, post=post))
    assert host.intake.wait_subscribed()  # (the intake thread subscribes it a moment later)
    om_client.sync()
    first = host.intake.thread
    om_client.publish("poison", {"type": "x"})
    eventually(lambda: not first.is_alive())
    om_client.wait_for_alert(alert_type="host_thread", source="intake", status="error")
    eventually(lambda: host.intake.thread is not first and host.watchdog.problems() == {}, timeout=5)
    om_client.wait_for_alert(alert_type="host_thread", source="intake", status="ok")
    om_client.sync()
    assert_plugin_fully_served(host, plugin, om_client, seq=3)
    pong = om_client.get_health(host.config.name)
    restarts = next(metric for metric in pong["metrics"] if metric["id"] == "host_thread_restarts")
    assert [value for labels, value in restarts["values"].items() if '"intake"' in labels] == [1]
    assert not host.wait(0)


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")  # the thread dies: the point
def test_an_intake_that_keeps_dying_stops_the_host_with_status_70(om_host, om_client):
    host = om_host(("both", Both()), http="127.0.0.1:0", watchdog_timeout=2.0)

    def post(body):
        raise Poison()

    host.intake.add("poison", Route(type=None, post=post))
    def poisoned(thread: threading.Thread) -> bool:
        # published again every 2 s while the thread lives: a restarted intake's subscription may not have
        # reached the broker yet when the first one goes out (a loaded machine)
        om_client.publish("poison", {"type": "x"})
        thread.join(2.0)
        return not thread.is_alive()

    for restarts in range(host.watchdog.max_restarts + 1):
        om_client.sync()
        thread = host.intake.thread
        eventually(lambda thread=thread: poisoned(thread), timeout=30)
        if restarts < host.watchdog.max_restarts:
            eventually(lambda thread=thread: host.intake.thread is not thread and host.watchdog.problems() == {})
    assert host.wait(5)
    assert host.exit_status == 70
    status, document = get(host, "/healthz")
    assert status == 503
    assert document["status"] == "unhealthy"
    assert document["threads"]["intake"].startswith("dead: the thread ended; restarted 3 times")


def test_a_stuck_intake_turns_healthz_red_and_stops_the_host_with_status_70(om_host, om_client):
    host = om_host(("both", Both()), http="127.0.0.1:0", watchdog_timeout=2.0)
    om_client.subscribe("alert")
    release = threading.Event()
    host.intake.add("block", Route(type=None, post=lambda body: release.wait(30)))
    assert host.intake.wait_subscribed()  # (the intake thread subscribes it a moment later)
    om_client.sync()
    try:
        started = time.monotonic()
        om_client.publish("block", {"type": "x"})
        assert host.wait(8)
        # the bound: the intake's idle period (1 s) + watchdog_timeout (2 s) + a check interval (0.5 s)
        assert time.monotonic() - started < 6.0
        assert host.exit_status == 70
        status, document = get(host, "/healthz")
        assert status == 503
        assert document["threads"]["intake"].startswith("stuck: no progress for")
        om_client.wait_for_alert(alert_type="host_thread", source="intake", status="error")
        checks = {check.id: check for check in host.health_checks()}
        assert checks["host_thread_intake"].state == "fail"
        assert get(host, "/metrics")[1].count(b'openmodule_host_thread_up{thread="intake"} 0.0') == 1
    finally:
        release.set()


_STUCK_INTAKE = """
import sys
from openmodule_host import cli, host
from openmodule_host.wire import Route

start_watchdog = host.Host._start_watchdog

def with_a_blocking_route(self):
    import threading
    self.intake.add("block", Route(type=None, post=lambda body: threading.Event().wait(60)))
    start_watchdog(self)

host.Host._start_watchdog = with_a_blocking_route
sys.exit(cli.main(sys.argv[1:]))
"""


def test_the_command_exits_70_when_the_watchdog_stops_the_host(tmp_path, broker_env, om_client_for):
    config = tmp_path / "host.toml"
    config.write_text("[host]\nwatchdog_timeout = 2.0\ndsgvo = false\n")
    env = {**os.environ, **broker_env, "DATABASE_FOLDER": str(tmp_path)}
    command = [sys.executable, "-c", _STUCK_INTAKE, "--plugins", "hello", "--config", str(config)]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env) as proc:
        try:
            for line in proc.stdout:
                if line.startswith("ready"):
                    break
            client = om_client_for(broker_env)
            client.sync()
            client.publish("block", {"type": "x"})
            started = time.monotonic()
            _, stderr = proc.communicate(timeout=30)
            assert proc.returncode == 70
            assert time.monotonic() - started < 20
            assert "host thread intake is stuck" in stderr
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()


@pytest.fixture
def om_client_for():
    import zmq

    from openmodule_host.testing.client import TestClient

    made = []

    def make(env):
        context = zmq.Context()
        client = TestClient(context, env["BROKER_SUB"], env["BROKER_PUB"])
        made.append((client, context))
        return client

    yield make
    for client, context in made:
        client.close()
        context.destroy(linger=0)



def test_a_child_process_supervisor_is_watched_and_survives_an_exception(om_host, om_client, monkeypatch):
    host = om_host(("crasher", "tests.support.process_plugins:crasher"),
                   config={"crasher": {"ISOLATION": "process", "NAME": "om_crasher_1"}}, restart_backoff=0.05)
    process = host.plugins["crasher"].process
    assert "process-crasher" in {watched.heartbeat.name for watched in host.watchdog.threads}
    first = child_pid(om_client)
    on_change = process._on_change
    calls = []

    def raising_once(state, reason):
        calls.append(state)
        if len(calls) == 1:
            raise RuntimeError("alert publisher closed")
        on_change(state, reason)

    monkeypatch.setattr(process, "_on_change", raising_once)
    os.kill(first, 9)
    eventually(lambda: process.heartbeat.errors == 1)
    eventually(lambda: process.pid not in (None, first) and host.plugins["crasher"].state.value == "running",
               timeout=20)
    assert process.supervisor.is_alive()
    assert host.watchdog.problems() == {}


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")  # the thread dies: the point
def test_a_dead_health_responder_is_restarted_and_answers_again(om_host, om_client, monkeypatch):
    host = om_host(("both", Both()), watchdog_timeout=2.0)
    first = host.health.thread
    answer = host.health.answer

    def poisoned_once():
        monkeypatch.setattr(host.health, "answer", answer)
        raise Poison()

    monkeypatch.setattr(host.health, "answer", poisoned_once)
    om_client.publish("healthz", {"type": "ping", "ping": "ping"})
    eventually(lambda: not first.is_alive())
    eventually(lambda: host.health.thread is not first and host.watchdog.problems() == {}, timeout=5)
    assert om_client.get_health(host.config.name)["pong"]["status"] == "ok"


def test_a_request_that_raises_in_the_http_endpoint_is_counted_and_the_next_one_served(om_host, monkeypatch, caplog):
    host = om_host(("both", Both()), http="127.0.0.1:0")
    statuses = host.statuses

    def failing_once():
        monkeypatch.setattr(host, "statuses", statuses)
        raise RuntimeError("a plugin's state could not be read")

    monkeypatch.setattr(host, "statuses", failing_once)
    with pytest.raises(urllib.error.HTTPError) as failed:
        urllib.request.urlopen(f"http://{host.http.address}/healthz", timeout=5)
    failed.value.close()
    assert failed.value.code == 500
    eventually(lambda: host.http.heartbeat.errors == 1)
    assert "http thread: a request from 127.0.0.1 raised RuntimeError" in caplog.text
    assert get(host, "/healthz")[0] == 200
