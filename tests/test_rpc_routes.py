"""The intake passes a channel's requests on undecoded: to the plugin that serves it alone (``serve_raw``, on its
worker), or to the router when several share it (validated on the intake, then offered to each). Whatever the
request, the undecoded way must end as the decoded one: the same replies, the same counts.
"""

import logging
import random

import orjson
import pytest
from openmodule_hookspecs import OpenModuleModel

from openmodule_host.isolation import Mailbox
from openmodule_host.rpc.server import PluginRPCServer, RPCRouter
from openmodule_host.stats import IntakeStats, PluginStats
from openmodule_host.wire.codec import DecodeError, decode
from openmodule_host.wire.intake import Drops

LOG = logging.getLogger("test")


class Request(OpenModuleModel):
    plate: str
    count: int = 1


class Response(OpenModuleModel):
    plate: str
    count: int


class FakeIntake:
    """Enough of an intake for a router: the routes it was given, and the drop counts."""

    def __init__(self) -> None:
        self.stats = IntakeStats()
        self.drops = Drops(self.stats, LOG)
        self.routes: dict[str, object] = {}

    def add(self, topic, route):
        self.routes[topic] = route

    def remove(self, topic, route):
        del self.routes[topic]

    def replace(self, topic, old, new):
        self.routes[topic] = new


class Replies:
    """A publisher that keeps what is sent (without the timestamp, which differs between two sends)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, dict]] = []

    def send(self, topic: str, body: bytes) -> None:
        data = orjson.loads(body)
        data.pop("timestamp", None)
        self.sent.append((topic, data))


def served(kind: str = "sole"):
    """One plugin serving the channel, or two sharing it: ``fanout`` (both unkeyed) or ``keyed`` by plate."""
    intake, replies = FakeIntake(), Replies()
    router = RPCRouter(intake, LOG)
    for name in ("p", "q")[:1 if kind == "sole" else 2]:
        server = PluginRPCServer(name, f"{name}_service", "", router, replies, Mailbox(name, 100, LOG), PluginStats(),
                                 LOG)
        keyed = {"key": "plate", "value": "G1" if name == "p" else "G2"} if kind == "keyed" else {}
        server.register_handler("plates", "lookup", Request, Response,
                                lambda request, message: Response(plate=request.plate, count=request.count), **keyed)
    return router, intake, replies


def outcome_undecoded(raw: bytes, kind: str = "sole"):
    router, intake, replies = served(kind)
    calls = router._routes["plates"][0].deliver_raw(raw)
    for call in calls or []:  # a shared channel's route returns the calls (the router then offers them)
        call[2].server.serve(call)
    return replies.sent, router.unknown, dict(intake.stats.malformed)


def outcome_decoded(raw: bytes, kind: str = "sole"):
    router, intake, replies = served(kind)
    try:
        _topic, body = decode([b"rpc-req-plates", raw], len(raw))
    except DecodeError as error:
        intake.drops.malformed(error)
    else:
        for call in router._on_request("plates", body):
            call[2].server.serve(call)
    return replies.sent, router.unknown, dict(intake.stats.malformed)


REQUESTS = [
    b'{"timestamp":1717236000.5,"name":"c","type":"lookup","rpc_id":"0d0f3c0e-1111-4222-8333-444455556666",'
    b'"request":{"plate":"G1","count":2}}',
    b'{"name":"c","type":"lookup","rpc_id":"0D0F3C0E-1111-4222-8333-444455556666","request":{"plate":"G1"}}',
    b'{"name":"c","type":"lookup","rpc_id":"0d0f3c0e-1111-4222-8333-444455556666","request":{"plate":7}}',
    b'{"name":"c","type":"nope","rpc_id":"0d0f3c0e-1111-4222-8333-444455556666","request":{"plate":"G"}}',
    b'{"name":"c","type":"lookup","request":{"plate":"G1"}}',
    b'{"name":"c","type":"lookup","rpc_id":"not-a-uuid","request":{"plate":"G1"}}',
    b'{"name":"c","type":"lookup","rpc_id":"0d0f3c0e-1111-4222-8333-444455556666","request":null}',
    b'{"name":"c","type":"lookup","rpc_id":"0d0f3c0e-1111-4222-8333-444455556666","resource":"x",'
    b'"request":{"plate":"G1"}}',
    b'[1, 2]',
    b'{"type":"lookup",',
]


@pytest.mark.parametrize("kind", ["sole", "fanout", "keyed"])
def test_requests_end_the_same_undecoded_and_decoded(kind):
    for raw in REQUESTS:
        assert outcome_undecoded(raw, kind) == outcome_decoded(raw, kind), raw


@pytest.mark.parametrize("kind", ["sole", "fanout", "keyed"])
def test_mutated_requests_end_the_same_undecoded_and_decoded(kind):
    rng = random.Random(5)
    alphabet = b'{}[]":,0123456789.-abcdefGlnoprstuy \\\\'
    for _ in range(1000):
        raw = bytearray(rng.choice(REQUESTS[:8]))
        for _ in range(rng.randint(1, 3)):
            position = rng.randrange(len(raw))
            if rng.random() < 0.5:
                raw[position] = rng.choice(alphabet)
            else:
                del raw[position]
        assert outcome_undecoded(bytes(raw), kind) == outcome_decoded(bytes(raw), kind), bytes(raw)
