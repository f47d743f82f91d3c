"""A plugin that publishes as fast as it can cannot starve its neighbours, and every drop is counted."""

import threading
import time

import pytest
import zmq
from openmodule_hookspecs import RPCTimeoutError, hookimpl
from prometheus_client.exposition import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from pydantic import BaseModel

from openmodule_host.errors import ConfigError
from openmodule_host.observability.prometheus import host_registry
from openmodule_host.wire import Publisher
from tests.support import eventually
from tests.support.plugins import Ping, Recorder


class Echo(BaseModel):
    value: int = 0


class Flooder:
    """Publishes ``Ping`` on ``topic`` from ``threads`` threads of its own, as fast as it can, until stopped;
    it also listens on ``topic`` itself, so its flood goes through the host's intake as well."""

    def __init__(self, topic: str = "flood", threads: int = 4) -> None:
        self.topic = topic
        self.threads = threads
        self.stop = threading.Event()
        self.published = 0
        self.core = None
        self._workers: list[threading.Thread] = []

    @hookimpl
    def register_handlers(self, core):
        self.core = core
        core.messages.register_handler(self.topic, Ping, lambda message: None)

    def start(self) -> None:
        for _ in range(self.threads):
            worker = threading.Thread(target=self._flood, daemon=True)
            worker.start()
            self._workers.append(worker)

    def _flood(self) -> None:
        message = Ping(seq=0)
        while not self.stop.is_set():
            self.core.publish(message, self.topic)
            self.published += 1

    def join(self) -> None:
        self.stop.set()
        for worker in self._workers:
            worker.join(5)


class Healthy(Recorder):
    """Records ``Ping`` on ``t`` and answers ``healthy``/``echo``."""

    @hookimpl
    def register_handlers(self, core):
        super().register_handlers(core)
        core.rpc_server.register_handler("healthy", "echo", Echo, Echo, lambda request, _message: request)


class Sender:
    """Publishes ``count`` messages on ``topic`` when asked to, from its worker (a handler on ``go``)."""

    def __init__(self, count: int, topic: str = "out") -> None:
        self.count = count
        self.topic = topic
        self.took = 0.0
        self.done = threading.Event()
        self.core = None

    @hookimpl
    def register_handlers(self, core):
        self.core = core
        core.messages.register_handler("go", Ping, self.on_go)

    def on_go(self, _message: Ping) -> None:
        started = time.monotonic()
        for seq in range(self.count):
            self.core.publish(Ping(seq=seq), self.topic)
        self.took = time.monotonic() - started
        self.done.set()


def _seqs(om_client, topic: str, count: int) -> list[int]:
    return [om_client.wait_for_message(topic, timeout=10.0)["seq"] for _ in range(count)]


def test_a_flooding_plugin_costs_its_neighbour_no_message_and_no_rpc(om_host, om_client):
    flooder, healthy = Flooder(), Healthy()
    host = om_host(("flooder", flooder), ("healthy", healthy))
    flooder.start()
    count, answered = 2000, 0
    try:
        time.sleep(0.3)  # the flood is on
        for seq in range(count):
            om_client.publish("t", Ping(seq=seq, sent_at=time.time()))
            if seq % 100 == 0:
                reply = om_client.rpc("healthy", "echo", {"value": seq}, timeout=10.0)
                assert reply["response"] == {"status": "ok", "value": seq}
                answered += 1
            time.sleep(0.0005)
        received = sorted(message.seq for message, _ in healthy.take(count, timeout=20.0))
    finally:
        flooder.join()

    assert received == list(range(count))
    assert answered == count // 100
    flooding, calm = host.plugins["flooder"].budget, host.plugins["healthy"].budget
    assert flooding.delayed > 0, "the flooder never reached its budget: the test did not flood"
    assert (calm.delayed, calm.dropped) == (0, 0)
    assert host.plugins["healthy"].worker.mailbox.dropped == 0
    assert host.publisher.dropped == 0


