"""The intake passes a channel's requests on undecoded: to the plugin that serves it alone (``serve_raw``, on its
worker), or to the router when several share it (validated on the intake, then offered to each). Whatever the
request, the undecoded way must end as the decoded one: the same replies, the same counts.
"""

import logging
import random

import orjson
import pytest
from openmodule_hookspecs import Gateway, OpenModuleModel, gateway_filter

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


class GateRequest(OpenModuleModel):
    gateway: Gateway
    plate: str = ""


class MaybeGateRequest(OpenModuleModel):
    gateway: Gateway | None = None
    count: int = 1


#: plugin: (request class, resource, its gateway filters)
GATED = {
    "p": (GateRequest, "", [gateway_filter("G1", "in")]),
    "q": (GateRequest, "", [gateway_filter("G1", "out"), gateway_filter("G2")]),
    "r": (GateRequest, "", [gateway_filter(direction="in")]),
    "s": (MaybeGateRequest, "x", [gateway_filter("G2", "in")]),
    "t": (GateRequest, "y", [gateway_filter("G1", direction="")]),
    "u": (MaybeGateRequest, "", [gateway_filter("G3", "out")]),
    "v": (MaybeGateRequest, "y", [gateway_filter()]),
}


def gated(wrapped: bool):
    """The GATED plugins; ``wrapped``: each filter inside one of the plugin's own, which the intake cannot look
    into (every plugin gets every request, as before the intake applied gateway filters)."""
    intake, replies = FakeIntake(), Replies()
    router = RPCRouter(intake, LOG)
    for name, (request_class, resource, filters) in GATED.items():
        server = PluginRPCServer(name, f"{name}_service", resource, router, replies, Mailbox(name, 100, LOG),
                                 PluginStats(), LOG)
        server.register_handler("plates", "lookup", request_class, Response,
                                lambda request, message: Response(plate=str(request.gateway), count=1))
        for check in filters:
            server.add_filter((lambda request, message, handler, check=check: check(request, message, handler))
                              if wrapped else check, "plates", "lookup")
    return router, intake, replies


def outcome_gated(raw: bytes, wrapped: bool):
    router, intake, replies = gated(wrapped)
    for call in router._routes["plates"][0].deliver_raw(raw) or []:
        call[2].server.serve(call)
    answers = sorted(orjson.dumps(data, option=orjson.OPT_SORT_KEYS) for _, data in replies.sent)
    invalid = {answer for answer in answers if b'"status":"validation_error"' in answer}
    valid = [answer for answer in answers if answer not in invalid]
    return valid, invalid, router.unknown, dict(intake.stats.malformed)


def ends_as_fanned_out(raw: bytes) -> bool:
    """The same answers and counts; ``validation_error`` from at least one of the plugins that sent it before
    (not from each: the caller takes the first reply)."""
    answers, invalid, unknown, malformed = outcome_gated(raw, wrapped=False)
    all_answers, all_invalid, all_unknown, all_malformed = outcome_gated(raw, wrapped=True)
    return ((answers, unknown, malformed) == (all_answers, all_unknown, all_malformed)
            and invalid <= all_invalid and bool(invalid) == bool(all_invalid))


GATED_REQUESTS = [
    b'{"name":"c","type":"lookup","rpc_id":"0d0f3c0e-1111-4222-8333-444455556666",'
    b'"request":{"gateway":{"gate":"G1","direction":"in"}}}',
    b'{"name":"c","type":"lookup","rpc_id":"0d0f3c0e-1111-4222-8333-444455556666",'
    b'"request":{"gateway":{"gate":"G1","direction":"out"},"count":2}}',
    b'{"name":"c","type":"lookup","rpc_id":"0d0f3c0e-1111-4222-8333-444455556666","resource":"x",'
    b'"request":{"gateway":{"gate":"G2","direction":"in"}}}',
    b'{"name":"c","type":"lookup","rpc_id":"0d0f3c0e-1111-4222-8333-444455556666","resource":"y",'
    b'"request":{"gateway":{"gate":"G1"},"plate":"A"}}',
    b'{"name":"c","type":"lookup","rpc_id":"0d0f3c0e-1111-4222-8333-444455556666",'
    b'"request":{"gateway":{"gate":"G3","direction":"out"},"count":"a"}}',
    b'{"name":"c","type":"lookup","rpc_id":"0d0f3c0e-1111-4222-8333-444455556666","request":{"gateway":{}}}',
    b'{"name":"c","type":"lookup","rpc_id":"0d0f3c0e-1111-4222-8333-444455556666","request":{"gateway":null}}',
    b'{"name":"c","type":"lookup","rpc_id":"0d0f3c0e-1111-4222-8333-444455556666","request":{}}',
    b'{"name":"c","type":"lookup","rpc_id":"0d0f3c0e-1111-4222-8333-444455556666",'
    b'"request":{"gateway":{"gate":"G9","direction":"out"}}}',
    b'{"name":"c","type":"lookup","rpc_id":"0d0f3c0e-1111-4222-8333-444455556666","resource":"x",'
    b'"request":{"gateway":{"gate":"G9","direction":"out"}}}',
]


