"""The intake's two readers: the compiled one (``speedups/``, built by ``make install``) and the pure-Python one
the host falls back to without it. Both read the same messages from a real socket, frame for frame, and the
intake's tests pass with either (and the publisher's, with or without the compiled body and send)."""

from __future__ import annotations

import logging
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
import zmq

from openmodule_host.wire import Intake, intake
from tests.support import eventually

ROOT = Path(__file__).resolve().parent.parent
LOG = logging.getLogger("test")


@pytest.fixture
def pub_and_intake():
    """A PUB socket and an intake (not started: the test reads for it) subscribed to everything."""
    context = zmq.Context()
    address = f"inproc://reader-{os.getpid()}"
    pub = context.socket(zmq.PUB)
    pub.setsockopt(zmq.SNDHWM, 0)
    pub.bind(address)
    reader = Intake(context, address, max_body_bytes=1 << 20, log=LOG)
    reader._sub.setsockopt(zmq.SUBSCRIBE, b"")
    try:
        yield pub, reader
    finally:
        pub.close(0)
        reader._sub.close(0)
        reader._commands_in.close(0)
        reader._commands.close(0)
        context.term()


def _publish_until_subscribed(pub, reader) -> None:
    def arrived() -> bool:
        pub.send_multipart([b"probe", b"{}"])
        return bool(reader._sub.poll(50))

    eventually(arrived, timeout=10)
    while reader._sub.poll(100):  # the probes
        reader._sub.recv_multipart()


def _messages(count: int) -> list[tuple[bytes, ...]]:
    """Two-frame messages mostly, and every odd shape the wire may carry: one frame, many, empty, large."""
    rng = random.Random(16)
    shapes = [
        (b"bench", b'{"type":"bench"}'),
        (b"only one frame",),
        (b"a", b"b", b"c"),
        tuple(b"%d" % i for i in range(300)),
        (b"", b""),
        (b"big", b"x" * 3_000_000),
    ]
    messages = list(shapes)
    for n in range(count - len(shapes)):
        frames = rng.choice([2, 2, 2, 1, 3])
        messages.append(tuple(rng.randbytes(rng.randrange(0, 200)) for _ in range(frames)) if n % 7 == 0
                        else (b"topic", b'{"n":%d}' % n))
    return messages


def test_the_compiled_reader_is_built_and_used():
    assert intake._compiled_recv_batch is not None, (
        "openmodule_host_speedups was not built: `make install` compiles it (needs a C compiler and Python's headers)")


@pytest.mark.parametrize("reader", ["compiled", "pure Python"])
def test_each_reader_returns_every_message_whole_and_in_order(pub_and_intake, monkeypatch, reader):
    pub, receiver = pub_and_intake
    if reader == "pure Python":
        monkeypatch.setattr(intake, "_compiled_recv_batch", None)
    _publish_until_subscribed(pub, receiver)
    sent = _messages(2_000)
    for message in sent:
        pub.send_multipart(message)

    got: list[tuple[bytes, ...]] = []
    while len(got) < len(sent) and receiver._sub.poll(5_000):
        if intake._compiled_recv_batch is None:
            batch = receiver._read()
        else:
            batch, error = intake._compiled_recv_batch(receiver._sub.underlying, intake._RECV_BATCH)
            assert error == 0
        assert 0 < len(batch) <= intake._RECV_BATCH
        got.extend(batch)
    assert got == sent


def test_the_compiled_reader_stops_at_its_limit_and_returns_nothing_from_an_empty_socket(pub_and_intake):
    pub, receiver = pub_and_intake
    _publish_until_subscribed(pub, receiver)
    recv_batch, socket = intake._compiled_recv_batch, receiver._sub.underlying
    assert recv_batch is not None
    for n in range(5):
        pub.send_multipart([b"t", b"%d" % n])
    assert receiver._sub.poll(5_000)
    first, error = recv_batch(socket, 3)
    assert (first, error) == ([(b"t", b"0"), (b"t", b"1"), (b"t", b"2")], 0)
    rest, error = recv_batch(socket, 3)
    assert (rest, error) == ([(b"t", b"3"), (b"t", b"4")], 0)
    assert recv_batch(socket, 3) == ([], 0)
    with pytest.raises(ValueError):
        recv_batch(socket, 0)
    with pytest.raises(ValueError):
        recv_batch(0, 3)


@pytest.mark.timeout(900)
def test_the_intakes_and_publishers_tests_pass_without_the_compiled_helpers():
    """The tests of the intake's input (bad frames, routing changes, the fuzz suite) and of what plugins publish
    (limits, publish budgets) once more, in a run where every intake reads with pyzmq and every body is made and
    sent the Python way (tests/support/pure_python.py); this run uses the compiled helpers."""
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "tests.support.pure_python",
         "tests/test_bad_input.py", "tests/test_intake_routes.py", "tests/test_limits.py", "tests/fuzz/test_fuzz.py"],
        cwd=ROOT, capture_output=True, text=True, timeout=840,
    )
    assert "compiled helpers: none (pure Python)" in run.stdout
    assert run.returncode == 0, run.stdout[-5000:] + run.stderr[-2000:]
