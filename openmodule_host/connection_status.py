"""The garage's internet/bridge connection status, shared by the host, with a view per plugin.

One :class:`ConnectionState` per host follows ``connection_internal`` (and the legacy
``connection_status``) messages on the intake thread. Each plugin's ``core.connection_listener`` is a
:class:`ConnectionStatusListener` over it with openmodule's polling API (``get``, ``get_bridge``,
``previous``, ``wait_for_change``, ``changed(id)``, ``check_timeout``) plus the ``on_connect`` /
``on_disconnect`` EventListeners of older releases, which run on the plugin's own worker.

The first value comes from the RPC ``connection``/``status`` (``shutdown`` if nobody answers); the status
falls back to ``shutdown`` when no message came for 60 s while ``startup`` or ``online``.

Nothing a message holds raises into the intake: a message that fails validation in any way is counted
(:attr:`ConnectionState.invalid`) and logged at most once per 5 s. A flapping status costs each plugin at
most one queued callback: changes that come while it waits are coalesced into it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from openmodule_hookspecs import (
    BridgeStatus,
    ConnectionRPCResponse,
    ConnectionStatus,
    ConnectionStatusMessage,
    EventListener,
    OpenModuleModel,
)

from .isolation import Mailbox
from .throttle import LogThrottle
from .watchdog import Heartbeat
from .wire import Intake, Route

__all__ = ["TOPICS", "ConnectionState", "ConnectionStatusListener"]

#: the current topic and the one openmodule <= 10.x used.
TOPICS = ("connection_internal", "connection_status")
MESSAGE_TIMEOUT = 60.0
_CONNECTED = (ConnectionStatus.startup, ConnectionStatus.online)

Status = ConnectionRPCResponse
RPC = Callable[[str, str, OpenModuleModel, type[ConnectionRPCResponse]], ConnectionRPCResponse]


class ConnectionState:
    """The host's one copy of the connection status."""

    def __init__(self, intake: Intake, rpc: RPC, log: logging.Logger, message_timeout: float = MESSAGE_TIMEOUT,
                 check_interval: float = 5.0) -> None:
        self._rpc = rpc
        self._log = log
        self.message_timeout = message_timeout
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self.status: Status | None = None
        self.previous: Status = Status(connected=ConnectionStatus.shutdown)
        self.last_message = time.monotonic()
        self.last_changed_time = 0.0
        self._views: list[ConnectionStatusListener] = []
        self._routes = [(topic, Route(type="connection_status", post=self._on_message)) for topic in TOPICS]
        self._intake = intake
        for topic, route in self._routes:
            intake.add(topic, route)
        #: messages on the connection topics that failed validation (counted on the intake thread).
        self.invalid = 0
        self._invalid_log = LogThrottle(5.0)
        self._stop = threading.Event()
        self._check_interval = check_interval
        #: beaten by the ticker every round; counts what it caught.
        self.heartbeat = Heartbeat("connection", check_interval, log)
        self._ticker = self._new_ticker()

    def _new_ticker(self) -> threading.Thread:
        ticker = threading.Thread(target=self._tick, args=(self._check_interval,), name="omh-connection",
                                  daemon=True)
        ticker.start()
        return ticker

    @property
    def ticker(self) -> threading.Thread | None:
        """The ticker thread while it is meant to run (None once closed)."""
        return None if self._stop.is_set() else self._ticker

    def restart_ticker(self) -> None:
        """A new ticker in place of one that ended (it holds nothing but this object)."""
        if not self._ticker.is_alive() and not self._stop.is_set():
            self._ticker = self._new_ticker()

    def close(self) -> None:
        self._stop.set()
        for topic, route in self._routes:
            self._intake.remove(topic, route)

    def _tick(self, interval: float) -> None:
        while not self._stop.wait(interval):
            self.heartbeat.beat()
            try:
                self.check_timeout()
            except Exception as error:
                self.heartbeat.failed("the status timeout check", error)

    def attach(self, view: ConnectionStatusListener) -> None:
        with self._lock:
            self._views.append(view)

    def detach(self, view: ConnectionStatusListener) -> None:
        with self._lock:
            if view in self._views:
                self._views.remove(view)

    def _on_message(self, body: dict[str, Any]) -> None:
        """On the intake thread: whatever the body holds, nothing raises from here."""
        try:
            message = ConnectionStatusMessage.model_validate(body)
        except Exception as error:  # ValidationError, or anything a hostile body makes validation raise
            self.invalid += 1
            if (quiet := self._invalid_log.allow()) is not None:
                self._log.error("invalid connection status message (%s): %s (%d more not logged since the last "
                                "report, %d in all)", type(error).__name__, error, quiet, self.invalid)
            return
        with self._lock:
            self.last_message = time.monotonic()
            self._set(message.connected, message.bridge_status)

    def current(self) -> Status:
        """The status, after fetching the first one and applying the message timeout."""
        if self.status is None:
            self.fetch()
        self.check_timeout()
        assert self.status is not None
        return self.status

    def fetch(self) -> Status:
        """Ask ``connection``/``status`` (openmodule's om_rpc_client answers); ``shutdown`` if nobody does."""
        try:
            response = self._rpc("connection", "status", OpenModuleModel(), ConnectionRPCResponse)
        except Exception as error:
            self._log.warning("could not get the initial connection status (%s): assuming shutdown",
                              type(error).__name__)
            with self._lock:
                return self.status if self.status is not None else self._set(ConnectionStatus.shutdown)
        with self._lock:
            self.last_message = time.monotonic()
            return self._set(response.connected, response.bridge_status)

    def check_timeout(self) -> None:
        with self._lock:
            if (self.status is not None and self.status.connected in _CONNECTED
                    and time.monotonic() - self.last_message > self.message_timeout):
                self._log.info("no connection status for %.0f s: assuming shutdown", self.message_timeout)
                self._set(ConnectionStatus.shutdown)

    def wait_for_change(self, timeout: float | None) -> bool:
        with self._changed:
            return self._changed.wait(timeout)

    def _set(self, connected: ConnectionStatus, bridge: BridgeStatus | None = None) -> Status:
        """Holds the lock; returns the status now in force."""
        old = self.status
        if old is not None and connected == old.connected and (bridge is None or bridge == old.bridge_status):
            return old
        self.previous = old or self.previous
        bridge = bridge or (old.bridge_status if old is not None else None)
        status = self.status = Status(connected=connected, bridge_status=bridge)
        self.last_changed_time = time.time()
        self._log.info("connection status changed: internet %s, bridge %s", connected, bridge)
        self._changed.notify_all()
        was = old is not None and old.connected in _CONNECTED
        now = connected in _CONNECTED
        for view in self._views:
            view._status_changed(was_connected=was, connected=now)
        return status


