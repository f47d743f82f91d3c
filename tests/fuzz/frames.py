"""Hypothesis strategies for hostile broker traffic: generated and mutated frames of every kind.

Every strategy draws a *batch*: a list of multipart messages (each a list of frames) aimed at the topics
the host subscribes to, read from its intake at run time. ``KINDS`` names one strategy per kind of
hostility; :func:`valid_body` gives a real openmodule envelope or RPC request for a topic, which the
mutating kinds start from.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Callable
from typing import Any

import orjson
from hypothesis import strategies as st

Frames = list[bytes]
Batch = list[Frames]

#: how deep the nesting kinds go (the issue's RecursionError needs ~1,000).
MAX_DEPTH = 2000
#: numbers no JSON decoder agrees on: beyond 64 bits, beyond a double, and the non-standard tokens.
HUGE_NUMBERS = (b"18446744073709551616", b"-9223372036854775809", b"123456789012345678901234567890123456789",
                b"1e400", b"-1e400", b"1e-400", b"NaN", b"Infinity", b"-Infinity", b"0x10", b"1_000", b"01",
                b"9" * 400)
#: a value of each JSON type (and a few tricky ones): every field gets each of these in "wrong_types".
ODD_VALUES: tuple[Any, ...] = (None, True, False, 0, -1, 2**63 - 1, 1.5, "", "x", "online", [], [1, "a"], {},
                               {"type": "ping"}, "\u0000", "\ud7ff\ue000", "2024-01-01T00:00:00")


#: fixed values, so that a strategy draws the same way each time it replays an example (hypothesis insists).
_TIMESTAMP = 1717236000.125
_RPC_ID = "0f5e7d9c-3b1a-4c2d-9e8f-7a6b5c4d3e2f"


def _envelope(type_: str, **fields: Any) -> dict[str, Any]:
    return {"timestamp": _TIMESTAMP, "name": "fuzzer", "type": type_, **fields}


def _access_request() -> dict[str, Any]:
    return {"name": "backend_x", "gate": "entry", "vehicle": {"lpr": {"id": "G ARIVO 1", "country": {"code": "A"}}},
            "vehicle_data": {"vehicle_id": "1", "lpr_front": {"plate": "GARIVO1"}}}


_REQUESTS: dict[str, tuple[str, dict[str, Any]]] = {
    "plates": ("lookup", {"plate": "G1"}),
    "access_service": ("auth", _access_request()),
    "probe": ("echo", {"n": 1, "text": "hi"}),
    "connection": ("status", {}),
    # the toolkit's surfaces (tests/fuzz/toolkit.py): a KV set of two keys, a ticket to validate
    "kv_sync": ("set", {"service": "toolkit", "kvs": [
        {"key": "k1", "value": '{"plate": "GARIVO1"}', "e_tag": 7},
        {"key": "k2", "value": "null", "e_tag": 8, "previous_e_tag": 3}]}),
    "validation_provider": ("validate", {"name": "toolkit", "session_id": "s1", "type": "qr", "payload": "dGlja2V0",
                                         "gate": "entry"}),
    "toolkit": ("signal", {"signal": "gate_open"}),
}

_MESSAGES: dict[str, Callable[[], dict[str, Any]]] = {
    "healthz": lambda: _envelope("ping", ping="ping"),
    "connection_internal": lambda: _envelope("connection_status", connected="online", bridge_status="online"),
    "connection_status": lambda: _envelope("connection_status", connected="offline"),
    "hello": lambda: _envelope("hello", text="hi"),
    "present_vehicle": lambda: _envelope(
        "enter", vehicle_id="123456789012345", gate="entry", enter_direction="forward", enter_time=_TIMESTAMP,
        lpr_front={"source": "cam", "plate": "GARIVO1", "country": "A", "rows": 1}),
    "count": lambda: _envelope(
        "count", user="u1", gateway={"gate": "entry", "direction": "in"}, medium_type="lpr", id="GARIVO1",
        count=1, transaction_id=_RPC_ID, zone="z", category="permanent-employee", real=True),
    "privacy": lambda: _envelope("anonymize", session_id="s1", vehicle_ids=["1", "2"]),
    "io": lambda: _envelope("input", gateway={"gate": "entry", "direction": "in"}, pin="in1", value=1, edge=1,
                            inverted=False, physical=1, pin_number=3, pin_label="loop", meta={"k": "v"}),
    "signal": lambda: _envelope("open", signal="gate_open", value=True, gate="entry", parking_area_id="p1",
                                additional_data={"k": [1, 2]}),
    "settings": lambda: _envelope("changed", changed_keys=["common/gates/", "common/timezone/"]),
    "probe": lambda: _envelope("probe", n=1, ratio=0.5, flag=True, text="x", tags=["a"], extra={"k": 1},
                               when="2024-01-01T00:00:00", inner={"plate": "G1"}),
}


def valid_body(topic: str) -> dict[str, Any]:
    """A well-formed message for ``topic`` as a real sender would send it."""
    if topic.startswith("rpc-req-"):
        channel = topic.removeprefix("rpc-req-")
        rpc_type, request = _REQUESTS.get(channel, ("x", {}))
        return _envelope(rpc_type, rpc_id=_RPC_ID, request=copy.deepcopy(request))
    if topic.startswith("rpc-rep-"):
        return _envelope("status", rpc_id=_RPC_ID, response={"status": "ok", "connected": "online"})
    make = _MESSAGES.get(topic)
    return make() if make is not None else _envelope("ping", seq=1)


# -- building blocks -------------------------------------------------------------------------------


def _topics(topics: list[str]) -> st.SearchStrategy[bytes]:
    """One of the host's topics (mostly), or a prefix, an extension or a random one."""
    known = st.sampled_from(topics).map(str.encode)
    return st.one_of(
        known, known, known, known,
        known.map(lambda topic: topic[:-1]), known.map(lambda topic: topic + b"x"),
        st.binary(max_size=20),
    )


