"""Variant (a) client, raw pyzmq: PUB a request with an id, SUB the reply topic, match replies by id.

Replies come back in order from the one server, so waiting for the oldest call is normally one ``recv``;
a reply for another id (a late probe) is kept aside.
"""

from __future__ import annotations

import time
from typing import Any

import orjson
import zmq

from ..driver import run_client
from ..protocol import CLIENT_NAME, REPLY_TOPIC, REQUEST_TOPIC, TEXT, TYPE, parse_client_args


def rpc_id(seq: int) -> str:
    """A UUID-sized id derived from ``seq`` (the real clients send a ``uuid4``; this keeps the size)."""
    return f"00000000-0000-4000-8000-{seq:012d}"


class RawCalls:
    def __init__(self, context: zmq.Context, broker_sub: str, broker_pub: str) -> None:
        self.pub = context.socket(zmq.PUB)
        self.sub = context.socket(zmq.SUB)
        for sock in (self.pub, self.sub):
            sock.setsockopt(zmq.LINGER, 0)
        self.sub.connect(broker_pub)
        self.sub.setsockopt(zmq.SUBSCRIBE, REPLY_TOPIC.encode())
        self.pub.connect(broker_sub)
        self._topic = REQUEST_TOPIC.encode()
        self._early: dict[str, dict[str, Any]] = {}

    def send(self, seq: int) -> str:
        ident = rpc_id(seq)
        body = orjson.dumps({
            "timestamp": time.time(),
            "name": CLIENT_NAME,
            "type": TYPE,
            "rpc_id": ident,
            "request": {"seq": seq, "text": TEXT},
        })
        self.pub.send(self._topic, zmq.SNDMORE)
        self.pub.send(body)
        return ident

    def _receive(self, ident: str, timeout_ms: int | None = None) -> dict[str, Any] | None:
        if (reply := self._early.pop(ident, None)) is not None:
            return reply
        while True:
            if timeout_ms is not None and not self.sub.poll(timeout_ms):
                return None
            _topic, body = self.sub.recv_multipart()
            reply = orjson.loads(body)
            if reply["rpc_id"] == ident:
                return reply
            self._early[reply["rpc_id"]] = reply

    def wait(self, ident: str) -> None:
        reply = self._receive(ident)
        if reply is None or reply["response"]["seq"] != int(ident[24:]):
            raise RuntimeError(f"wrong reply for {ident}: {reply}")

    def call(self, seq: int) -> None:
        self.wait(self.send(seq))

    def probe(self, seq: int, timeout: float) -> bool:
        return self._receive(self.send(seq), round(timeout * 1000)) is not None


def main() -> None:
    args = parse_client_args(__doc__ or "")
    context = zmq.Context()
    run_client(RawCalls(context, args.sub, args.pub), args)
    context.destroy(linger=0)


if __name__ == "__main__":
    main()
