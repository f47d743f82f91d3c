"""openmodule's "slow joiner" handshake (wire-protocol.md 1.5).

A SUB socket is only trusted once a message we published came back through the broker: subscribe to a
random ``__ping_<10 letters>`` topic, publish the same message on it until our own intake receives it, then
unsubscribe.

openmodule publishes every 0.1 s. The first ping is nearly always lost: our PUB socket drops it until the new
subscription has gone through the broker back to it, which takes about a millisecond on loopback. So the
host publishes again after 1 ms, then doubles the wait up to openmodule's 0.1 s (1, 2, 4 ... 64, 100, 100
ms): the check takes milliseconds instead of 0.1 s, and a broker that is not there yet gets a ping every
0.1 s as from openmodule.
"""

from __future__ import annotations

import random
import string
import threading
import time
from collections.abc import Callable, Iterator

from openmodule_hookspecs import ZMQMessage

from ..errors import BrokerUnreachable, StartInterrupted
from .intake import Intake, Route
from .publisher import Publisher

__all__ = ["ping_intervals", "wait_for_connection"]

_FIRST_INTERVAL = 0.001
_INTERVAL = 0.1


def ping_intervals() -> Iterator[float]:
    """The seconds to wait for each ping before the next: 1 ms, doubling up to 0.1 s, then 0.1 s for ever."""
    interval = _FIRST_INTERVAL
    while True:
        yield interval
        interval = min(interval * 2, _INTERVAL)


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
    intervals = ping_intervals()
    intake.add(topic, route)
    try:
        while True:
            publisher.send(topic, body)
            if arrived.wait(next(intervals)):
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
