"""Variant (a2), raw pyzmq with a pydantic model: what a service without a framework does that keeps its
messages as models. Per message: a plain pydantic ``BaseModel`` (the envelope's fields, ``timestamp`` a
float from ``time.time``), its ``model_dump_json`` as bytes (pydantic's serializer, ``to_json``), and two
``send`` calls on a PUB socket.
"""

from __future__ import annotations

import time

import zmq
from pydantic import BaseModel, Field

from ..protocol import SENDER_NAME, TOPIC, TYPE
from . import DATA, drive, parse_args
from .raw import pub_socket


class BenchMessage(BaseModel):
    timestamp: float = Field(default_factory=time.time)
    name: str = SENDER_NAME
    type: str = TYPE
    seq: int
    data: str


def main() -> None:
    args = parse_args(__doc__ or "")
    context = zmq.Context()
    socket = pub_socket(context, args.sub)
    topic, to_json, more = TOPIC.encode(), BenchMessage.__pydantic_serializer__.to_json, zmq.SNDMORE

    def publish(seq: int) -> None:
        socket.send(topic, more)
        socket.send(to_json(BenchMessage(seq=seq, data=DATA)))

    drive(publish, args.messages)
    socket.close(linger=1000)
    context.term()


if __name__ == "__main__":
    main()
