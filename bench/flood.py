"""``python -m bench.flood``: what a flooding plugin costs a healthy neighbour in the same host.

One host (thread isolation, embedded broker) runs two plugins:

- *flooder* publishes ``Ping`` on ``flood`` as fast as it can from ``--flood-threads`` threads of its own,
  and subscribes to ``flood`` itself (so every flooded message also goes through the host's intake);
- *healthy* counts the ``Ping`` messages on ``t`` and serves the RPC ``healthy``/``echo``.

The host runs in a child process; this process is the outside peer, as another service would be: it
sends ``--messages`` messages on ``t`` at ``--rate`` per second and, meanwhile, calls ``healthy``/``echo``
one call at a time (timed from the request to the reply, 3 s timeout). A *witness* SUB socket of it,
subscribed to ``t`` and ``rpc-rep-healthy`` on the broker, tells where a loss happened: a message the
witness got but the healthy plugin did not was lost between the broker's XPUB and the host's SUB; a reply
the witness never saw was lost before the broker (the host's PUB).

Prints one line of figures per round (about 10 s each). ``--flooder '{"PUBLISH_RATE": 0}'`` runs the flooder
without its publish budget.
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import threading
import time
import uuid
from typing import Any

import orjson
import zmq
from openmodule_hookspecs import ZMQMessage, hookimpl
from pydantic import BaseModel

from openmodule_host import Host, HostConfig
from openmodule_host.loader import PluginCandidate
from openmodule_host.testing import free_tcp_address


class Ping(ZMQMessage):
    type: str = "ping"
    seq: int = 0


class Echo(BaseModel):
    value: int = 0


class Flooder:
    def __init__(self, threads: int) -> None:
        self.threads = threads
        #: publishes that returned, and that raised (summed when each thread ends).
        self.published = 0
        self.refused = 0
        self.stop = threading.Event()
        self._workers: list[threading.Thread] = []
        self._lock = threading.Lock()

    @hookimpl
    def register_handlers(self, core: Any) -> None:
        core.messages.register_handler("flood", Ping, lambda message: None)
        self._core = core

    def start(self) -> None:
        for _ in range(self.threads):
            worker = threading.Thread(target=self._flood, daemon=True)
            worker.start()
            self._workers.append(worker)

    def _flood(self) -> None:
        message, published, refused = Ping(seq=0), 0, 0
        while not self.stop.is_set():
            try:
                self._core.publish(message, "flood")
                published += 1
            except Exception:
                refused += 1
        with self._lock:
            self.published += published
            self.refused += refused

    def join(self) -> None:
        self.stop.set()
        for worker in self._workers:
            worker.join(5)


class Healthy:
    def __init__(self) -> None:
        self.seqs: set[int] = set()

    @hookimpl
    def register_handlers(self, core: Any) -> None:
        core.messages.register_handler("t", Ping, lambda message: self.seqs.add(message.seq))
        core.rpc_server.register_handler("healthy", "echo", Echo, Echo, lambda request, _message: request)


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else float("nan")


def _host_process(connection: Any, sub_address: str, pub_address: str, flood_threads: int,
                  settings: dict[str, Any], flooder_table: dict[str, Any]) -> None:
    """The host under test, in a process of its own (as in production: the outside peer is another
    process, and must not share the host's GIL). Answers the parent's commands over ``connection``."""
    flooder, healthy = Flooder(flood_threads), Healthy()
    config = HostConfig(broker="embedded", broker_sub=sub_address, broker_pub=pub_address, dsgvo=False,
                        plugins={"flooder": flooder_table}, **settings)
    candidates = [PluginCandidate.from_object("flooder", flooder), PluginCandidate.from_object("healthy", healthy)]
    host = Host(config, candidates, report=lambda line: None)
    host.start()
    try:
        connection.send("ready")
        connection.recv()
        flooder.start()
        started = time.monotonic()
        connection.send("flooding")
        connection.recv()
        flooder.join()
        flooding = time.monotonic() - started
        plugins = host.plugins
        connection.send({
            "received": len(healthy.seqs),
            "flood_published": flooder.published, "flood_refused": flooder.refused,
            "intake_received": host.intake.stats.received if host.intake else 0,
            "mailbox_dropped": {name: plugin.worker.mailbox.dropped for name, plugin in plugins.items()
                                if plugin.worker},
            "publish_delayed": {name: plugin.budget.delayed for name, plugin in plugins.items() if plugin.budget},
            "publish_dropped": {name: plugin.budget.dropped for name, plugin in plugins.items() if plugin.budget},
            "publisher_dropped": host.publisher.dropped if host.publisher else 0,
            "flooding_s": flooding,
        })
    finally:
        flooder.join()
        host.stop()


def run(messages: int, rate: float, flood_threads: int, settings: dict[str, Any],
        flooder_table: dict[str, Any]) -> dict[str, Any]:
    sub_address, pub_address = free_tcp_address(), free_tcp_address()
    ours, theirs = multiprocessing.Pipe()
    process = multiprocessing.get_context("fork").Process(
        target=_host_process, args=(theirs, sub_address, pub_address, flood_threads, settings, flooder_table))
    process.start()
    context = zmq.Context()
    try:
        if not ours.poll(60):
            raise RuntimeError("the host did not start")
        ours.recv()
        pub = context.socket(zmq.PUB)
        pub.setsockopt(zmq.SNDHWM, 0)
        pub.connect(sub_address)
        sub = context.socket(zmq.SUB)
        sub.setsockopt(zmq.RCVHWM, 0)
        sub.connect(pub_address)
        witness = context.socket(zmq.SUB)
        witness.setsockopt(zmq.RCVHWM, 0)
        witness.connect(pub_address)
        for topic in (b"t", b"rpc-rep-healthy"):
            witness.setsockopt(zmq.SUBSCRIBE, topic)
        sub.setsockopt(zmq.SUBSCRIBE, b"rpc-rep-healthy")
        time.sleep(0.5)  # subscriptions reach the host's PUB and ours reach the broker

        ours.send("flood")
        ours.recv()
        time.sleep(0.5)  # the flood is on
        latencies: list[float] = []
        timeouts = 0
        sent_rpcs: list[str] = []
        interval = 1.0 / rate
        started = time.monotonic()
        next_rpc = started
        for seq in range(messages):
            due = started + seq * interval
            while (now := time.monotonic()) < due:
                if now >= next_rpc:
                    rpc_id = str(uuid.uuid4())
                    sent_rpcs.append(rpc_id)
                    body = orjson.dumps({"name": "outside", "type": "echo", "rpc_id": rpc_id,
                                         "timestamp": time.time(), "request": {"value": seq}})
                    sent = time.monotonic()
                    pub.send_multipart((b"rpc-req-healthy", body))
                    if sub.poll(3000):
                        while sub.poll(0):
                            sub.recv_multipart()
                        latencies.append(time.monotonic() - sent)
                    else:
                        timeouts += 1
                    next_rpc = time.monotonic() + 0.01
                else:
                    time.sleep(min(due - now, 0.0005))
            pub.send_multipart((b"t", orjson.dumps({"name": "outside", "type": "ping", "seq": seq,
                                                    "timestamp": time.time()})))
        time.sleep(2.0)  # let the queues drain
        ours.send("stop")
        counts = ours.recv()
        seen_t, seen_replies = 0, set()
        while witness.poll(200):
            topic, body = witness.recv_multipart()
            if topic == b"t":
                seen_t += 1
            else:
                seen_replies.add(orjson.loads(body).get("rpc_id"))
        for socket in (pub, sub, witness):
            socket.close(0)
        return {
            "sent": messages, "received": counts.pop("received"), "witness": seen_t,
            "rpcs": len(sent_rpcs), "timeouts": timeouts,
            "replies_missing_at_broker": len([rpc_id for rpc_id in sent_rpcs if rpc_id not in seen_replies]),
            "p50_ms": statistics.median(latencies) * 1000 if latencies else float("nan"),
            "p99_ms": _percentile(latencies, 0.99) * 1000, "max_ms": max(latencies, default=float("nan")) * 1000,
            "flood_per_s": counts["flood_published"] / counts["flooding_s"] if counts["flooding_s"] else 0.0,
            **counts,
        }
    finally:
        process.join(30)
        context.destroy(0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.flood", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=10_000, help="messages sent to the healthy plugin")
    parser.add_argument("--rate", type=float, default=2_000, help="their rate, messages per second")
    parser.add_argument("--flood-threads", type=int, default=4, help="threads of the flooder publishing")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--flooder", default="{}", help="the flooder's plugin table as JSON")
    parser.add_argument("--host", default="{}", help="host settings as JSON")
    args = parser.parse_args(argv)
    for _ in range(args.rounds):
        result = run(args.messages, args.rate, args.flood_threads, orjson.loads(args.host), orjson.loads(args.flooder))
        print(" ".join(f"{key}={value:.2f}" if isinstance(value, float) else f"{key}={value}"
                       for key, value in result.items()), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
