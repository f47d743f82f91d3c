"""The peers of ``python -m bench rpc-trace``: one sequential call at a time, each stamped where it passes.

``python -m bench.rpc.peers.traced server|client --variant raw|host --sub ADDR --pub ADDR [--calls N]``

Every stamp is ``time.perf_counter_ns()``, which on Linux reads ``CLOCK_MONOTONIC``: one clock for every
process of the machine, so a stamp taken in the server can be compared with one taken in the client.
The points, in the order a call passes them:

| point | raw pyzmq | openmodule-host |
|---|---|---|
| ``t0`` | the client starts the call | the same |
| ``sent`` | its two ``send`` calls returned | ``rpc_non_blocking`` returned (request built and published) |
| ``s_in`` | the server's ``recv`` returned | the server's intake starts routing the batch it read |
| ``offered`` | - | the intake has put the request in the plugin's mailbox (and woken its worker) |
| ``woke`` | - | the plugin's worker has taken it out |
| ``s_work`` | - | the handler is called (the envelope and request validated) |
| ``s_sent`` | the reply's two ``send`` calls returned | the reply's publish returned |
| ``c_in`` | - | the client's intake hands the reply to its call |
| ``t1`` | the client has the reply decoded | the caller has the validated response |

The host's points are taken by wrapping five of its methods (the intake's ``_route``, the mailbox's
``offer_many`` and ``take``, the RPC server's ``_send``, the RPC client's ``_on_reply``): a reading of the
clock and a Python call each, which the untraced ``bench rpc`` does not pay.

The server waits for a ``report`` line on stdin, then reports its stamps by call (``points``); the client
connects, warms up, says ``begin``, makes its calls on ``go``, reports its own stamps and stays (its threads
running) until stdin closes.
"""

from __future__ import annotations

import argparse
import functools
import sys
import time
from collections.abc import Callable
from typing import Any

import orjson
import zmq

from ...protocol import emit
from ...threads import thread_names
from ..protocol import CHANNEL, REPLY_TOPIC, REQUEST_TOPIC, SERVER_NAME, TYPE, wait_for_go

__all__ = ["main"]

_WARMUP = 300
_PROBE_TIMEOUT = 0.5
#: probes and warm-up calls count from here: their stamps are not reported (measured calls count from 0)
_UNMEASURED = 10**6

Stamps = dict[int, dict[str, int]]
stamp = time.perf_counter_ns


def _after(owner: type, name: str, point: str, latest: dict[str, int]) -> None:
    """Wrap ``owner.name`` so that it notes in ``latest[point]`` when it returned."""
    original = getattr(owner, name)

    @functools.wraps(original)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        try:
            return original(*args, **kwargs)
        finally:
            latest[point] = stamp()

    setattr(owner, name, wrapped)


def _before(owner: type, name: str, point: str, latest: dict[str, int]) -> None:
    """Wrap ``owner.name`` so that it notes in ``latest[point]`` when it was called."""
    original = getattr(owner, name)

    @functools.wraps(original)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        latest[point] = stamp()
        return original(*args, **kwargs)

    setattr(owner, name, wrapped)


# -- servers ------------------------------------------------------------------------------------------


def _raw_server(args: argparse.Namespace) -> Stamps:
    """bench.rpc.peers.raw_server's loop, stamped; it ends when stdin says ``report``."""
    context = zmq.Context()
    sub, pub = context.socket(zmq.SUB), context.socket(zmq.PUB)
    for sock in (sub, pub):
        sock.setsockopt(zmq.LINGER, 0)
    sub.connect(args.pub)
    sub.setsockopt(zmq.SUBSCRIBE, REQUEST_TOPIC.encode())
    pub.connect(args.sub)
    poller = zmq.Poller()
    poller.register(sub, zmq.POLLIN)
    poller.register(sys.stdin.fileno(), zmq.POLLIN)
    emit("ready", threads=thread_names())
    stamps: Stamps = {}
    topic = REPLY_TOPIC.encode()
    while sub in dict(poller.poll()):
        _topic, body = sub.recv_multipart()
        received = stamp()
        request = orjson.loads(body)
        reply = orjson.dumps({
            "timestamp": time.time(), "name": SERVER_NAME, "type": request["type"], "rpc_id": request["rpc_id"],
            "response": {**request["request"], "status": "ok"},
        })
        pub.send(topic, zmq.SNDMORE)
        pub.send(reply)
        stamps[request["request"]["seq"]] = {"s_in": received, "s_sent": stamp()}
    context.destroy(linger=0)
    return stamps