def test_the_budget_is_per_plugin_a_neighbour_of_a_flooder_publishes_unhindered(om_host, om_client):
    flooder, sender = Flooder(), Sender(count=500)
    host = om_host(("flooder", flooder), ("sender", sender))
    om_client.subscribe("out")
    flooder.start()
    try:
        eventually(lambda: host.plugins["flooder"].budget.delayed > 0)  # the flooder is at its bound
        om_client.publish("go", Ping())
        assert sender.done.wait(10)
        seqs = _seqs(om_client, "out", 500)
    finally:
        flooder.join()

    assert seqs == list(range(500))
    budget = host.plugins["sender"].budget
    assert (budget.delayed, budget.dropped) == (0, 0)


def test_a_publish_over_the_budget_waits_for_it_and_is_not_lost(om_host, om_client):
    sender = Sender(count=110)
    host = om_host(("sender", sender), config={"sender": {"PUBLISH_RATE": 200, "PUBLISH_BURST": 10}})
    om_client.subscribe("out")

    om_client.publish("go", Ping())
    assert sender.done.wait(10)

    assert _seqs(om_client, "out", 110) == list(range(110))
    assert sender.took >= 100 / 200 * 0.9  # 10 at once, then 100 at 200 per second
    budget = host.plugins["sender"].budget
    assert 0 < budget.delayed <= 100  # a send that finds its slot already past (the sleeps overshoot) needs no wait
    assert budget.dropped == 0


def test_a_publish_that_would_wait_longer_than_publish_wait_is_dropped_counted_and_logged(om_host, om_client, caplog):
    sender = Sender(count=50)
    host = om_host(("sender", sender), config={"sender": {"PUBLISH_RATE": 1, "PUBLISH_BURST": 5, "PUBLISH_WAIT": 0}})
    om_client.subscribe("out")

    om_client.publish("go", Ping())
    assert sender.done.wait(10)

    assert _seqs(om_client, "out", 5) == [0, 1, 2, 3, 4]
    om_client.assert_no_message("out", timeout=0.3)
    budget = host.plugins["sender"].budget
    assert budget.dropped == 45
    lines = [record.getMessage() for record in caplog.records if "dropped a message it sent" in record.getMessage()]
    assert lines == ["plugin sender: dropped a message it sent: its publish budget is spent; "
                     "0 more dropped since the last report, 1 in all"]


def test_publish_drops_are_in_the_host_pong_and_in_prometheus_per_plugin(om_host, om_client):
    sender, healthy = Sender(count=8), Healthy()
    host = om_host(("sender", sender), ("healthy", healthy),
                   config={"sender": {"PUBLISH_RATE": 1, "PUBLISH_BURST": 2, "PUBLISH_WAIT": 0}})

    om_client.publish("go", Ping())
    assert sender.done.wait(10)

    metrics = {metric["id"]: metric for metric in om_client.get_health("openmodule_host")["metrics"]}
    assert metrics["plugin_publish_dropped"]["values"] == {
        '{"compute_id":"1","plugin":"healthy"}': 0, '{"compute_id":"1","plugin":"sender"}': 6,
    }
    assert metrics["plugin_publish_delayed"]["type"] == "count"
    samples = {
        (sample.name, sample.labels.get("plugin")): sample.value
        for family in text_string_to_metric_families(generate_latest(host_registry(host)).decode())
        for sample in family.samples
    }
    assert samples[("openmodule_host_plugin_publish_dropped_total", "sender")] == 6
    assert samples[("openmodule_host_plugin_publish_dropped_total", "healthy")] == 0
    assert samples[("openmodule_host_publisher_dropped_total", None)] == 0


def test_rpc_replies_go_out_even_when_the_plugin_spent_its_budget(om_host, om_client):
    class SpentServer(Healthy):
        @hookimpl
        def register_handlers(self, core):
            super().register_handlers(core)
            for seq in range(10):  # spends its budget (1 message, no waiting) at once
                core.publish(Ping(seq=seq), "out")

    server = SpentServer()
    host = om_host(("server", server), config={"server": {"PUBLISH_RATE": 0.1, "PUBLISH_BURST": 1,
                                                         "PUBLISH_WAIT": 0}})
    assert host.plugins["server"].budget.dropped == 9

    for value in range(20):
        reply = om_client.rpc("healthy", "echo", {"value": value})
        assert reply["response"] == {"status": "ok", "value": value}
    assert host.plugins["server"].budget.dropped == 9


