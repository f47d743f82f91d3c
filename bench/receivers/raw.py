"""Variant (a), raw pyzmq: one SUB socket, ``recv_multipart`` + ``orjson.loads``, nothing else."""

from __future__ import annotations

import orjson
import zmq

from ..protocol import TOPIC
from ..tally import Tally
from . import parse_args


def main() -> None:
    args = parse_args(__doc__ or "")
    context = zmq.Context()
    sub = context.socket(zmq.SUB)
    sub.setsockopt(zmq.LINGER, 0)
    sub.connect(args.pub)
    sub.setsockopt(zmq.SUBSCRIBE, TOPIC.encode())
    tally = Tally()
    recv, loads = sub.recv_multipart, orjson.loads
    while True:
        _topic, body = recv()
        if tally(loads(body)["seq"]):
            break
    sub.close()
    context.term()


if __name__ == "__main__":
    main()
