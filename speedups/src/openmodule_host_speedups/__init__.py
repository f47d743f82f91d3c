"""Compiled helpers of openmodule-host, optional: the host imports them if they are installed and built.

- :func:`recv_batch` reads what a ZeroMQ socket holds, up to ``limit`` whole messages, with one release of the GIL,
  and returns each message as a tuple of its frames' bytes (the intake's read loop).
- :func:`send` sends a two-frame message without waiting (the host's publisher), and :func:`body` makes the wire
  body of a plugin's usual message, once :func:`setup_body` has said what to encode with (``core.publish``).

They call pyzmq's own libzmq, the one already loaded in the process (its symbols are looked up through pyzmq's
backend module, so no second libzmq is linked or loaded), and only through libzmq's stable C API: ``zmq_msg_t``
is 64 bytes in every libzmq 4.x.

Importing this package raises ImportError when the extensions were not built or pyzmq's libzmq cannot be used.
"""

from __future__ import annotations

import importlib

import zmq

from ._intake import bind, recv_batch
from ._publish import bind as _bind_publish
from ._publish import body, send
from ._publish import setup as setup_body

__all__ = ["body", "recv_batch", "send", "setup_body"]

if zmq.zmq_version_info()[0] != 4:
    raise ImportError(f"libzmq {zmq.zmq_version()} is not a 4.x release")
_backend = importlib.import_module("zmq.backend.cython._zmq").__file__
if _backend is None:
    raise ImportError("pyzmq's backend module has no file")
bind(_backend)
_bind_publish(_backend)
