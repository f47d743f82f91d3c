"""Variant (a) server, raw pyzmq: SUB the request topic, ``orjson.loads``, PUB the echo with the same id.

The reply has openmodule's shape (``rpc_id``, ``response`` with ``status: ok``) but nothing else is done:
no validation, no routing, one thread.
"""

from __future__ import annotations

import time

import orjson
import zmq

from ...protocol import emit
from ...threads import thread_names
from ..protocol import REPLY_TOPIC, REQUEST_TOPIC, SERVER_NAME, parse_server_args


def main() -> None:
    args = parse_server_args(__doc__ or "")
    context = zmq.Context()
    sub = context.socket(zmq.SUB)
    pub = context.socket(zmq.PUB)
    for sock in (sub, pub):
        sock.setsockopt(zmq.LINGER, 0)
    sub.connect(args.pub)
    sub.setsockopt(zmq.SUBSCRIBE, REQUEST_TOPIC.encode())
    pub.connect(args.sub)
    emit("ready", threads=thread_names())
    recv, send, loads, dumps = sub.recv_multipart, pub.send, orjson.loads, orjson.dumps
    topic, more = REPLY_TOPIC.encode(), zmq.SNDMORE
    while True:
        _topic, body = recv()
        request = loads(body)
        reply = dumps({
            "timestamp": time.time(),
            "name": SERVER_NAME,
            "type": request["type"],
            "rpc_id": request["rpc_id"],
            "response": {**request["request"], "status": "ok"},
        })
        send(topic, more)
        send(reply)


if __name__ == "__main__":
    main()