def test_an_rpc_request_over_the_budget_fails_at_once_instead_of_timing_out(om_host, om_client):
    class Caller:
        core = None

        @hookimpl
        def register_handlers(self, core):
            self.core = core

    healthy, caller = Healthy(), Caller()
    host = om_host(("healthy", healthy), ("caller", caller),
                   config={"caller": {"PUBLISH_RATE": 0.1, "PUBLISH_BURST": 1, "PUBLISH_WAIT": 0}})
    client = caller.core.rpc_client

    assert client.rpc("healthy", "echo", {"value": 1}, Echo).value == 1
    started = time.monotonic()
    with pytest.raises(RPCTimeoutError, match="not sent: plugin caller's publish budget"):
        client.rpc("healthy", "echo", {"value": 2}, Echo, timeout=3.0)
    assert time.monotonic() - started < 1.0
    assert host.plugins["caller"].budget.dropped == 1


def test_the_budget_comes_from_the_host_settings_and_a_plugin_table_overrides_it(om_host, om_client):
    quiet, loud = Recorder(), Recorder("u")
    host = om_host(("quiet", quiet), ("loud", loud), publish_rate=50, publish_burst=5, publish_wait=0.5,
                   config={"loud": {"PUBLISH_RATE": 0}})

    budget = host.plugins["quiet"].budget
    assert (budget.rate, budget.burst, budget.wait) == (50, 5, 0.5)
    assert host.plugins["loud"].budget.rate == 0  # unbounded
    assert host.plugins["quiet"].core.config.PUBLISH_RATE == 50


@pytest.mark.parametrize("table", [{"PUBLISH_RATE": -1}, {"PUBLISH_BURST": 0}, {"PUBLISH_WAIT": -0.1}])
def test_a_negative_rate_or_wait_or_an_empty_burst_is_a_config_error(om_host, table):
    with pytest.raises(ConfigError, match="PUBLISH_"):
        om_host(("quiet", Recorder()), config={"quiet": table})


#: for a child process (``ISOLATION = "process"``), which imports it by name: sends 8 messages on ``out``
#: when a ``go`` message arrives.
burst_of_eight = Sender(count=8)


def test_a_plugin_in_a_child_process_publishes_within_its_budget_there(om_host, om_client):
    om_host(("sender", "tests.test_flood:burst_of_eight"),
            config={"sender": {"ISOLATION": "process", "PUBLISH_RATE": 1, "PUBLISH_BURST": 2, "PUBLISH_WAIT": 0}})
    om_client.subscribe("out")

    om_client.publish("go", Ping())

    assert _seqs(om_client, "out", 2) == [0, 1]
    om_client.assert_no_message("out", timeout=1.0)


def test_a_full_publish_queue_refuses_and_counts_what_a_pub_socket_would_drop_silently():
    context = zmq.Context()
    try:
        # A broker that has stopped reading: an XSUB socket that subscribes to everything and waits.
        broker = context.socket(zmq.XSUB)
        broker.setsockopt(zmq.RCVHWM, 10)
        port = broker.bind_to_random_port("tcp://127.0.0.1")
        broker.send(b"\x01")
        publisher = Publisher(context, f"tcp://127.0.0.1:{port}", send_hwm=10)
        eventually(lambda: publisher.send("x", b"probe") and broker.poll(100) and broker.recv_multipart())
        while broker.poll(100):
            broker.recv_multipart()
        total = 50_000

        sent = sum(publisher.send("x", b"y" * 1000) for _ in range(total))

        received = 0
        while broker.poll(500):
            assert broker.recv_multipart() == [b"x", b"y" * 1000]
            received += 1
        assert publisher.dropped > 0
        assert sent + publisher.dropped == total
        assert received == sent
        publisher.close()
    finally:
        context.destroy(linger=0)
