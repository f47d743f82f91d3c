"""openmodule's "slow joiner" handshake (wire-protocol.md 1.5).

A SUB socket is only trusted once a message we published came back through the broker: subscribe to a
random ``__ping_<10 letters>`` topic, publish the same message on it every 0.1 s until our own intake
receives it, then unsubscribe.
"""

from __future__ import annotations

import random
import string
import threading
import time
from collections.abc import Callable

from openmodule_hookspecs import ZMQMessage

from ..errors import BrokerUnreachable, StartInterrupted
from .intake import Intake, Route
from .publisher import Publisher

__all__ = ["wait_for_connection"]

_INTERVAL = 0.1


def wait_for_connection(intake: Intake, publisher: Publisher, name: str, timeout: float = 100.0,
                        stop: threading.Event | None = None, progress: Callable[[float], None] | None = None,
                        progress_every: float = 5.0) -> float:
    """Block until a ping published by ``publisher`` comes back through ``intake``.

    Returns the seconds it took; raises :class:`BrokerUnreachable` after ``timeout``, and
    :class:`StartInterrupted` once ``stop`` is set. ``progress`` is called with the seconds waited so far
    every ``progress_every`` seconds while there is no answer.
    """
    topic = "__ping_" + "".join(random.choices(string.ascii_letters, k=10))
    arrived = threading.Event()
    route = Route(type=None, post=lambda _body: arrived.set())
    body = ZMQMessage(name=name, type="connection-check").json_bytes()  # one message, one timestamp
    started = time.monotonic()
    next_progress = started + progress_every
    intake.add(topic, route)
    try:
        while True:
            publisher.send(topic, body)
            if arrived.wait(_INTERVAL):
                return time.monotonic() - started
            if stop is not None and stop.is_set():
                raise StartInterrupted("stop requested during the broker connection check")
            if progress is not None and time.monotonic() >= next_progress:
                next_progress += progress_every
                progress(time.monotonic() - started)
            if time.monotonic() - started > timeout:
                raise BrokerUnreachable(
                    f"could not connect to the message broker in time: no answer through "
                    f"{intake.broker_pub} within {timeout:.0f} s (is the broker running?)"
                )
    finally:
        intake.remove(topic, route)
