"""The embedded broker passes on every subscription and every message of a burst."""

from __future__ import annotations

import time

import zmq

from openmodule_host.testing import PrivateBroker


def test_a_burst_of_20000_subscriptions_reaches_the_publisher_whole(om_broker: PrivateBroker) -> None:
    """Each subscription travels SUB -> XPUB -> XSUB -> PUB, and the PUB filters by what reached it: a
    subscription the broker dropped is a topic on which nothing ever arrives (2,000-2,400 of 20,000 were
    lost at libzmq's default send high-water mark of 1000)."""
    context = zmq.Context()
    try:
        publisher = context.socket(zmq.PUB)
        publisher.setsockopt(zmq.SNDHWM, 0)  # the test's own sockets drop nothing: only the broker could
        publisher.connect(om_broker.sub_address)
        subscriber = context.socket(zmq.SUB)
        subscriber.setsockopt(zmq.SNDHWM, 0)
        subscriber.setsockopt(zmq.RCVHWM, 0)
        subscriber.connect(om_broker.pub_address)
        topics = [f"burst_{index}_".encode() for index in range(20_000)]
        for topic in topics:
            subscriber.setsockopt(zmq.SUBSCRIBE, topic)
        # Subscriptions travel in order, so once the last one is through, each of the others is through or lost.
        deadline = time.monotonic() + 60
        while not subscriber.poll(10):
            assert time.monotonic() < deadline, "the last subscription never reached the publisher"
            publisher.send_multipart([topics[-1], b"ping"])
        received: set[bytes] = set()
        for topic in topics:
            publisher.send_multipart([topic, b"message"])
        deadline = time.monotonic() + 30
        while len(received) < len(topics) and time.monotonic() < deadline:
            if subscriber.poll(100):
                received.add(subscriber.recv_multipart()[0])
        assert len(topics) - len(received) == 0
    finally:
        context.destroy(linger=0)
