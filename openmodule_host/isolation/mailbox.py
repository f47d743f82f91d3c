"""A plugin's bounded mailbox and the worker thread that empties it.

Everything a plugin runs (its message handlers, its hooks) goes through its own mailbox and runs on
its own worker, in arrival order. A handler that blocks therefore stalls only its plugin: the mailbox
fills, further deliveries to that plugin are dropped and counted, and every other plugin goes on.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from contextlib import AbstractContextManager
from time import monotonic
from typing import Any, TypeVar

from ..throttle import KeyedLogThrottle, LogThrottle
from .turns import TURN_EVERY, CPUTurns

__all__ = ["Mailbox", "Worker"]

T = TypeVar("T")

#: A unit of work: ``function(argument)``. Deliveries are (listener.deliver, body) pairs.
Item = tuple[Callable[[Any], Any], Any]

_DROP_LOG_INTERVAL = 5.0
#: a worker busy with one item for longer than this is not waited for by the intake (see ``Mailbox.crowded``).
STUCK_SECONDS = 0.1


class Mailbox:
    """A bounded FIFO with a drop counter. ``offer`` never blocks: a full mailbox drops the item.

    Any thread may offer; exactly one thread (the plugin's :class:`Worker`) takes.
    """

    def __init__(self, owner: str, capacity: int, log: logging.Logger) -> None:
        if capacity < 1:
            raise ValueError("mailbox capacity must be at least 1")
        self.owner = owner
        self.capacity = capacity
        self.dropped = 0
        self._log = log
        self._items: deque[Item] = deque()
        self._lock = threading.Lock()
        # The worker's wake-up: a bare lock used as a one-token semaphore, held while nobody needs waking. The
        # worker blocks in acquire(); an offer releases it (any thread may release a Lock). A Condition does
        # the same in a dozen lines of Python per wait and notify, which counted at one wake-up per RPC.
        self._wake = threading.Lock()
        self._wake.acquire()
        self._closed = False
        #: the worker that empties this mailbox, once there is one (it sets itself here).
        self.worker: Worker | None = None
        #: the worker is (about to be) blocked on ``_wake``; set and cleared under ``_lock``.
        self._waiting = False
        self._drop_log = LogThrottle(_DROP_LOG_INTERVAL)
        #: the next item without waiting; raises IndexError when there is none. For the worker's loop,
        #: which runs it once per item: a bound ``deque.popleft`` (atomic) costs a fifth of a method call.
        self.take_nowait: Callable[[], Item] = self._items.popleft

    def __len__(self) -> int:
        return len(self._items)

    def offer(self, item: Item, *, force: bool = False) -> bool:
        """Queue an item; returns False (and counts a drop) when the mailbox is full or closed.

        ``force`` queues past the capacity: for the host's own calls (hooks), never for messages.
        """
        with self._lock:
            if self._closed or (len(self._items) >= self.capacity and not force):
                self.dropped += 1
                self._log_drop()
                return False
            self._items.append(item)
            if self._waiting:
                # Once is enough: the only waiter is the worker. Clearing the flag spares the offers that follow
                # before it runs (a whole intake batch) a wake-up each.
                self._waiting = False
                self._wake.release()
        return True

    def offer_many(self, items: list[Item]) -> int:
        """Queue items in order, as many as fit; the rest are dropped and counted. Returns how many fit."""
        with self._lock:
            room = 0 if self._closed else max(0, self.capacity - len(self._items))
            taken = items if len(items) <= room else items[:room]
            self._items.extend(taken)
            if len(taken) < len(items):
                self.dropped += len(items) - len(taken)
                self._log_drop()
            if taken and self._waiting:
                self._waiting = False
                self._wake.release()
        return len(taken)

    def crowded(self) -> bool:
        """More than half full while its worker gets on with it (running, and idle or not stuck in one item for
        more than ``STUCK_SECONDS``): the intake then lets the worker catch up (see ``Intake._catch_up``). The
        mailbox of a stuck worker, or of none, is never crowded: nobody waits for it."""
        if len(self._items) * 2 <= self.capacity:
            return False
        worker = self.worker
        if worker is None or not worker.running:
            return False
        since = worker.busy_since
        return since is None or monotonic() - since < STUCK_SECONDS

    def _log_drop(self) -> None:
        # Drops are never silent, but a flood must not turn into a flood of log lines either.
        if (quiet := self._drop_log.allow()) is not None:
            self._log.warning(
                "mailbox of plugin %s is full (capacity %d): dropped a message (%d more since the last report, "
                "%d in total)",
                self.owner,
                self.capacity,
                quiet,
                self.dropped,
            )

    def take(self) -> Item | None:
        """Block until an item is there and return it; None once closed and empty.

        One item at a time, so that what is queued is always in the mailbox: its length is the backlog,
        and :meth:`discard` at a drain deadline really drops everything not yet started.
        """
        # Fast path without the lock, the common case under load: deque.popleft is atomic, and an item that
        # is there needs no wake-up. Only an empty mailbox waits, for the token that offer() releases.
        if self._items:
            try:
                return self._items.popleft()
            except IndexError:  # emptied by discard() in between
                pass
        while True:
            with self._lock:
                if self._items:
                    return self._items.popleft()
                if self._closed:
                    return None
                self._waiting = True
            # Outside the lock: an offer (or close) in between releases the token first, and this returns at once.
            self._wake.acquire()

    def close(self) -> None:
        """Refuse new items; the worker finishes what is queued and then stops."""
        with self._lock:
            self._closed = True
            if self._waiting:
                self._waiting = False
                self._wake.release()

    def discard(self) -> int:
        """Drop everything still queued (after a drain deadline); returns how many items were dropped."""
        count = 0
        with self._lock:
            # Item by item: the worker may take one at the same moment (without the lock), and each item
            # must be either run or counted as dropped, never both.
            while True:
                try:
                    self._items.popleft()
                except IndexError:
                    break
                count += 1
            self.dropped += count
        return count


class Worker:
    """The thread that runs one plugin's work, item by item.

    ``context``, if given, is entered once on the thread before the first item and left when it ends
    (e.g. the plugin's sentry scope): whatever it sets up applies to everything the plugin runs. ``turns``, if
    given, are the host's :class:`~.turns.CPUTurns`: with items left, the worker yields its CPU after every
    ``TURN_EVERY`` messages the host sent, so that they leave while it works on.
    """

    def __init__(
        self,
        mailbox: Mailbox,
        log: logging.Logger,
        context: Callable[[], AbstractContextManager[object]] | None = None,
        turns: CPUTurns | None = None,
    ) -> None:
        self.mailbox = mailbox
        self._log = log
        self._context = context
        self._turns = turns
        #: "unexpected error" lines: one per exception type per 5 s.
        self._error_log = KeyedLogThrottle()
        self._thread = threading.Thread(target=self._run, name=f"omh-plugin-{mailbox.owner}", daemon=True)
        #: the time the current item started, or None while idle: lets a watchdog see a hang.
        self.busy_since: float | None = None
        #: seconds spent on items (the handlers, their validation and replies): written by this thread only.
        self.busy_seconds = 0.0
        mailbox.worker = self

    def start(self) -> None:
        self._thread.start()

    @property
    def running(self) -> bool:
        """Whether the worker's thread has started and not ended."""
        return self._thread.is_alive()

    def _run(self) -> None:
        if self._context is None:
            self._loop()
        else:
            with self._context():
                self._loop()

    def _loop(self) -> None:
        mailbox, turns = self.mailbox, self._turns
        take, take_nowait, queued = mailbox.take, mailbox.take_nowait, mailbox._items
        sends = turns.sends if turns is not None else None
        # the host's sends when the worker last yielded or slept: after TURN_EVERY more, with items left, it yields
        mark = sends.sent_count if sends is not None else 0
        started: float | None = None
        while True:
            # One clock reading per item serves both the hang watchdog (busy_since) and busy_seconds: the
            # previous item ended when this one starts.
            now = monotonic()
            if started is not None:
                self.busy_seconds += now - started
            # Marked busy before the item leaves the mailbox, so that it always counts as queued or running.
            self.busy_since = started = now
            try:
                function, argument = take_nowait()
            except IndexError:
                self.busy_since = started = None
                if (item := take()) is None:
                    return
                self.busy_since = started = monotonic()
                function, argument = item
                if sends is not None:
                    mark = sends.sent_count
            try:
                function(argument)
            except Exception as error:  # deliveries handle their own errors; this is the last line of defence
                self._error_log.log(self._log, logging.ERROR, (mailbox.owner, type(error).__name__),
                                    "plugin %s: unexpected error in its worker", mailbox.owner, exc_info=True)
            if sends is not None and sends.sent_count - mark >= TURN_EVERY and queued:
                assert turns is not None
                mark = sends.sent_count
                try:
                    turns.take()
                except Exception:  # (a yield cannot fail; this thread must not end if it did)
                    self._error_log.log(self._log, logging.ERROR, (mailbox.owner, "turn"),
                                        "plugin %s: its worker's turn failed", mailbox.owner, exc_info=True)

    def submit(self, function: Callable[[], T]) -> Future[T]:
        """Run ``function`` on this worker after everything already queued; the future has its result.

        Hook calls go this way so that they run on the plugin's thread, never concurrently with its
        handlers. Once the mailbox is closed the future fails at once.
        """
        future: Future[T] = Future()

        def run(_: object) -> None:
            if not future.set_running_or_notify_cancel():
                return
            try:
                future.set_result(function())
            except BaseException as error:
                future.set_exception(error)

        if not self.mailbox.offer((run, None), force=True):
            future.set_exception(RuntimeError(f"plugin {self.mailbox.owner} is stopped"))
        return future

    def join(self, timeout: float) -> bool:
        """Wait for the worker to finish; returns False if it is still busy after ``timeout``."""
        self._thread.join(timeout)
        return not self._thread.is_alive()
