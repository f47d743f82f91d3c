"""The intake's routing table on a real broker: changes are per topic, and a swap loses or doubles nothing."""

import logging
import threading
import time

import orjson
import pytest
import zmq

from openmodule_host.wire import Intake, Publisher, Route, wait_for_connection
from openmodule_host.wire.connection_check import ping_intervals
from tests.support import eventually

LOG = logging.getLogger("test")


class Deliveries:
    """A mailbox for the intake that delivers at once, on the intake thread, and notes who got what."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, int]] = []

    def offer_many(self, items):
        for deliver, body in items:
            deliver(body)
        return len(items)

    def route(self, name: str, *, raw: bool) -> Route:
        def decoded(body):
            self.seen.append((name, body["n"]))

        def undecoded(data: bytes):
            self.seen.append((name, orjson.loads(data)["n"]))

        return Route(type="count", post=decoded, mailbox=self, deliver=decoded, deliver_raw=undecoded if raw else None)


@pytest.fixture
def wired(om_broker):
    context = zmq.Context()
    intake = Intake(context, om_broker.pub_address, max_body_bytes=1 << 20, log=LOG)
    intake.start()
    publisher = Publisher(context, om_broker.sub_address)
    wait_for_connection(intake, publisher, "test", 10)
    yield intake, publisher
    intake.stop()
    publisher.close()
    context.destroy(linger=0)


def test_routes_swapped_under_a_flood_deliver_every_message_exactly_once(wired):
    intake, publisher = wired
    mailbox = Deliveries()
    # an undecoded route (the topic's only one takes the raw shortcut), and decoded ones
    routes = [mailbox.route("raw", raw=True), mailbox.route("decoded", raw=False), mailbox.route("raw2", raw=True)]
    intake.add("counts", routes[0])
    wait_for_connection(intake, publisher, "test", 10)  # the subscription is through
    total = 20_000
    done = threading.Event()

    def swap():
        current = 0
        while not done.is_set():
            following = (current + 1) % len(routes)
            intake.replace("counts", routes[current], routes[following])
            current = following

    swapper = threading.Thread(target=swap)
    swapper.start()
    try:
        for n in range(total):
            publisher.send("counts", orjson.dumps({"type": "count", "name": "x", "n": n}))
        eventually(lambda: len(mailbox.seen) >= total, timeout=30)
    finally:
        done.set()
        swapper.join()
    assert sorted(n for _, n in mailbox.seen) == list(range(total))  # none lost, none twice
    assert {name for name, _ in mailbox.seen} == {"raw", "decoded", "raw2"}


def test_adding_and_removing_one_topic_leaves_the_others_as_they_were(wired):
    intake, _ = wired
    mailbox = Deliveries()
    routes = {f"topic_{index}": mailbox.route(f"r{index}", raw=index % 2 == 0) for index in range(2000)}
    before = set(intake.topics)
    for topic, route in routes.items():
        intake.add(topic, route)
    table, raw_table = intake._routes, intake._raw_routes
    intake.remove("topic_7", routes["topic_7"])
    assert intake._routes is table and intake._raw_routes is raw_table  # changed in place, not copied
    assert set(intake.topics) == before | set(routes) - {"topic_7"}
    assert len(raw_table) == 1000
    for topic, route in routes.items():
        intake.remove(topic, route)
    assert set(intake.topics) == before and not set(raw_table) - {topic.encode() for topic in before}


def test_a_burst_of_new_topics_loses_no_subscription(wired):
    intake, publisher = wired
    mailbox = Deliveries()
    topics = [f"burst_{index}" for index in range(5000)]
    for index, topic in enumerate(topics):  # far more subscriptions at once than a socket queues by default
        intake.add(topic, mailbox.route(f"r{index}", raw=False))
    wait_for_connection(intake, publisher, "test", 60)  # 5000 subscriptions first: slow on a loaded machine
    for index, topic in enumerate(topics):
        publisher.send(topic, orjson.dumps({"type": "count", "name": "x", "n": index}))
    eventually(lambda: len(mailbox.seen) >= len(topics), timeout=20)
    assert sorted(n for _, n in mailbox.seen) == list(range(len(topics)))


def test_a_route_with_a_mailbox_but_no_deliver_is_posted(wired):
    """Only a route with both a mailbox and its ``deliver`` is queued for the mailbox; one without ``deliver``
    gets its messages through ``post`` (they were queued as ``(None, body)`` before: a failure per message)."""
    intake, publisher = wired
    mailbox = Deliveries()
    posted = []
    intake.add("posted", Route(type="count", post=posted.append, mailbox=mailbox))
    wait_for_connection(intake, publisher, "test", 10)  # the subscription is through
    publisher.send("posted", orjson.dumps({"type": "count", "name": "x", "n": 1}))
    eventually(lambda: posted, timeout=10)
    assert [body["n"] for body in posted] == [1]
    assert mailbox.seen == []
    assert intake.heartbeat.errors == 0


def test_the_connection_check_pings_again_after_1_ms_and_doubles_the_wait_up_to_openmodules_0_1_s():
    intervals = ping_intervals()
    assert [next(intervals) for _ in range(10)] == [0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.1, 0.1, 0.1]


def test_the_connection_check_leaves_no_ping_subscription_behind(wired):
    intake, publisher = wired
    wait_for_connection(intake, publisher, "test", 10)
    assert [topic for topic in intake.topics if topic.startswith("__ping_")] == []


class AlwaysBehind:
    """A mailbox whose worker never catches up, and counts how often the intake looked."""

    def __init__(self) -> None:
        self.asked = 0

    def crowded(self) -> bool:
        self.asked += 1
        return True


def test_the_intake_lets_a_crowded_mailbox_catch_up_for_2_ms_a_batch_at_most():
    behind = AlwaysBehind()
    started = time.monotonic()
    Intake._catch_up([behind])
    took = time.monotonic() - started
    assert 0.002 <= took < 0.5  # (the bound is 2 ms, plus at most one sleep step late on a loaded machine)
    assert behind.asked >= 2  # it looked again after sleeping, in steps of 0.1 ms
