"""The host's single subscriber: receives every message once, decodes it once, routes it.

One SUB socket per host process, subscribed to the union of the topics its listeners need. The intake
thread owns that socket; other threads change subscriptions through an inproc control socket, because
ZeroMQ sockets must not be shared between threads. Routing is exact on the topic (ZeroMQ matches only
by prefix) and on ``type``; the rest of the work happens on the receiving plugin's worker.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from typing import Any, NamedTuple, Protocol

import zmq

from ..stats import IntakeStats
from ..throttle import LogThrottle
from .codec import DecodeError, decode

__all__ = ["Intake", "Route"]

_RECV_BATCH = 256


class Batching(Protocol):
    """A mailbox that takes a whole intake batch at once (see :meth:`Intake._receive_batch`)."""

    def offer_many(self, items: list[tuple[Callable[[Any], Any], Any]]) -> int: ...


class Route(NamedTuple):
    """Where a message goes: ``post(body)`` is called for each message on the topic whose ``type``
    equals ``type`` (any type when None). ``post`` runs on the intake thread and must not block.

    A plugin's route also names its ``mailbox`` and ``deliver``: then the intake queues
    ``(deliver, body)`` for the whole batch it read with one :meth:`Batching.offer_many` instead.
    """

    type: str | None
    post: Callable[[dict[str, Any]], object]
    mailbox: Batching | None = None
    deliver: Callable[[dict[str, Any]], Any] | None = None


class Intake:
    def __init__(
        self,
        context: zmq.Context,
        broker_pub: str,
        *,
        max_body_bytes: int,
        log: logging.Logger,
        recv_hwm: int = 100_000,
    ) -> None:
        self.stats = IntakeStats()
        self.broker_pub = broker_pub
        self.max_body_bytes = max_body_bytes
        self._log = log
        self._routes: dict[str, tuple[Route, ...]] = {}
        self._routes_lock = threading.Lock()
        self._malformed_log = LogThrottle(5.0)

        self._sub = context.socket(zmq.SUB)
        self._sub.setsockopt(zmq.LINGER, 0)
        self._sub.setsockopt(zmq.TCP_KEEPALIVE, 1)
        self._sub.setsockopt(zmq.TCP_KEEPALIVE_IDLE, 3600)
        self._sub.setsockopt(zmq.RCVHWM, recv_hwm)
        self._sub.connect(broker_pub)

        address = f"inproc://omh-intake-{uuid.uuid4().hex}"
        self._commands_in = context.socket(zmq.PULL)
        self._commands_in.setsockopt(zmq.LINGER, 0)
        self._commands_in.bind(address)
        self._commands = context.socket(zmq.PUSH)
        self._commands.setsockopt(zmq.LINGER, 0)
        self._commands.connect(address)
        self._commands_lock = threading.Lock()
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="omh-intake", daemon=True)

    # -- routing table (any thread) ---------------------------------------------------------------

    @property
    def topics(self) -> list[str]:
        return sorted(self._routes)

    def add(self, topic: str, route: Route) -> None:
        """Route ``topic`` to ``route`` too; the first route of a topic subscribes it."""
        with self._routes_lock:
            routes = self._routes.get(topic, ())
            # Copy on write: the intake thread reads the table without a lock.
            self._routes = {**self._routes, topic: (*routes, route)}
            if not routes:
                self._command(b"+", topic)

    def remove(self, topic: str, route: Route) -> None:
        """Stop routing ``topic`` to ``route``; the last route of a topic unsubscribes it."""
        with self._routes_lock:
            routes = tuple(r for r in self._routes.get(topic, ()) if r is not route)
            table = dict(self._routes)
            if routes:
                table[topic] = routes
            elif topic in table:
                del table[topic]
                self._command(b"-", topic)
            self._routes = table

    def _command(self, verb: bytes, topic: str = "") -> None:
        with self._commands_lock:
            if not self._stopped:  # after stop, routes may still be removed; nothing to unsubscribe
                self._commands.send_multipart((verb, topic.encode()))

    # -- lifecycle --------------------------------------------------------------------------------

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> bool:
        """Stop receiving and close the sockets; returns False if the thread did not end in time."""
        if self._thread.is_alive():
            self._command(b"stop")
            self._thread.join(timeout)
        with self._commands_lock:
            if not self._stopped:
                self._stopped = True
                self._commands.close()
        return not self._thread.is_alive()

    # -- the intake thread ------------------------------------------------------------------------

    def _run(self) -> None:
        sub, commands = self._sub, self._commands_in
        poller = zmq.Poller()
        poller.register(sub, zmq.POLLIN)
        poller.register(commands, zmq.POLLIN)
        try:
            while True:
                ready = dict(poller.poll())
                if commands in ready and not self._apply_commands():
                    return
                if sub in ready:
                    self._receive_batch()
        except zmq.ContextTerminated:
            return
        finally:
            sub.close()
            commands.close()

    def _apply_commands(self) -> bool:
        """Apply queued subscription changes; False on stop."""
        while True:
            try:
                verb, topic = self._commands_in.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return True
            if verb == b"+":
                self._sub.setsockopt(zmq.SUBSCRIBE, topic)
            elif verb == b"-":
                self._sub.setsockopt(zmq.UNSUBSCRIBE, topic)
            else:
                return False

    def _receive_batch(self) -> None:
        """Read and route what is waiting (up to a batch), then hand each plugin its share at once.

        Routing only collects a plugin's messages; they reach its mailbox with one offer per batch. So a
        worker is woken at most once per batch, and does not take the GIL from this thread in the middle
        of it (pyzmq releases the GIL in every ``recv``; waking workers message by message made the two
        threads trade it up to twice per message).
        """
        # Not recv_multipart: it asks for RCVMORE through getsockopt after every frame, which in pyzmq costs
        # more than the frame itself (2.1 us against 1.2 us per two-frame message). A zero-copy Frame
        # carries that flag already.
        recv = self._sub.recv
        stats = self.stats
        max_body_bytes = self.max_body_bytes
        batches: dict[Batching, list[tuple[Callable[[Any], Any], Any]]] = {}
        received = 0
        for _ in range(_RECV_BATCH):
            try:
                frame = recv(zmq.NOBLOCK, copy=False)
            except zmq.Again:
                break
            received += 1
            frames = [frame.bytes]
            while frame.more:  # the other frames of a multipart message arrive together with the first
                frame = recv(zmq.NOBLOCK, copy=False)
                frames.append(frame.bytes)
            try:
                topic, body = decode(frames, max_body_bytes)
            except DecodeError as error:
                stats.malformed[error.reason] += 1
                if (quiet := self._malformed_log.allow()) is not None:
                    self._log.error(
                        "dropped a malformed message (%s); %d more dropped since the last report, counts: %s",
                        error, quiet, dict(stats.malformed),
                    )
                continue
            self._route(topic, body, batches)
        stats.received += received
        # One offer per mailbox and batch: one lock and at most one wake-up, and the order is kept.
        for mailbox, items in batches.items():
            mailbox.offer_many(items)

    def _route(
        self, topic: str, body: dict[str, Any], batches: dict[Batching, list[tuple[Callable[[Any], Any], Any]]]
    ) -> None:
        routes = self._routes.get(topic)
        delivered = False
        if routes:
            message_type = body.get("type")
            for route in routes:
                if route.type is None or route.type == message_type:
                    if route.mailbox is None:
                        route.post(body)
                    else:
                        batch = batches.get(route.mailbox)
                        if batch is None:
                            batch = batches[route.mailbox] = []
                        batch.append((route.deliver, body))
                    delivered = True
        if not delivered:
            self.stats.unrouted += 1
