"""A test peer on the broker: publishes like an outside service and waits for messages.

Single-threaded on purpose: the test's own thread owns both sockets, so there is nothing to lock and
no background thread to leak between tests.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

import orjson
import zmq
from openmodule_hookspecs import (
    BridgeStatus,
    ConnectionStatus,
    ConnectionStatusMessage,
    ZMQMessage,
    dumps,
    request_topic,
    response_topic,
)
from pydantic import BaseModel

__all__ = ["TestClient"]

Predicate = Callable[[dict[str, Any]], bool]


class TestClient:
    """Connects a PUB and a SUB socket to a broker, checks both are through, then waits for traffic.

    The SUB socket subscribes to everything once, at construction, and :meth:`subscribe` only selects
    locally what to keep. A ZeroMQ subscription must reach every *publisher* before it sends, and a
    test cannot see when another process's PUB socket got it; a subscription made before the host
    connects is handed to the host's PUB socket when it attaches, before it sends anything.
    """

    __test__ = False  # not a pytest test class

    def __init__(
        self, context: zmq.Context[zmq.Socket[bytes]], broker_sub: str, broker_pub: str, *, name: str = "testclient",
        connect_timeout: float = 10.0,
    ) -> None:
        self.name = name
        self._pub = context.socket(zmq.PUB)
        self._pub.setsockopt(zmq.LINGER, 0)
        self._pub.setsockopt(zmq.SNDHWM, 0)
        self._pub.connect(broker_sub)
        self._sub = context.socket(zmq.SUB)
        self._sub.setsockopt(zmq.LINGER, 0)
        self._sub.setsockopt(zmq.RCVHWM, 0)
        self._sub.connect(broker_pub)
        self._topics: set[str] = set()
        self._inbox: list[tuple[str, dict[str, Any]]] = []
        self._private = f"_testclient_{uuid.uuid4().hex}"
        self._sub.setsockopt(zmq.SUBSCRIBE, b"")
        self._handshake(connect_timeout)

    def sync(self, timeout: float = 10.0) -> None:
        """Make sure our PUB knows every subscription the broker knows now (call after a host started).

        The broker forwards subscriptions to each publisher in order; a fresh subscription of ours that
        comes back to us proves that every subscription forwarded before it reached our PUB too, so the
        next publish is not dropped by ZeroMQ's slow-joiner effect.
        """
        self._handshake(timeout)

    def sync_with(self, name: str, timeout: float = 30.0) -> None:
        """Wait until the service ``name`` answers a ping (pinging again each second), then forget its pongs.

        A host subscribes its plugins' topics on its intake thread, a moment after they registered, and
        ``healthz`` after all of them: once it answers a ping, this client's PUB knows every topic its plugins
        subscribed, so the next publish to any of them is not lost (:meth:`sync` alone cannot tell when a
        host's subscriptions reached the broker).
        """
        kept = "healthpong" in self._topics
        deadline = time.monotonic() + timeout
        try:
            while True:
                try:
                    self.get_health(name, timeout=min(1.0, max(0.05, deadline - time.monotonic())))
                    return
                except AssertionError as error:
                    if time.monotonic() >= deadline:
                        raise AssertionError(f"{name!r} did not answer a ping within {timeout} s: {error}") from None
        finally:
            if not kept:
                self._topics.discard("healthpong")
                self._inbox = [(topic, body) for topic, body in self._inbox if topic != "healthpong"]

    def _handshake(self, timeout: float) -> None:
        """Prove that our PUB reaches the broker and the broker reaches our SUB, with every
        subscription made so far: one message on a private topic must come back."""
        self._topics.add(self._private)
        self._sub.setsockopt_string(zmq.SUBSCRIBE, self._private)
        ping = orjson.dumps({"name": self.name, "type": "connection-check"})
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                self._pub.send_multipart((self._private.encode(), ping))
                if self._poll_until(lambda topic, _body: topic == self._private, 0.05):
                    return
            raise TimeoutError(f"test client could not reach the broker within {timeout} s")
        finally:
            self._sub.setsockopt_string(zmq.UNSUBSCRIBE, self._private)
            self._topics.discard(self._private)
            self._inbox = [(topic, body) for topic, body in self._inbox if topic != self._private]

    # -- sending ------------------------------------------------------------------------------------

    def publish(self, topic: str, message: ZMQMessage | dict[str, Any]) -> None:
        """Send a model (openmodule's encoding) or a dict (plain orjson, as openmodule-test does)."""
        if isinstance(message, ZMQMessage):
            data = message.model_dump()
            data["name"] = data.get("name") or self.name
            body = dumps(data)
        else:
            body = orjson.dumps({"name": self.name, "timestamp": time.time(), **message})
        self._pub.send_multipart((topic.encode(), body))

    def rpc(
        self,
        channel: str,
        type: str,
        request: BaseModel | dict[str, Any] | None,
        *,
        timeout: float = 3.0,
        resource: str | None = None,
        envelope: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Call an RPC as an outside service and return the whole reply envelope (a dict).

        ``envelope`` replaces fields of the request envelope (e.g. ``{"rpc_id": None}`` to drop it).
        Raises ``AssertionError`` when no reply arrives in time (see :meth:`rpc_no_response`).
        """
        rpc_id = self.rpc_send(channel, type, request, resource=resource, envelope=envelope)
        return self.wait_for_message(response_topic(channel), lambda body: body.get("rpc_id") == rpc_id, timeout)

    def rpc_send(
        self,
        channel: str,
        type: str,
        request: BaseModel | dict[str, Any] | None,
        *,
        resource: str | None = None,
        envelope: dict[str, Any] | None = None,
    ) -> str:
        """Send an RPC request (after subscribing its reply topic) and return its ``rpc_id``."""
        self.subscribe(response_topic(channel))
        rpc_id = str(uuid.uuid4())
        data = request.model_dump(by_alias=True, exclude_none=True) if isinstance(request, BaseModel) else request
        body: dict[str, Any] = {"timestamp": time.time(), "name": self.name, "type": type, "rpc_id": rpc_id,
                                "request": data}
        if resource is not None:
            body["resource"] = resource
        body.update(envelope or {})
        self._pub.send_multipart((request_topic(channel).encode(), dumps({k: v for k, v in body.items()
                                                                          if v is not None})))
        return rpc_id

    def rpc_no_response(self, channel: str, type: str, request: BaseModel | dict[str, Any] | None, *,
                        timeout: float = 1.0, **kwargs: Any) -> None:
        """Assert that an RPC gets no reply within ``timeout``."""
        rpc_id = self.rpc_send(channel, type, request, **kwargs)
        self.assert_no_message(response_topic(channel), lambda body: body.get("rpc_id") == rpc_id, timeout)

    def get_health(self, name: str, timeout: float = 3.0) -> dict[str, Any]:
        """Ping (topic ``healthz``) and return the ``healthpong`` of the service called ``name`` to this ping.

        A pong carries no reference to its ping (a ping's body is irrelevant to the services, wire-protocol
        5.1): the answer is the first pong of ``name`` made after this ping was sent (its envelope's
        timestamp), so a pong made before, to an earlier ping, still in the inbox or on its way, is never
        taken for it; it stays in the inbox. (A pong to an earlier ping made after this one was sent is as
        fresh as the answer; the services on one machine share its clock.)
        """
        self.subscribe("healthpong")
        sent = time.time()
        self.publish("healthz", {"type": "ping", "ping": "ping"})
        return self.wait_for_message(
            "healthpong", lambda body: body.get("name") == name and body.get("timestamp", 0) >= sent, timeout
        )

    def send_frames(self, *frames: bytes) -> None:
        """Send raw frames, e.g. malformed messages."""
        self._pub.send_multipart(frames)

    # -- receiving ----------------------------------------------------------------------------------

    def subscribe(self, *topics: str) -> None:
        """Keep the messages on these topics (exact match) from now on."""
        self._topics.update(topics)

    def wait_for_message(
        self, topic: str, predicate: Predicate | None = None, timeout: float = 3.0
    ) -> dict[str, Any]:
        """The first message on ``topic`` (already received or arriving within ``timeout``) that matches
        ``predicate``; it is removed from the inbox. Raises ``AssertionError`` listing what did arrive."""
        if topic not in self._topics:
            raise ValueError(f"subscribe({topic!r}) first")

        def wanted(message_topic: str, body: dict[str, Any]) -> bool:
            return message_topic == topic and (predicate is None or predicate(body))

        for index, (message_topic, body) in enumerate(self._inbox):
            if wanted(message_topic, body):
                del self._inbox[index]
                return body
        found = self._poll_until(wanted, timeout)
        if found is None:
            seen = [body for message_topic, body in self._inbox if message_topic == topic]
            raise AssertionError(f"no matching message on {topic!r} within {timeout} s; received there: {seen!r}")
        self._inbox.remove((topic, found))
        return found

    def assert_no_message(self, topic: str, predicate: Predicate | None = None, timeout: float = 0.5) -> None:
        try:
            message = self.wait_for_message(topic, predicate, timeout)
        except AssertionError:
            return
        raise AssertionError(f"unexpected message on {topic!r}: {message!r}")

    def wait_for_alert(self, timeout: float = 3.0, **fields: Any) -> dict[str, Any]:
        """The next alert (topic ``alert``) whose top-level fields equal ``fields`` (e.g. ``alert_type``,
        ``source``, ``status``, ``package``); openmodule-test's ``assertAlert``."""
        self.subscribe("alert")
        return self.wait_for_message("alert", _has(fields), timeout)

    def assert_no_alert(self, timeout: float = 0.5, **fields: Any) -> None:
        """Fail if an alert with these fields arrives within ``timeout`` (openmodule-test's ``assertNoAlert``)."""
        self.subscribe("alert")
        self.assert_no_message("alert", _has(fields), timeout)

    def set_connection_status(self, connected: ConnectionStatus | str,
                              bridge_status: BridgeStatus | str | None = None) -> None:
        """Tell every service the internet connection changed, as the bridge does (``connection_internal``)."""
        message = ConnectionStatusMessage(connected=ConnectionStatus(connected),
                                          bridge_status=None if bridge_status is None else BridgeStatus(bridge_status))
        self.publish("connection_internal", message)

    def received(self, topic: str) -> list[dict[str, Any]]:
        """Everything received on ``topic`` so far and not yet taken (reads pending messages first)."""
        self._poll_until(lambda _topic, _body: False, 0)
        return [body for message_topic, body in self._inbox if message_topic == topic]

    def _poll_until(self, wanted: Callable[[str, dict[str, Any]], bool], timeout: float) -> dict[str, Any] | None:
        deadline = time.monotonic() + timeout
        while True:
            remaining = max(0.0, deadline - time.monotonic())
            if not self._sub.poll(int(remaining * 1000)):
                return None
            while True:
                try:
                    topic_bytes, raw = self._sub.recv_multipart(zmq.NOBLOCK)
                except zmq.Again:
                    break
                except ValueError:  # not two frames: not ours to judge here
                    continue
                topic = topic_bytes.decode(errors="replace")
                if topic not in self._topics:
                    continue
                try:
                    body = orjson.loads(raw)
                except orjson.JSONDecodeError:  # someone else's bad input: not ours to judge here
                    continue
                if not isinstance(body, dict):  # JSON but no message (``[1]``): not ours to judge either
                    continue
                self._inbox.append((topic, body))
                if wanted(topic, body):
                    return body

    def close(self) -> None:
        self._pub.close()
        self._sub.close()


def _has(fields: dict[str, Any]) -> Predicate:
    def matches(body: dict[str, Any]) -> bool:
        return all(body.get(key) == value for key, value in fields.items())

    return matches