def test_the_gated_requests_cover_answers_silence_and_validation_errors():
    outcomes = [outcome_gated(raw, wrapped=False)[:2] for raw in GATED_REQUESTS]
    assert [len(answers) for answers, _ in outcomes] == [4, 3, 3, 2, 0, 1, 0, 0, 1, 0]
    assert [len(invalid) for _, invalid in outcomes] == [0, 0, 0, 0, 2, 0, 1, 1, 0, 0]


def test_the_intake_brings_a_request_to_the_plugins_whose_gateway_filters_pass_or_to_one_of_each_request_class():
    router, _, _ = gated(wrapped=False)
    picked = [sorted(call[2].server.plugin for call in router._routes["plates"][0].deliver_raw(raw))
              for raw in GATED_REQUESTS]
    assert picked == [["p", "r", "t", "v"], ["q", "t", "v"], ["q", "r", "s"], ["t", "v"], ["p", "u", "v"],
                      ["p", "v"], ["p", "s"], ["p", "s"], ["p", "v"], ["p", "s"]]


@pytest.mark.parametrize("raw", GATED_REQUESTS)
def test_gateway_filters_the_intake_applies_answer_as_when_every_plugin_gets_every_request(raw):
    assert ends_as_fanned_out(raw)


def test_a_filter_of_its_own_added_later_brings_the_plugin_every_request_again():
    router, _, _ = gated(wrapped=False)
    route = router._routes["plates"][0]
    request_for_q = GATED_REQUESTS[1]  # G1 out
    assert "p" not in {call[2].server.plugin for call in route.deliver_raw(request_for_q)}
    [p] = [handler.server for handler in router._handlers["plates", "lookup"].handlers if handler.server.plugin == "p"]
    p.add_filter(lambda request, message, handler: False, "plates")
    assert "p" in {call[2].server.plugin for call in route.deliver_raw(request_for_q)}


def test_mutated_gateway_requests_answer_as_when_every_plugin_gets_every_request():
    for raw in mutated(GATED_REQUESTS, 1000, b'{}[]":,0123456789.-abcdeGilnoprstuwxy \\'):
        assert ends_as_fanned_out(raw), raw


def mutated(requests: list[bytes], count: int, alphabet: bytes) -> list[bytes]:
    rng = random.Random(5)
    out = []
    for _ in range(count):
        raw = bytearray(rng.choice(requests))
        for _ in range(rng.randint(1, 3)):
            position = rng.randrange(len(raw))
            if rng.random() < 0.5:
                raw[position] = rng.choice(alphabet)
            else:
                del raw[position]
        out.append(bytes(raw))
    return out


@pytest.mark.parametrize("kind", ["sole", "fanout", "keyed"])
def test_requests_end_the_same_undecoded_and_decoded(kind):
    for raw in REQUESTS:
        assert outcome_undecoded(raw, kind) == outcome_decoded(raw, kind), raw


@pytest.mark.parametrize("kind", ["sole", "fanout", "keyed"])
def test_mutated_requests_end_the_same_undecoded_and_decoded(kind):
    for raw in mutated(REQUESTS[:8], 1000, b'{}[]":,0123456789.-abcdefGlnoprstuy \\\\'):
        assert outcome_undecoded(raw, kind) == outcome_decoded(raw, kind), raw