def _dumps(body: Any) -> bytes:
    return orjson.dumps(body)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every key path into a JSON value (dict keys and list indexes)."""
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _paths(item, (*prefix, index))
    return found


def _set(body: Any, path: tuple[Any, ...], value: Any) -> None:
    """Set the value at ``path``; nothing when an earlier change replaced one of its parents."""
    with contextlib.suppress(KeyError, IndexError, TypeError):
        for key in path[:-1]:
            body = body[key]
        if isinstance(body, dict) == isinstance(path[-1], str):
            body[path[-1]] = value


def _delete(body: Any, path: tuple[Any, ...]) -> None:
    """Delete the value at ``path``; nothing when an earlier change removed or replaced it."""
    with contextlib.suppress(KeyError, IndexError, TypeError):
        for key in path[:-1]:
            body = body[key]
        del body[path[-1]]


def _nested(depth: int, kind: str) -> bytes:
    opening, closing = {"list": (b"[", b"]"), "dict": (b'{"a":', b"}"), "mixed": (b'[{"a":', b"}]")}[kind]
    return opening * depth + b"1" + closing * depth


# -- one strategy per kind -------------------------------------------------------------------------


@st.composite
def random_bytes(draw: st.DrawFn, topics: list[str]) -> Frames:
    return [draw(_topics(topics)), draw(st.binary(max_size=300))]


def _odd_values() -> st.SearchStrategy[Any]:
    """One of ODD_VALUES, a fresh copy (a shared dict or list would end up nested in itself)."""
    return st.sampled_from(ODD_VALUES).map(copy.deepcopy)


@st.composite
def invalid_utf8(draw: st.DrawFn, topics: list[str]) -> Frames:
    topic = draw(_topics(topics))
    body = _dumps(valid_body(topic.decode(errors="replace")))
    bad = draw(st.sampled_from([b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\x80", b"\xe2\x82"]))
    where = draw(st.sampled_from(["topic", "key", "value", "both"]))
    if where in ("topic", "both"):
        topic = topic[: len(topic) // 2] + bad + topic[len(topic) // 2:]
    if where in ("key", "both"):
        body = body.replace(b'"name"', b'"na' + bad + b'me"', 1)
    if where == "value":
        body = body.replace(b'"fuzzer"', b'"fuz' + bad + b'zer"', 1)
    return [topic, body]


@st.composite
def invalid_json(draw: st.DrawFn, topics: list[str]) -> Frames:
    topic = draw(_topics(topics))
    body = _dumps(valid_body(topic.decode(errors="replace")))
    broken = draw(st.sampled_from([
        body[: draw(st.integers(0, max(0, len(body) - 1)))],  # truncated
        body + b"}", body + b" trailing", b"{" + body, body.replace(b":", b"=", 1), body.replace(b'"', b"'"),
        body.replace(b",", b",,", 1), b"{'type': 'ping'}", b"", b"{", b"}", b"[", b'{"type":"ping",}',
        b'{"type":"ping" "x":1}', b"\xef\xbb\xbf" + body, b"/* c */" + body, b'{"type":"\\ud800"}',
        b'{"type":"\\u00"}', b'{"a":1,"a":2,"type":"ping"}',
    ]))
    return [topic, broken]


@st.composite
def deep_nesting(draw: st.DrawFn, topics: list[str]) -> Frames:
    topic = draw(st.sampled_from(topics))
    depth = draw(st.sampled_from([10, 100, 500, 999, 1000, 1001, 1500, MAX_DEPTH]))
    nested = _nested(depth, draw(st.sampled_from(["list", "dict", "mixed"])))
    body = valid_body(topic)
    path = draw(st.sampled_from([*_paths(body), None]))
    if path is None:  # the whole body
        return [topic.encode(), nested]
    _set(body, path, "@@NESTED@@")
    return [topic.encode(), _dumps(body).replace(b'"@@NESTED@@"', nested)]


@st.composite
def huge_numbers(draw: st.DrawFn, topics: list[str]) -> Frames:
    topic = draw(st.sampled_from(topics))
    body = valid_body(topic)
    paths = _paths(body)
    for path in draw(st.lists(st.sampled_from(paths), min_size=1, max_size=3)):
        _set(body, path, "@@NUMBER@@")
    return [topic.encode(), _dumps(body).replace(b'"@@NUMBER@@"', draw(st.sampled_from(HUGE_NUMBERS)))]


@st.composite
def wrong_types(draw: st.DrawFn, topics: list[str]) -> Frames:
    topic = draw(st.sampled_from(topics))
    body = valid_body(topic)
    for path in draw(st.lists(st.sampled_from(_paths(body)), min_size=1, max_size=3)):
        _set(body, path, draw(_odd_values()))
    return [topic.encode(), _dumps(body)]


@st.composite
def extra_missing(draw: st.DrawFn, topics: list[str]) -> Frames:
    topic = draw(st.sampled_from(topics))
    body = valid_body(topic)
    for path in draw(st.lists(st.sampled_from(_paths(body)), max_size=4)):
        _delete(body, path)
    extra = draw(st.dictionaries(st.text(max_size=12), _odd_values(), max_size=4))
    body.update(extra)
    return [topic.encode(), _dumps(body)]


@st.composite
def multipart(draw: st.DrawFn, topics: list[str]) -> Frames:
    topic = draw(_topics(topics))
    body = _dumps(valid_body(topic.decode(errors="replace")))
    count = draw(st.sampled_from([1, 2, 3, 4, 5, 8]))
    parts = draw(st.lists(st.sampled_from([topic, body, b"", b"{}"]), min_size=count, max_size=count))
    return parts


@st.composite
def mutated(draw: st.DrawFn, topics: list[str]) -> Frames:
    """A real envelope or RPC request with bytes flipped, inserted or deleted."""
    topic = draw(st.sampled_from(topics))
    body = bytearray(_dumps(valid_body(topic)))
    for _ in range(draw(st.integers(1, 4))):
        position = draw(st.integers(0, max(0, len(body) - 1)))
        action = draw(st.sampled_from(["flip", "insert", "delete"]))
        if action == "flip" and body:
            body[position] ^= 1 << draw(st.integers(0, 7))
        elif action == "insert":
            body[position:position] = draw(st.binary(min_size=1, max_size=4))
        elif body:
            del body[position: position + draw(st.integers(1, 4))]
    return [topic.encode(), bytes(body)]


@st.composite
def big_frames(draw: st.DrawFn, topics: list[str]) -> Frames:
    """A 1-10 MB body: padding in a valid envelope, one huge string, or a huge array."""
    topic = draw(st.sampled_from(topics))
    size = draw(st.sampled_from([1, 3, 4, 5, 10])) * 1024 * 1024 + draw(st.integers(-64, 64))
    body = _dumps(valid_body(topic))
    shape = draw(st.sampled_from(["pad", "array", "raw"]))
    if shape == "pad":
        return [topic.encode(), body[:-1] + b',"pad":"' + b"x" * size + b'"}']
    if shape == "array":
        return [topic.encode(), body[:-1] + b',"pad":[' + b"1," * (size // 2) + b"1]}"]
    return [topic.encode(), b"\x00" * size]


#: what a listener keeps state for, by topic: the fields of its messages that name a pin, a signal, a gate, a vehicle
_NAMING_FIELDS = {"io": ("pin",), "signal": ("signal",), "present_vehicle": ("gate", "vehicle_id")}


@st.composite
def fresh_names(draw: st.DrawFn, topics: list[str]) -> Frames:
    """A valid message naming a pin, signal, gate or vehicle never seen before: a peer sending names without end,
    which the listeners' state must survive bounded (tests/test_bounded_states.py)."""
    topic = draw(st.sampled_from([topic for topic in topics if topic in _NAMING_FIELDS] or topics))
    body = valid_body(topic)
    for field in _NAMING_FIELDS.get(topic, ()):
        body[field] = draw(st.uuids()).hex + draw(st.text(max_size=8))
    return [topic.encode(), _dumps(body)]


KINDS: dict[str, Callable[[list[str]], st.SearchStrategy[Frames]]] = {
    "random_bytes": random_bytes,
    "invalid_utf8": invalid_utf8,
    "invalid_json": invalid_json,
    "deep_nesting": deep_nesting,
    "huge_numbers": huge_numbers,
    "wrong_types": wrong_types,
    "extra_missing": extra_missing,
    "multipart": multipart,
    "mutated": mutated,
    "big_frames": big_frames,
    "fresh_names": fresh_names,
}


def batches(kind: str, topics: list[str], size: int) -> st.SearchStrategy[Batch]:
    """A batch of up to ``size`` messages of one kind (big frames: one at a time)."""
    strategy = KINDS[kind](topics)
    return st.lists(strategy, min_size=1 if kind == "big_frames" else size // 2,
                    max_size=1 if kind == "big_frames" else size)