def _host_server(args: argparse.Namespace) -> Stamps:
    from openmodule_hookspecs import PluginCore, RPCRequest, hookimpl

    from openmodule_host.isolation import Mailbox
    from openmodule_host.rpc.server import PluginRPCServer
    from openmodule_host.wire.intake import Intake

    from .host_common import EchoRequest, EchoResponse, make_host

    latest: dict[str, int] = {}
    stamps: Stamps = {}
    _before(Intake, "_route", "s_in", latest)
    _after(Mailbox, "offer_many", "offered", latest)
    _after(Mailbox, "take", "woke", latest)
    _after(PluginRPCServer, "_send", "s_sent", latest)

    class TracedEcho:
        @hookimpl
        def register_handlers(self, core: PluginCore) -> None:
            core.rpc_server.register_handler(CHANNEL, TYPE, EchoRequest, EchoResponse, self.echo)

        def echo(self, request: EchoRequest, message: RPCRequest) -> EchoResponse:
            # The previous call's reply was sent by now: its s_sent is in ``latest``.
            if (previous := latest.pop("seq", None)) is not None:
                stamps[previous]["s_sent"] = latest["s_sent"]
            stamps[request.seq] = {"s_in": latest["s_in"], "offered": latest["offered"], "woke": latest["woke"],
                                   "s_work": stamp()}
            latest["seq"] = request.seq
            return EchoResponse(seq=request.seq, text=request.text)

    with make_host(SERVER_NAME + "_host", args.sub, args.pub, "echo", TracedEcho(), _placement(args)):
        emit("ready", threads=thread_names())
        sys.stdin.readline()
        time.sleep(0.1)  # the last reply's publish has returned
        if (last := latest.get("seq")) is not None:
            stamps[last]["s_sent"] = latest["s_sent"]
    return stamps


# -- clients ------------------------------------------------------------------------------------------


def _measure(call: Callable[[int], dict[str, int]], probe: Callable[[int], bool], calls: int) -> Stamps:
    seq = _UNMEASURED
    while not probe(seq):
        seq += 1
    for seq in range(_UNMEASURED + 1_000, _UNMEASURED + 1_000 + _WARMUP):
        call(seq)
    emit("begin", threads=thread_names())
    wait_for_go()
    stamps = {seq: call(seq) for seq in range(calls)}
    emit("points", stamps=stamps)
    sys.stdin.read()  # stay (with every thread) until the orchestrator has read this process's threads
    return stamps


def _raw_client(args: argparse.Namespace) -> Stamps:
    from .raw_client import RawCalls

    context = zmq.Context()
    raw = RawCalls(context, args.sub, args.pub)

    def call(seq: int) -> dict[str, int]:
        started = stamp()
        ident = raw.send(seq)
        sent = stamp()
        raw.wait(ident)
        return {"t0": started, "sent": sent, "t1": stamp()}

    stamps = _measure(call, lambda seq: raw.probe(seq, _PROBE_TIMEOUT), args.calls)
    context.destroy(linger=0)
    return stamps


def _host_client(args: argparse.Namespace) -> Stamps:
    from openmodule_hookspecs import RPCTimeoutError

    from openmodule_host.rpc.client import RPCCalls

    from .host_client import PLUGIN, CallerPlugin, echo_request
    from .host_common import EchoResponse, make_host

    latest: dict[str, int] = {}
    _before(RPCCalls, "_on_reply", "c_in", latest)
    with make_host("om_bench_rpc_client_1_host", args.sub, args.pub, PLUGIN, CallerPlugin(), _placement(args)) as host:
        host.placement.join()  # the calls are made here, as on a plugin's thread (see host_client)
        core = host.plugins[PLUGIN].core
        assert core is not None
        client = core.rpc_client

        def call(seq: int) -> dict[str, int]:
            started = stamp()
            pending = client.rpc_non_blocking(CHANNEL, TYPE, echo_request(seq))
            sent = stamp()
            response = pending.result(EchoResponse)
            done = stamp()
            if response.seq != seq:
                raise RuntimeError(f"reply for call {response.seq} instead of {seq}")
            return {"t0": started, "sent": sent, "c_in": latest["c_in"], "t1": done}

        def probe(seq: int) -> bool:
            try:
                client.rpc(CHANNEL, TYPE, echo_request(seq), EchoResponse, timeout=_PROBE_TIMEOUT)
            except RPCTimeoutError:
                return False
            return True

        return _measure(call, probe, args.calls)


def _placement(args: argparse.Namespace) -> str:
    """The host's ``cpu_placement``: ``host-unplaced`` is the host with its threads left to the kernel."""
    return "off" if args.variant == "host-unplaced" else "auto"


_ROLES: dict[tuple[str, str], Callable[[argparse.Namespace], Stamps]] = {
    ("server", "raw"): _raw_server,
    ("server", "host"): _host_server,
    ("server", "host-unplaced"): _host_server,
    ("client", "raw"): _raw_client,
    ("client", "host"): _host_client,
    ("client", "host-unplaced"): _host_client,
}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("role", choices=("server", "client"))
    parser.add_argument("--variant", choices=("raw", "host", "host-unplaced"), required=True)
    parser.add_argument("--sub", required=True, help="the broker's XSUB address (publishers connect here)")
    parser.add_argument("--pub", required=True, help="the broker's XPUB address (subscribers connect here)")
    parser.add_argument("--calls", type=int, default=3_000, help="client: measured calls")
    args = parser.parse_args(argv)
    stamps = _ROLES[args.role, args.variant](args)
    if args.role == "server":
        emit("points", stamps={seq: points for seq, points in stamps.items() if seq < _UNMEASURED})


if __name__ == "__main__":
    main()
