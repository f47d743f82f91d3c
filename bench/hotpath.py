"""``python -m bench.hotpath``: CPU time per message of the host's hot-path steps, in one process.

The flood benchmarks measure whole processes on a shared machine, where a change of a few tenths of a
microsecond is lost in the noise. This one times single steps with the real objects, one thread, as CPU
time (``time.process_time``), the steps interleaved round by round; it prints the minimum and the median
over rounds per step. Run it on two checkouts to compare (``PYTHONPATH=<checkout>:<checkout>/hookspecs``).

Steps: the envelope's ``validate_json`` (the plugin worker's main cost), a listener's whole ``deliver_raw``
(validation, checks, handler call, counters), building a message, its wire body, and sending it (built,
encoded and published through the host's :class:`~openmodule_host.wire.Publisher`) against raw pyzmq
(``orjson.dumps`` of a dict and two ``send`` calls), both to a bound XSUB socket on loopback; an RPC
request's id and body, and a reply's body.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import time
import uuid
from collections.abc import Callable

import orjson
import zmq
from openmodule_hookspecs import OpenModuleModel, RPCRequest, ZMQMessage, dumps

from openmodule_host.core import message_body
from openmodule_host.rpc.client import _uuid4
from openmodule_host.stats import PluginStats
from openmodule_host.wire import Publisher
from openmodule_host.wire.codec import DecodeError
from openmodule_host.wire.listener import Listener


class BenchMessage(ZMQMessage):
    type: str = "bench"
    seq: int
    data: str


class EchoRequest(OpenModuleModel):
    seq: int
    text: str


class _Drops:
    max_depth = 64

    def malformed(self, error: DecodeError) -> None:
        raise AssertionError(error)

    def unrouted(self) -> None:
        raise AssertionError("unrouted")


DATA = "x" * 50
BODY = dumps({"timestamp": time.time(), "name": "sender", "type": "bench", "seq": 12345, "data": DATA})
RPC_BODY = dumps({"timestamp": time.time(), "name": "client", "type": "echo", "rpc_id": str(uuid.uuid4()),
                  "request": {"seq": 1, "text": "x" * 21}})


def _steps(context: zmq.Context[zmq.Socket[bytes]], endpoint: str) -> dict[str, Callable[[], object]]:
    handled = [0]

    def handler(message: BenchMessage) -> None:
        handled[0] += 1

    listener = Listener("bench", "receiver", "bench", BenchMessage, handler, None, True, PluginStats(),
                        logging.getLogger("bench.hotpath"), _Drops())
    deliver_raw = listener.deliver_raw
    assert deliver_raw is not None
    validate_json = BenchMessage.__pydantic_validator__.validate_json
    validate_request = RPCRequest.__pydantic_validator__.validate_json
    publisher = Publisher(context, endpoint)
    raw = context.socket(zmq.PUB)
    raw.connect(endpoint)
    message = BenchMessage(seq=1, data=DATA)

    def host_send() -> None:
        publisher.send("bench", message_body(BenchMessage(seq=1, data=DATA), "sender"))

    def raw_send() -> None:
        raw.send(b"bench", zmq.SNDMORE)
        raw.send(orjson.dumps({"timestamp": time.time(), "name": "sender", "type": "bench", "seq": 1, "data": DATA}))

    request = EchoRequest(seq=1, text="x" * 21)
    request_id = uuid.uuid4()

    def rpc_request() -> bytes:  # what RPCCalls.send and the plugin's client build (no trace headers)
        return dumps({"timestamp": time.time(), "name": "client", "type": "echo", "rpc_id": _uuid4(),
                      "request": request.model_dump()})

    def rpc_reply() -> bytes:  # what the server's serve and _body build for an answer
        data = request.model_dump()
        data["status"] = "ok"
        return dumps({"timestamp": time.time(), "name": "server", "type": "echo", "rpc_id": request_id,
                      "response": data})

    return {
        "receive: envelope validate_json": lambda: validate_json(BODY),
        "receive: listener deliver_raw": lambda: deliver_raw(BODY),
        "receive: RPC request envelope validate_json": lambda: validate_request(RPC_BODY),
        "send: build a message": lambda: BenchMessage(seq=1, data=DATA),
        "send: its wire body (message_body)": lambda: message_body(message, "sender"),
        "send: build, encode, publish (host)": host_send,
        "send: dict, orjson, two sends (raw pyzmq)": raw_send,
        "RPC client: request id": _uuid4,
        "RPC client: request body (id, model_dump, envelope, dumps)": rpc_request,
        "RPC server: reply body (model_dump, envelope, dumps)": rpc_reply,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.hotpath", description=__doc__)
    parser.add_argument("--rounds", type=int, default=11, help="interleaved rounds (default %(default)s)")
    parser.add_argument("--calls", type=int, default=20_000, help="calls per step and round (default %(default)s)")
    args = parser.parse_args(argv)
    context: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
    sink = context.socket(zmq.XSUB)
    port = sink.bind_to_random_port("tcp://127.0.0.1")
    steps = _steps(context, f"tcp://127.0.0.1:{port}")
    time.sleep(0.2)  # the connections are up
    times: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(args.rounds):
        for name, step in steps.items():
            start = time.process_time()
            for _ in range(args.calls):
                step()
            times[name].append((time.process_time() - start) / args.calls * 1e6)
    print("| step | CPU us per call, min | median |")
    print("|---|---:|---:|")
    for name, values in times.items():
        print(f"| {name} | {min(values):.2f} | {statistics.median(values):.2f} |")
    context.destroy(linger=0)


if __name__ == "__main__":
    main()
