"""A catch-all SUB socket on a broker: every message exactly as it travelled, for byte-level checks."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable

import zmq

__all__ = ["WireTap", "without_envelope"]

_ENVELOPE_HEAD = re.compile(rb'\{"timestamp":\d+(?:\.\d+)?(?:e[+-]?\d+)?,"name":"(?:[^"\\]|\\.)*",')
_TRACE_FIELDS = re.compile(rb',"(?:baggage|sentry-trace)":"(?:[^"\\]|\\.)*"')


def without_envelope(body: bytes) -> bytes:
    """The body with the per-sender parts cut out: the leading float ``timestamp`` and ``name`` (which must
    come first, in that order) and ``baggage``/``sentry-trace``. Everything else stays byte for byte."""
    head = _ENVELOPE_HEAD.match(body)
    assert head is not None, f"body does not start with a float timestamp and a name: {body!r}"
    return b"{" + _TRACE_FIELDS.sub(b"", body[head.end():])


class WireTap:
    """Subscribes to everything on the broker at ``broker_pub`` and keeps ``(topic, body)`` raw frames.

    Its own PUB socket (on ``broker_sub``) only sends the handshake that proves the catch-all
    subscription is through the broker before the constructor returns.
    """

    def __init__(self, broker_sub: str, broker_pub: str, timeout: float = 5.0) -> None:
        self.frames: list[tuple[bytes, bytes]] = []
        self._context = zmq.Context()
        self._sub = self._context.socket(zmq.SUB)
        self._sub.setsockopt(zmq.LINGER, 0)
        self._sub.setsockopt(zmq.RCVHWM, 0)
        self._sub.setsockopt(zmq.SUBSCRIBE, b"")
        self._sub.connect(broker_pub)
        self._pub = self._context.socket(zmq.PUB)
        self._pub.setsockopt(zmq.LINGER, 0)
        self._pub.connect(broker_sub)
        try:
            self._handshake(timeout)
        except BaseException:
            self.close()
            raise

    def _handshake(self, timeout: float) -> None:
        probe = f"_wiretap_{uuid.uuid4().hex}".encode()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._pub.send_multipart((probe, b"{}"))
            if self._poll_until(lambda topic, _body: topic == probe, 0.05) is not None:
                self.frames = [(topic, body) for topic, body in self.frames if topic != probe]
                return
        raise AssertionError(f"wire tap: no round trip through the broker within {timeout:g} s")

    def wait_for(self, topic: str, predicate: Callable[[bytes], bool] | None = None, timeout: float = 3.0) -> bytes:
        """The raw body of the first message on ``topic`` (captured or arriving within ``timeout``) whose
        body matches ``predicate``."""
        wanted_topic = topic.encode()

        def wanted(message_topic: bytes, body: bytes) -> bool:
            return message_topic == wanted_topic and (predicate is None or predicate(body))

        for message_topic, body in self.frames:
            if wanted(message_topic, body):
                return body
        found = self._poll_until(wanted, timeout)
        if found is None:
            seen = [body for message_topic, body in self.frames if message_topic == wanted_topic]
            raise AssertionError(f"wire tap: no matching message on {topic!r} within {timeout:g} s; seen: {seen!r}")
        return found

    def _poll_until(self, wanted: Callable[[bytes, bytes], bool], timeout: float) -> bytes | None:
        deadline = time.monotonic() + timeout
        while True:
            remaining = max(0.0, deadline - time.monotonic())
            if not self._sub.poll(int(remaining * 1000)):
                return None
            while True:
                try:
                    frames = self._sub.recv_multipart(zmq.NOBLOCK)
                except zmq.Again:
                    break
                if len(frames) != 2:
                    continue
                topic, body = frames
                self.frames.append((topic, body))
                if wanted(topic, body):
                    return body

    def close(self) -> None:
        self._sub.close()
        self._pub.close()
        self._context.term()
