"""Small plugins defined in the test suite itself, loaded with PluginCandidate.from_object."""

from __future__ import annotations

import queue
import threading
import time
from typing import Any

from openmodule_hookspecs import ZMQMessage, hookimpl


class Ping(ZMQMessage):
    type: str = "ping"
    seq: int = 0
    sent_at: float = 0.0


class Recorder:
    """Records every message on ``topic`` (with the delay since ``sent_at``) into a queue."""

    def __init__(self, topic: str = "t", message_class: type[ZMQMessage] = Ping, **register: Any) -> None:
        self.topic = topic
        self.message_class = message_class
        self.register = register
        self.received: queue.Queue[tuple[ZMQMessage, float]] = queue.Queue()
        self.core: Any = None

    @hookimpl
    def register_handlers(self, core: Any) -> None:
        self.core = core
        core.messages.register_handler(self.topic, self.message_class, self.on_message, **self.register)

    def on_message(self, message: ZMQMessage) -> None:
        self.received.put((message, time.time() - getattr(message, "sent_at", 0.0)))

    def take(self, count: int, timeout: float = 5.0) -> list[tuple[ZMQMessage, float]]:
        return [self.received.get(timeout=timeout) for _ in range(count)]


class Blocker(Recorder):
    """A plugin whose handler blocks until released (at most ``hold`` seconds)."""

    def __init__(self, topic: str = "t", hold: float = 30.0) -> None:
        super().__init__(topic)
        self.hold = hold
        self.release = threading.Event()
        self.entered = threading.Event()

    def on_message(self, message: ZMQMessage) -> None:
        self.entered.set()
        self.release.wait(self.hold)
        super().on_message(message)


class Raiser(Recorder):
    """A plugin whose handler raises for every odd ``seq``."""

    def on_message(self, message: ZMQMessage) -> None:
        seq: int = getattr(message, "seq", 0)  # the test's field, beyond ZMQMessage's
        if seq % 2:
            raise ValueError(f"odd sequence number {seq}")
        super().on_message(message)
