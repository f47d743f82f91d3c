"""The broker process: a plain XSUB/XPUB ``zmq.proxy`` on free loopback ports, without high-water marks.

Run as ``python -m bench.broker``; it prints its two addresses as a ``ready`` control line and forwards
until it is terminated. HWM 0 (no limit) on both sides, so a slow receiver makes messages queue here
instead of being dropped.
"""

from __future__ import annotations

import zmq

from .protocol import emit


def main() -> None:
    context = zmq.Context()
    xsub = context.socket(zmq.XSUB)
    xpub = context.socket(zmq.XPUB)
    for sock in (xsub, xpub):
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.SNDHWM, 0)
        sock.setsockopt(zmq.RCVHWM, 0)
    xsub.bind("tcp://127.0.0.1:*")
    xpub.bind("tcp://127.0.0.1:*")
    emit("ready", sub=xsub.getsockopt_string(zmq.LAST_ENDPOINT), pub=xpub.getsockopt_string(zmq.LAST_ENDPOINT))
    zmq.proxy(xsub, xpub)


if __name__ == "__main__":
    main()
