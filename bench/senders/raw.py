"""Variant (a), raw pyzmq: what a service does without a framework, the same message as the others.

Per message: a dict (the envelope: ``timestamp``, ``name``, ``type``, ``seq``, ``data``), ``orjson.dumps``,
and two ``send`` calls on a PUB socket.
"""

from __future__ import annotations

import time

import orjson
import zmq

from ..protocol import SENDER_NAME, TOPIC, TYPE
from . import DATA, drive, parse_args


def pub_socket(context: zmq.Context[zmq.Socket[bytes]], address: str) -> zmq.Socket[bytes]:
    """A PUB socket connected to the broker's XSUB ``address`` that never drops (no send high-water mark)."""
    socket = context.socket(zmq.PUB)
    socket.setsockopt(zmq.SNDHWM, 0)
    socket.connect(address)
    return socket


def main() -> None:
    args = parse_args(__doc__ or "")
    context = zmq.Context()
    socket = pub_socket(context, args.sub)
    topic, now, dumps, more = TOPIC.encode(), time.time, orjson.dumps, zmq.SNDMORE

    def publish(seq: int) -> None:
        socket.send(topic, more)
        socket.send(dumps({"timestamp": now(), "name": SENDER_NAME, "type": TYPE, "seq": seq, "data": DATA}))

    drive(publish, args.messages)
    socket.close(linger=1000)
    context.term()


if __name__ == "__main__":
    main()
