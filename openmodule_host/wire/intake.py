"""The host's single subscriber: receives every message once, decodes it once, routes it.

One SUB socket per host process, subscribed to the union of the topics its listeners need. The intake
thread owns that socket; other threads change subscriptions through an inproc control socket, because
ZeroMQ sockets must not be shared between threads. Routing is exact on the topic (ZeroMQ matches only
by prefix) and on ``type``; the rest of the work happens on the receiving plugin's worker.

No input ends the thread: a body too large or nested too deep is dropped before it is parsed, and any
exception while one message is handled (a route's ``post``, an offer) is counted in the intake's
:class:`~..watchdog.Heartbeat` and logged (at most once per 5 s); the next message follows. Only a stop,
the context's end or a broken socket (a ``ZMQError``) end it; then the watchdog starts a new thread on
new sockets (:meth:`Intake.restart`).
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections import deque
from collections.abc import Callable
from os import sched_yield
from time import monotonic, sleep
from typing import Any, NamedTuple, Protocol, cast

import zmq
from openmodule_hookspecs import dumps
from orjson import JSONDecodeError, loads

from ..stats import IntakeStats
from ..throttle import LogThrottle
from ..watchdog import Heartbeat
from .codec import DEFAULT_MAX_DEPTH, TOO_DEEP, DecodeError, decode, too_deep

#: ``recv_batch(socket address, limit) -> (messages, errno)``: see :mod:`openmodule_host_speedups`.
RecvBatch = Callable[[int, int], tuple[list[tuple[bytes, ...]], int]]


def _compiled_reader() -> RecvBatch | None:
    """The compiled reader (``speedups/`` in the repository), if it is installed and built: it reads a batch with
    one release of the GIL and makes no Frame objects. None without it (no C compiler when it was installed, or
    pyzmq's libzmq not usable by it): then the intake reads with pyzmq."""
    try:
        from openmodule_host_speedups import recv_batch
    except ImportError:
        return None
    return recv_batch


_compiled_recv_batch = _compiled_reader()

__all__ = ["Drops", "Intake", "RawRoute", "Route"]

_RECV_BATCH = 256
#: after a batch that left a mailbox crowded, the longest the intake lets its worker catch up (s), and the
#: step it sleeps in meanwhile: see :meth:`Intake._catch_up`.
_CATCH_UP_SECONDS = 0.002
_CATCH_UP_STEP = 0.0001
#: For this many messages into a batch, ask the socket whether another one is waiting before reading it;
#: after that, read until ``zmq.Again``. The question costs 1.1 us, the exception 3.4 us: a short batch
#: (an RPC at a time) ends cheaper with the question, a long one (a flood) with the exception.
_ASK_FIRST = 3
#: the intake beats its heartbeat at least this often (ms), even when nothing arrives.
_POLL_MS = 1000


class Batching(Protocol):
    """A mailbox that takes a whole intake batch at once (see :meth:`Intake._route`)."""

    def offer_many(self, items: list[tuple[Callable[[Any], Any], Any]]) -> int: ...

    def crowded(self) -> bool:
        """Whether a worker that gets on with its work has a backlog to catch up with (a plugin's mailbox more
        than half full): then the intake lets it catch up after the batch (see :meth:`Intake._catch_up`)."""
        ...


class Route(NamedTuple):
    """Where a message goes: ``post(body)`` is called for each message on the topic whose ``type``
    equals ``type`` (any type when None). ``post`` runs on the intake thread and must not block.

    A plugin's route also names its ``mailbox`` and ``deliver`` (both, or it is posted): then the intake queues
    ``(deliver, body)`` for the whole batch it read with one :meth:`Batching.offer_many` instead.
    With ``deliver_raw`` too, and as the only route of its topic, it gets ``(deliver_raw, json_bytes)``
    for bodies that contain its type's key and value: it decodes (and checks) them itself.
    """

    type: str | None
    post: Callable[[dict[str, Any]], object]
    mailbox: Batching | None = None
    deliver: Callable[[dict[str, Any]], Any] | None = None
    deliver_raw: Callable[[bytes], Any] | None = None


class RawRoute(NamedTuple):
    """The undecoded way to a topic's only route: bodies that contain ``marker`` go to ``deliver_raw``."""

    marker: bytes
    mailbox: Batching
    deliver_raw: Callable[[bytes], Any]

    @classmethod
    def of(cls, routes: tuple[Route, ...]) -> RawRoute | None:
        if len(routes) != 1:
            return None
        route = routes[0]
        if route.mailbox is None or route.deliver_raw is None:
            return None
        # ``"type":"<type>"`` exactly as openmodule (and the host) serialise it. A body without it is decoded
        # here and routed by its real type; one with it (even nested, in theory) is checked by deliver_raw.
        marker = b"" if route.type is None else dumps({"type": route.type})[1:-1]
        return cls(marker, route.mailbox, route.deliver_raw)


class Drops:
    """The intake's counts of what it drops, safe to add to from any thread.

    The intake thread counts most of them; a plugin's worker counts those it finds in a body the intake
    passed on undecoded (see :class:`RawRoute`).
    """

    def __init__(self, stats: IntakeStats, log: logging.Logger, max_depth: int = DEFAULT_MAX_DEPTH) -> None:
        self._stats = stats
        #: the nesting limit the intake applies; a worker decoding a body the intake passed on uses it too.
        self.max_depth = max_depth
        self._log = log
        self._lock = threading.Lock()
        self._malformed_log = LogThrottle(5.0)

    def malformed(self, error: DecodeError) -> None:
        # Logged before it is counted (both under the lock, the line at most once per 5 s): whoever sees the
        # count sees the line.
        with self._lock:
            malformed = self._stats.malformed
            if (quiet := self._malformed_log.allow()) is not None:
                counts = dict(malformed)
                counts[error.reason] = counts.get(error.reason, 0) + 1
                self._log.error(
                    "dropped a malformed message (%s); %d more dropped since the last report, counts: %s",
                    error, quiet, counts,
                )
            malformed[error.reason] += 1

    def unrouted(self, count: int = 1) -> None:
        with self._lock:
            self._stats.unrouted += count


class Intake:
    def __init__(
        self,
        context: zmq.Context[zmq.Socket[bytes]],
        broker_pub: str,
        *,
        max_body_bytes: int,
        log: logging.Logger,
        max_depth: int = DEFAULT_MAX_DEPTH,
        recv_hwm: int = 100_000,
    ) -> None:
        self.stats = IntakeStats()
        self.drops = Drops(self.stats, log, max_depth)
        self.broker_pub = broker_pub
        self.max_body_bytes = max_body_bytes
        self.max_depth = max_depth
        self._log = log
        self._context = context
        self._recv_hwm = recv_hwm
        #: beaten every round of the intake thread; counts what the thread caught (see the module).
        self.heartbeat = Heartbeat("intake", _POLL_MS / 1000, log)
        #: routes by topic as it comes off the wire (bytes): a message's topic needs no decoding to be routed.
        self._routes: dict[bytes, tuple[Route, ...]] = {}
        self._raw_routes: dict[bytes, RawRoute] = {}
        self._routes_lock = threading.Lock()
        self._commands_lock = threading.Lock()
        self._stopped = False
        #: set by the intake thread when it reaches the barrier command of :meth:`wait_subscribed`, in order.
        self._barriers: deque[threading.Event] = deque()
        self._open_sockets()
        self._thread = threading.Thread(target=self._run, name="omh-intake", daemon=True)

    def _open_sockets(self) -> None:
        """The SUB socket and the control pair (their thread-side ends belong to the intake thread)."""
        self._sub = self._context.socket(zmq.SUB)
        self._sub.setsockopt(zmq.LINGER, 0)
        self._sub.setsockopt(zmq.TCP_KEEPALIVE, 1)
        self._sub.setsockopt(zmq.TCP_KEEPALIVE_IDLE, 3600)
        self._sub.setsockopt(zmq.RCVHWM, self._recv_hwm)
        # A SUB socket sends only subscriptions, and drops them silently past its send high-water mark
        # (1000): a burst of new topics (channels opened side by side, each with its connection check) lost
        # some, and their connection checks waited for their timeout. Their number is bounded by the routes.
        self._sub.setsockopt(zmq.SNDHWM, 0)
        self._sub.connect(self.broker_pub)

        address = f"inproc://omh-intake-{uuid.uuid4().hex}"
        self._commands_in = self._context.socket(zmq.PULL)
        self._commands_in.setsockopt(zmq.LINGER, 0)
        self._commands_in.bind(address)
        self._commands = self._context.socket(zmq.PUSH)
        self._commands.setsockopt(zmq.LINGER, 0)
        self._commands.connect(address)

    # -- routing table (any thread) ---------------------------------------------------------------

    @property
    def topics(self) -> list[str]:
        with self._routes_lock:
            keys = list(self._routes)
        return sorted(topic.decode() for topic in keys)

    def add(self, topic: str, route: Route) -> None:
        """Route ``topic`` to ``route`` too; the first route of a topic subscribes it."""
        key = topic.encode()
        with self._routes_lock:
            routes = self._routes.get(key, ())
            self._set_routes(key, (*routes, route))
            if not routes:
                self._command(b"+", key)

    def remove(self, topic: str, route: Route) -> None:
        """Stop routing ``topic`` to ``route``; the last route of a topic unsubscribes it."""
        key = topic.encode()
        with self._routes_lock:
            if key not in self._routes:
                return
            routes = tuple(r for r in self._routes[key] if r is not route)
            self._set_routes(key, routes)
            if not routes:
                self._command(b"-", key)

    def replace(self, topic: str, old: Route, new: Route) -> None:
        """Put ``new`` in the place of ``old`` at once: no message on the topic goes to both, or to neither."""
        key = topic.encode()
        with self._routes_lock:
            routes = self._routes.get(key, ())
            if not any(route is old for route in routes):
                raise ValueError(f"no such route on topic {topic!r}")
            self._set_routes(key, tuple(new if route is old else route for route in routes))

    def _set_routes(self, key: bytes, routes: tuple[Route, ...]) -> None:
        """Set one topic's routes (none: forget the topic) in place, in O(1) whatever the table's size.

        The intake thread reads both tables without a lock, one ``get`` per message, and each entry changes
        in one step (atomic in CPython). A message whose raw entry it finds goes to that topic's only
        route; any other is routed by the full entry, old or new. Either way it reaches exactly one of two
        swapped routes. The order of the steps keeps that true in between: a raw entry is dropped before
        the full one changes, and set after it. Holds the lock.
        """
        raw_table, table = self._raw_routes, self._routes
        raw = RawRoute.of(routes) if routes else None
        if raw is None:
            raw_table.pop(key, None)
        if routes:
            table[key] = routes
        else:
            table.pop(key, None)
        if raw is not None:
            raw_table[key] = raw

    def wait_subscribed(self, timeout: float = 10.0) -> bool:
        """Wait until the intake thread has applied every subscription change asked for so far (its SUB socket
        passes them on to the broker); False after ``timeout`` or once stopped. Tests use it after a start, so
        that a message published at once is not dropped for a subscription still on its way."""
        reached = threading.Event()
        with self._commands_lock:
            if self._stopped:
                return False
            self._barriers.append(reached)
            self._commands.send_multipart((b"=", b""))
        return reached.wait(timeout)

    def _command(self, verb: bytes, topic: bytes = b"") -> None:
        with self._commands_lock:
            if not self._stopped:  # after stop, routes may still be removed; nothing to unsubscribe
                self._commands.send_multipart((verb, topic))

    # -- lifecycle --------------------------------------------------------------------------------

    def start(self) -> None:
        self._thread.start()

    @property
    def thread(self) -> threading.Thread:
        return self._thread

    def restart(self) -> None:
        """Start a new intake thread on new sockets, subscribed to every routed topic, in place of one that
        ended (its sockets closed as it ended). Never for a thread that is still alive (stuck): it would
        share the sockets. Messages published while no thread received are lost."""
        if self._thread.is_alive():
            raise RuntimeError("the intake thread is still alive")
        with self._routes_lock, self._commands_lock:
            if self._stopped:
                return
            for socket in (self._sub, self._commands_in, self._commands):
                if not socket.closed:
                    socket.close()
            self._open_sockets()
            for topic in self._routes:
                self._sub.setsockopt(zmq.SUBSCRIBE, topic)
            self._thread = threading.Thread(target=self._run, name="omh-intake", daemon=True)
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
        sub, commands, beat = self._sub, self._commands_in, self.heartbeat.beat
        poller = zmq.Poller()
        poller.register(sub, zmq.POLLIN)
        poller.register(commands, zmq.POLLIN)
        try:
            while True:
                beat()
                try:
                    ready = dict(poller.poll(_POLL_MS))
                    if commands in ready and not self._apply_commands():
                        return
                    if sub in ready:
                        self._receive_batch()
                except zmq.ZMQError:
                    raise  # the context ended, or a socket broke: this thread is done
                except Exception as error:
                    self.heartbeat.failed("a round", error)
        except zmq.ContextTerminated:
            return
        except zmq.ZMQError as error:
            self._log.error("intake thread: its socket failed (%s); it ends", error)
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
            elif verb == b"=":
                self._barriers.popleft().set()
            else:
                return False

    def _receive_batch(self) -> None:
        """Read what is waiting (up to a batch), with the compiled reader if it is installed, then route it.

        After a batch that left a mailbox crowded, the workers catch up (:meth:`_catch_up`). Without it, the
        compiled reader, which costs half what a worker spends on a message, took the GIL back in every round
        of the two threads' GIL hand-over and filled a healthy plugin's mailbox in a flood (a seventh to a third
        of it was dropped).
        """
        if (compiled := _compiled_recv_batch) is None:
            if crowded := self._route(self._read()):
                self._catch_up(crowded)
            return
        messages, error = compiled(self._sub.underlying, _RECV_BATCH)
        if crowded := self._route(messages):
            self._catch_up(crowded)
        if error:  # the socket or the context failed after those messages: end as pyzmq's recv would
            raise zmq.ContextTerminated() if error == zmq.ETERM else zmq.ZMQError(error)

    @staticmethod
    def _catch_up(crowded: list[Batching]) -> None:
        """Let the workers of ``crowded`` mailboxes catch up: yield the GIL and the CPU once
        (``os.sched_yield``), then, while one of them is still crowded, sleep in steps of 0.1 ms, for at most
        2 ms per batch. One yield was enough on a quiet machine; where other threads of the process want the
        GIL too, the worker often did not get it in that one yield, and a healthy plugin's mailbox overflowed
        in a flood (4,208 of 100,000 dropped, once in CI).

        Bounded, and never for a stuck plugin: a mailbox whose worker has been busy with one item for more
        than 0.1 s is not crowded (:meth:`Mailbox.crowded`), so a stuck plugin costs the others at most 2 ms
        per batch during its first 0.1 s and nothing after, and a slow one at most 2 ms per batch (up to 256
        messages) while it is behind.
        """
        sched_yield()
        deadline = monotonic() + _CATCH_UP_SECONDS
        while any(mailbox.crowded() for mailbox in crowded) and monotonic() < deadline:
            sleep(_CATCH_UP_STEP)

    def _read(self) -> list[tuple[bytes, ...]]:
        """The pure-Python reader: the messages waiting (up to a batch), each a tuple of its frames."""
        # Not recv_multipart: it asks for RCVMORE through getsockopt after every frame, which in pyzmq costs
        # more than the frame itself (2.1 us against 1.2 us per two-frame message). A zero-copy Frame
        # carries that flag already.
        # (pyzmq types ``get`` as returning int or bytes for any option; EVENTS is an int option.)
        recv, events = self._sub.recv, cast(Callable[[int], int], self._sub.get)
        messages: list[tuple[bytes, ...]] = []
        for position in range(_RECV_BATCH):
            # (The first one is there: the poll said so.)
            if 0 < position <= _ASK_FIRST and not events(zmq.EVENTS) & zmq.POLLIN:
                break
            try:
                frame = recv(zmq.NOBLOCK, copy=False)
            except zmq.Again:
                break
            if frame.more:
                topic = frame.bytes
                frame = recv(zmq.NOBLOCK, copy=False)
                if not frame.more:  # two frames: the only well-formed case
                    messages.append((topic, frame.bytes))
                    continue
                frames = [topic, frame.bytes]
            else:
                frames = [frame.bytes]
            while frame.more:  # the other frames of a multipart message arrive together with the first
                frame = recv(zmq.NOBLOCK, copy=False)
                frames.append(frame.bytes)
            messages.append(tuple(frames))
        return messages

    def _route(self, messages: list[tuple[bytes, ...]]) -> list[Batching]:
        """Route a batch that was read, then hand each plugin its share at once.

        Routing only collects a plugin's messages; they reach its mailbox with one offer per batch. So a
        worker is woken at most once per batch, and does not take the GIL from this thread in the middle
        of it (pyzmq releases the GIL in every ``recv``; waking workers message by message made the two
        threads trade it up to twice per message).

        A message for a plugin that decodes its own bodies (:class:`RawRoute`) is passed on as it came: the
        intake only looks up the topic, checks the size and depth and looks for the type. Any other well-formed
        message on a routed topic takes the inline path: topic lookup as bytes, size check, ``orjson.loads``,
        routing by ``type``. Everything else goes through :func:`~.codec.decode`, which names what is wrong.

        An exception while one message is handled (a route's ``post``) costs that message only, one while a
        mailbox takes its share costs that share: both are counted and logged by the heartbeat.

        Returns the mailboxes it fed that are :meth:`~Batching.crowded` now.
        """
        table, raw_table = self._routes, self._raw_routes
        max_body_bytes, max_depth, failed = self.max_body_bytes, self.max_depth, self.heartbeat.failed
        batches: dict[Batching, list[tuple[Callable[[Any], Any], Any]]] = {}
        unrouted = 0
        for frames in messages:
            try:
                routes = None
                if len(frames) == 2:  # the only well-formed case
                    topic, raw = frames
                    # Bounded before anything parses it (the count bounds the depth at C speed).
                    if (len(raw) <= max_body_bytes and raw.count(b"[") + raw.count(b"{") > max_depth
                            and too_deep(raw, max_depth)):
                        where = topic.decode(errors="replace")
                        self.drops.malformed(DecodeError(
                            TOO_DEEP, f"body nested deeper than {max_depth} levels on {where!r}"))
                        continue
                    fast = raw_table.get(topic)
                    if fast is not None and len(raw) <= max_body_bytes and fast.marker in raw:
                        if (batch := batches.get(fast.mailbox)) is not None:
                            batch.append((fast.deliver_raw, raw))
                        else:
                            batches[fast.mailbox] = [(fast.deliver_raw, raw)]
                        continue
                    routes = table.get(topic)
                body: Any = None
                if routes is not None and len(frames[1]) <= max_body_bytes:
                    try:
                        body = loads(frames[1])
                    except JSONDecodeError:
                        body = None  # decode() below counts it, by reason
                if routes is None or body.__class__ is not dict:
                    # The slow path: malformed (counted by reason) or on a topic nobody routes (prefix match).
                    try:
                        _topic, body = decode(frames, max_body_bytes, max_depth)
                    except DecodeError as error:
                        self.drops.malformed(error)
                        continue
                    if routes is None:
                        unrouted += 1
                        continue
                message_type = body.get("type")
                delivered = False
                for route_type, post, mailbox, deliver, _ in routes:
                    if route_type is None or route_type == message_type:
                        delivered = True
                        if mailbox is None or deliver is None:
                            post(body)
                        elif (batch := batches.get(mailbox)) is not None:
                            batch.append((deliver, body))
                        else:
                            batches[mailbox] = [(deliver, body)]
                if not delivered:
                    unrouted += 1
            except zmq.ContextTerminated:
                raise
            except Exception as error:
                failed("handling a message", error)
        self.stats.received += len(messages)
        if unrouted:
            self.drops.unrouted(unrouted)
        # One offer per mailbox and batch: one lock and at most one wake-up, and the order is kept.
        crowded = []
        for mailbox, items in batches.items():
            try:
                mailbox.offer_many(items)
                if mailbox.crowded():
                    crowded.append(mailbox)
            except zmq.ContextTerminated:
                raise
            except Exception as error:
                failed("a mailbox taking a batch", error)
        return crowded
