"""The one PUB socket of a host process, shared by every plugin and the host itself.

openmodule also funnels everything through one PUB socket per process: a second, idle PUB socket
would collect subscriptions and hold them forever. ZeroMQ sockets are not thread-safe, so sends are
serialised by a lock; any plugin worker may publish.

A PUB socket drops a message silently when the queue to the broker is full (its send high-water mark).
This one is set to refuse instead (``XPUB_NODROP``, which libzmq applies to PUB sockets too) and is
sent to without blocking: a message that does not fit is dropped at once, but :meth:`Publisher.send`
says so, and it is counted. A full queue must never block the sender: it holds the lock every plugin
and the host's own threads need.
"""

from __future__ import annotations

import errno
import threading
from collections.abc import Callable

import zmq
from zmq.backend import Socket as _BackendSocket

__all__ = ["Publisher"]


def _compiled() -> Callable[[int, bytes, bytes], int] | None:
    """The compiled send (``speedups/`` in the repository), if it is installed and built: both frames in one call,
    without pyzmq's per-frame wrapper and GIL release (0.3 us against 0.8 per message). None without it."""
    try:
        from openmodule_host_speedups import send
    except ImportError:
        return None
    return send


_compiled_send = _compiled()

#: pyzmq's own send, under the Python wrapper that zmq.Socket puts around it (for routing ids and groups,
#: which PUB sockets have not): half the cost of a message, 0.45 us against 1 us for the two frames.
_send = _BackendSocket.send
_FIRST = int(zmq.SNDMORE | zmq.NOBLOCK)
_LAST = int(zmq.NOBLOCK)


class Publisher:
    def __init__(self, context: zmq.Context[zmq.Socket[bytes]], broker_sub: str, send_hwm: int = 100_000) -> None:
        self._socket = context.socket(zmq.PUB)
        self._socket.setsockopt(zmq.LINGER, 1000)
        self._socket.setsockopt(zmq.TCP_KEEPALIVE, 1)
        self._socket.setsockopt(zmq.TCP_KEEPALIVE_IDLE, 3600)
        # libzmq's default of 1000 drops silently under a burst; keep a deeper queue.
        self._socket.setsockopt(zmq.SNDHWM, send_hwm)
        self._socket.setsockopt(zmq.XPUB_NODROP, 1)
        self._socket.connect(broker_sub)
        self._address = self._socket.underlying
        self._lock = threading.Lock()
        self._closed = False
        #: messages refused because the queue to the broker was full (from any sender).
        self.dropped = 0
        #: messages queued for libzmq's I/O thread so far (from any sender; see :mod:`..isolation.turns`).
        self.sent_count = 0

    def send(self, topic: str, body: bytes) -> bool:
        """Send one two-frame message; False (and counted) if the queue to the broker is full.

        Raises ``RuntimeError`` once the publisher is closed.
        """
        # acquire/release around try/finally rather than ``with``: 0.08 us less per message.
        lock = self._lock
        lock.acquire()
        try:
            if self._closed:
                raise RuntimeError("publisher is closed: the host is shutting down")
            compiled = _compiled_send
            if compiled is not None and body.__class__ is bytes:
                error = compiled(self._address, topic.encode(), body)
                if not error:
                    self.sent_count += 1
                    return True
                if error == errno.EAGAIN:
                    self.dropped += 1
                    return False
                raise zmq.ZMQError(error)
            # Two plain sends: send_multipart's Python loop costs more than both frames (about 3 us vs 1 us).
            try:
                _send(self._socket, topic.encode(), _FIRST)
            except zmq.Again:
                self.dropped += 1
                return False
            # libzmq checks the high-water mark per message, not per frame: once the first frame is in,
            # the second always fits.
            _send(self._socket, body, _LAST)
            self.sent_count += 1
            return True
        finally:
            lock.release()

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                self._socket.close()
