"""The broker: libzmq's own XSUB/XPUB forwarder, as openmodule deployments run it.

Publishers connect to the XSUB side (``BROKER_SUB``), subscribers to the XPUB side (``BROKER_PUB``);
subscriptions travel upstream so publishers filter by topic. The proxy loop runs in C
(``zmq.proxy_steerable``), so an embedded broker costs the host no GIL time; a control socket lets
:meth:`Broker.stop` end it cleanly.
"""

from __future__ import annotations

import errno
import threading
import uuid

import zmq

from ..errors import BrokerAddressInUse
from ..placement import BROKER_THREAD

__all__ = ["Broker"]


class Broker:
    """An XSUB/XPUB proxy bound on ``sub_address`` (XSUB) and ``pub_address`` (XPUB)."""

    def __init__(self, context: zmq.Context[zmq.Socket[bytes]], sub_address: str, pub_address: str) -> None:
        self.context = context
        self.sub_address = sub_address
        self.pub_address = pub_address
        self._control_address = f"inproc://omh-broker-control-{uuid.uuid4().hex}"
        self._thread: threading.Thread | None = None
        self._control: zmq.Socket[bytes] | None = None

    def start(self) -> None:
        """Bind both sides and start forwarding; raises :class:`BrokerAddressInUse` on a taken address."""
        xsub = self.context.socket(zmq.XSUB)
        xpub = self.context.socket(zmq.XPUB)
        control_in = self.context.socket(zmq.PAIR)
        for sock in (xsub, xpub, control_in):
            sock.setsockopt(zmq.LINGER, 0)
        # Messages in flight must not be dropped by the broker's own high-water marks under a burst.
        xpub.setsockopt(zmq.SNDHWM, 100_000)
        xsub.setsockopt(zmq.RCVHWM, 100_000)
        # The XSUB side sends subscriptions on to every publisher and drops them silently past its send
        # high-water mark (1000 by default): a burst of new topics lost some, and their publishers never sent
        # on them. Bounded all the same: a publisher that never reads them holds at most this many.
        xsub.setsockopt(zmq.SNDHWM, 100_000)
        try:
            self._bind(xsub, self.sub_address)
            self._bind(xpub, self.pub_address)
        except BrokerAddressInUse:
            for sock in (xsub, xpub, control_in):
                sock.close()
            raise
        control_in.bind(self._control_address)
        self._control = self.context.socket(zmq.PAIR)
        self._control.setsockopt(zmq.LINGER, 0)
        self._control.connect(self._control_address)

        def run() -> None:
            try:
                zmq.proxy_steerable(xsub, xpub, None, control_in)
            except zmq.ContextTerminated:
                pass
            finally:
                for sock in (xsub, xpub, control_in):
                    sock.close()

        self._thread = threading.Thread(target=run, name=BROKER_THREAD, daemon=True)
        self._thread.start()

    @staticmethod
    def _bind(sock: zmq.Socket[bytes], address: str) -> None:
        try:
            sock.bind(address)
        except zmq.ZMQError as error:
            if error.errno == errno.EADDRINUSE:
                raise BrokerAddressInUse(address, error.strerror) from None
            raise

    def stop(self, timeout: float = 5.0) -> bool:
        """Stop forwarding and close the sockets; False if the proxy did not end within ``timeout`` (its
        sockets are then still in use by its thread: the context must not be destroyed under it)."""
        if self._control is not None:
            self._control.send(b"TERMINATE")
        ended = True
        if self._thread is not None:
            self._thread.join(timeout)
            ended = not self._thread.is_alive()
            if ended:
                self._thread = None
        if self._control is not None:
            self._control.close()  # only now: closing at once could discard the TERMINATE
            self._control = None
        return ended

    @property
    def running(self) -> bool:
        """Whether the proxy's thread still runs (started and not yet ended)."""
        return self._thread is not None and self._thread.is_alive()
