"""The in-memory transport of the fake core: the host's intake and publisher without sockets or a broker.

:class:`MemoryIntake` keeps the host's real routing table (``Intake.add``/``remove``/``replace`` are
inherited unchanged) and routes a message the way the intake thread does on its decoded path: the same
size, depth and JSON checks (:func:`~openmodule_host.wire.decode`), the same ``type`` match, one offer per
plugin mailbox. :class:`MemoryPublisher` hands every message it is given straight back to that intake,
as a broker would, and keeps a copy. Everything above these two (listeners, filters, validation, the RPC
router and server, the RPC client's call table, health, alerts, connection status) is the host's own code.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from ..stats import IntakeStats
from ..watchdog import Heartbeat
from ..wire import DecodeError, Intake, Publisher, decode
from ..wire.codec import DEFAULT_MAX_DEPTH
from ..wire.intake import Batching, Drops, RawRoute, Route

__all__ = ["MemoryIntake", "MemoryPublisher", "Tap"]

#: sees every message the intake routes (topic, decoded body), after it was routed.
Tap = Callable[[str, dict[str, Any]], None]


class MemoryIntake(Intake):
    """The host's intake over no socket: :meth:`route` is what the intake thread does with one message."""

    def __init__(self, *, max_body_bytes: int, log: logging.Logger, max_depth: int = DEFAULT_MAX_DEPTH) -> None:
        # Not Intake.__init__: it opens ZeroMQ sockets. These are the attributes the routing code reads.
        self.stats = IntakeStats()
        self.drops = Drops(self.stats, log, max_depth)
        self.broker_pub = "memory://"
        self.max_body_bytes = max_body_bytes
        self.max_depth = max_depth
        self._log = log
        self.heartbeat = Heartbeat("intake", 1.0, log)
        self._routes: dict[bytes, tuple[Route, ...]] = {}
        self._raw_routes: dict[bytes, RawRoute] = {}
        self._routes_lock = threading.Lock()
        self._commands_lock = threading.Lock()
        self._stopped = False
        self._taps: list[Tap] = []

    def add_tap(self, tap: Tap) -> None:
        """Show ``tap`` every routed message too (the fake's record, its scripted RPC answers)."""
        self._taps.append(tap)

    def _command(self, verb: bytes, topic: bytes = b"") -> None:
        """No socket to subscribe: the routing table is all there is."""

    def start(self) -> None:
        """Nothing runs in the background: :meth:`route` is called by whoever sends."""

    def restart(self) -> None:
        """Nothing to restart."""

    def stop(self, timeout: float = 5.0) -> bool:
        self._stopped = True
        return True

    def route(self, topic: str, raw: bytes) -> None:
        """Route one message as the intake thread routes a decoded one: malformed bodies and unrouted topics
        are counted in ``stats``; each route whose ``type`` matches gets the body (a plugin's through one
        offer to its mailbox). Any thread."""
        self.stats.received += 1
        try:
            _topic, body = decode([topic.encode(), raw], self.max_body_bytes, self.max_depth)
        except DecodeError as error:
            self.drops.malformed(error)
            return
        routes = self._routes.get(topic.encode())
        delivered = False
        batches: dict[Batching, list[tuple[Callable[[Any], Any], Any]]] = {}
        message_type = body.get("type")
        for route_type, post, mailbox, deliver, _ in routes or ():
            if route_type is None or route_type == message_type:
                delivered = True
                if mailbox is None or deliver is None:
                    post(body)
                else:
                    batches.setdefault(mailbox, []).append((deliver, body))
        for mailbox, items in batches.items():
            mailbox.offer_many(items)
        if not delivered:
            self.drops.unrouted()
        for tap in list(self._taps):
            tap(topic, body)


class MemoryPublisher(Publisher):
    """The host's publisher over no socket: each message goes straight to ``intake`` (as through a broker)
    and is kept in :attr:`sent`."""

    def __init__(self, intake: MemoryIntake) -> None:
        # Not Publisher.__init__: it opens a ZeroMQ socket.
        self._intake = intake
        self._lock = threading.Lock()
        self._closed = False
        self.dropped = 0
        self.sent_count = 0
        #: every (topic, body) sent, in order.
        self.sent: list[tuple[str, bytes]] = []

    def send(self, topic: str, body: bytes) -> bool:
        """Route the message now, on the sending thread (no lock is held meanwhile: a scripted answer may
        send again from inside); raises ``RuntimeError`` once closed, as the real one."""
        with self._lock:
            if self._closed:
                raise RuntimeError("publisher is closed: the host is shutting down")
            self.sent.append((topic, body))
            self.sent_count += 1
        self._intake.route(topic, body)
        return True

    def close(self) -> None:
        with self._lock:
            self._closed = True