class ConnectionStatusListener:
    """``core.connection_listener``: one plugin's view of the host's connection status."""

    def __init__(self, state: ConnectionState, mailbox: Mailbox, log: logging.Logger) -> None:
        self._state = state
        self._mailbox = mailbox
        self._seen: set[str] = set()
        self._seen_lock = threading.Lock()
        #: the latest transition not yet delivered: (connected, status); at most one callback is queued for it.
        self._latest: tuple[bool, ConnectionStatus | None] | None = None
        self._queued = False
        self._latest_lock = threading.Lock()
        #: called (on the plugin's worker) with the new status when it becomes startup/online.
        self.on_connect = EventListener(log=log)
        #: called (on the plugin's worker) with the new status when it becomes shutdown/offline.
        self.on_disconnect = EventListener(log=log)
        state.attach(self)

    def get(self) -> ConnectionStatus:
        return self._state.current().connected

    def get_bridge(self) -> BridgeStatus | None:
        return self._state.current().bridge_status

    def get_current_status(self) -> ConnectionRPCResponse:
        return self._state.fetch()

    @property
    def previous(self) -> ConnectionStatus:
        return self._state.previous.connected

    @property
    def previous_bridge(self) -> BridgeStatus | None:
        return self._state.previous.bridge_status

    @property
    def last_changed_time(self) -> float:
        return self._state.last_changed_time

    def check_timeout(self) -> None:
        self._state.check_timeout()

    def wait_for_change(self, timeout: float | None = None) -> bool:
        """True when the status changed within ``timeout``."""
        return self._state.wait_for_change(timeout)

    def changed(self, consumer: str) -> bool:
        """Whether the status changed since ``consumer`` last asked (True on a consumer's first question)."""
        if self._state.status is None:
            self._state.fetch()
        with self._seen_lock:
            first = consumer not in self._seen
            self._seen.add(consumer)
            return first

    def _status_changed(self, was_connected: bool, connected: bool) -> None:
        """Holds the state's lock: only bookkeeping and a non-blocking post to the plugin's mailbox.

        Coalesced: while a callback waits in the mailbox, further transitions only replace the one it will
        deliver, so a flapping status queues one callback per plugin, not one per change.
        """
        with self._seen_lock:
            self._seen.clear()
        if connected == was_connected or not (self.on_connect or self.on_disconnect):
            return
        status = self._state.status
        with self._latest_lock:
            self._latest = (connected, status.connected if status else None)
            if self._queued:
                return
            self._queued = True
        if not self._mailbox.offer((self._deliver_latest, None), force=True):
            with self._latest_lock:  # the mailbox is closed: the plugin stops
                self._queued = False

    def _deliver_latest(self, _: None) -> None:
        """On the plugin's worker: call on_connect or on_disconnect for the latest transition."""
        with self._latest_lock:
            latest, self._latest, self._queued = self._latest, None, False
        if latest is not None:
            connected, value = latest
            (self.on_connect if connected else self.on_disconnect)(value)

    def close(self) -> None:
        self._state.detach(self)
