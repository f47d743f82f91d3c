"""A publisher in a process of its own, as fast as raw pyzmq goes (no GIL shared with the host under test):
``python -m tests.support.flood_publisher BROKER_SUB TOPIC COUNT``.

It publishes ``{"type": "ping", "seq": 0}`` every 10 ms until a line arrives on stdin (the test saw one: the
path is up), then ``seq`` 1 to COUNT, pre-built, with two plain ``send`` calls each, and exits.
"""

from __future__ import annotations

import sys
import threading
import time

import orjson
import zmq


def main(broker_sub: str, topic: str, count: int) -> None:
    context = zmq.Context()
    pub = context.socket(zmq.PUB)
    pub.setsockopt(zmq.SNDHWM, 0)
    pub.setsockopt(zmq.LINGER, -1)  # everything leaves before the process ends
    pub.connect(broker_sub)
    key = topic.encode()

    def body(seq: int) -> bytes:
        return orjson.dumps({"name": "flood", "timestamp": time.time(), "type": "ping", "seq": seq})

    go = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.readline(), go.set()), daemon=True).start()
    while not go.wait(0.01):
        pub.send(key, zmq.SNDMORE)
        pub.send(body(0))
    bodies = [body(seq) for seq in range(1, count + 1)]
    send = pub.send
    for raw in bodies:
        send(key, zmq.SNDMORE)
        send(raw)
    pub.close()
    context.term()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
