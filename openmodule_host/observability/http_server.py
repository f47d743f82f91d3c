"""A small HTTP/1.0 server for a few fixed GET paths, bounded in every way a client could stretch it.

One thread serves every connection from a selector loop, so idle or slow clients cost a socket each, not
a thread. Each connection gets one request and is closed after the answer (as HTTP/1.0 without
keep-alive). The bounds:

- at most ``max_connections`` open at once; at the bound, a new connection takes the place of the oldest
  one still sending its request (which gets ``503``), or is answered ``503`` itself when every open one
  is already being answered;
- ``request_timeout`` seconds to send the request line and headers (a client that sends half a line
  and waits gets ``408`` and is closed), and as long again to take the answer;
- ``max_line_bytes`` for the request line (``414`` beyond), ``max_head_bytes`` for the line and the
  headers together (``431`` beyond); a body is never read;
- ``GET`` and ``HEAD`` on the known paths only: another path is ``404``, another method ``405``.

The answers carry no ``Server`` header (no version banner).

The loop turns at least every ``_TURN`` seconds and beats its :class:`~..watchdog.Heartbeat` at each turn;
whatever one turn or one request raises is counted there and logged at most once per 5 s (a request that
raises is answered ``500``), and the loop goes on. Should the thread end all the same, its sockets stay
open for :meth:`BoundedHTTPServer.restart`.
"""

from __future__ import annotations

import contextlib
import logging
import selectors
import socket
import threading
import time
from collections.abc import Callable, Mapping
from http import HTTPStatus
from typing import NamedTuple

from ..watchdog import Heartbeat

__all__ = ["STOP_TIMEOUT", "BoundedHTTPServer", "Response"]

log = logging.getLogger("openmodule_host.http")

_RECV_BYTES = 4096
#: the longest :meth:`BoundedHTTPServer.stop` waits for its thread (a stage of the host's stop).
STOP_TIMEOUT = 2.0
#: the loop waits at most this long between two turns (and heartbeats).
_TURN = 0.5


class Response(NamedTuple):
    status: HTTPStatus
    content_type: str
    body: bytes


class _Connection:
    __slots__ = ("answering", "deadline", "draining", "head", "linger", "opened", "outbox", "peer", "sock")

    def __init__(self, sock: socket.socket, peer: str, now: float, timeout: float) -> None:
        self.sock = sock
        self.peer = peer
        self.opened = now
        self.deadline = now + timeout
        self.head = bytearray()
        self.outbox = memoryview(b"")
        self.answering = False  # the request is read (or refused): only the answer is left to send
        self.linger = False  # the client may have sent more than was read: drain it before closing
        self.draining = False  # answered; reading (and dropping) what the client still sends, until it closes


def _plain(status: HTTPStatus, text: str) -> Response:
    return Response(status, "text/plain; charset=utf-8", text.encode() + b"\n")


class BoundedHTTPServer:
    """Serves ``routes`` (path -> a function that makes the answer) on ``bind`` from one thread."""

    def __init__(
        self,
        bind: tuple[str, int],
        routes: Mapping[str, Callable[[], Response]],
        *,
        max_connections: int = 128,
        request_timeout: float = 5.0,
        max_line_bytes: int = 4096,
        max_head_bytes: int = 16384,
        name: str = "omh-http",
        heartbeat: Heartbeat | None = None,
    ) -> None:
        self._routes = dict(routes)
        self._name = name
        #: beaten at every turn of the loop; counts what a turn or a request raised.
        self.heartbeat = heartbeat if heartbeat is not None else Heartbeat("http", _TURN, log)
        self.max_connections = max_connections
        self.request_timeout = request_timeout
        self.max_line_bytes = max_line_bytes
        self.max_head_bytes = max_head_bytes
        family, kind, proto, _, sockaddr = socket.getaddrinfo(
            bind[0], bind[1], type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
        self._listener = socket.socket(family, kind, proto)
        try:
            self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self._listener.bind(sockaddr)
            self._listener.listen(64)
        except OSError:
            self._listener.close()
            raise
        self._listener.setblocking(False)
        self._wake_reader, self._wake_writer = socket.socketpair()
        self._wake_reader.setblocking(False)
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._listener, selectors.EVENT_READ)
        self._selector.register(self._wake_reader, selectors.EVENT_READ)
        self._connections: dict[socket.socket, _Connection] = {}
        self._stopping = False
        self._closed = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    @property
    def server_address(self) -> tuple[str, int]:
        host, port = self._listener.getsockname()[:2]
        return host, port

    @property
    def connections(self) -> int:
        """How many connections are open."""
        return len(self._connections)

    @property
    def thread(self) -> threading.Thread | None:
        """The serving thread while it is meant to run (None once stopping)."""
        return None if self._stopping else self._thread

    def start(self) -> None:
        self._thread.start()

    def restart(self) -> None:
        """A new serving thread in place of one that ended, on the same sockets."""
        if not self._thread.is_alive() and not self._stopping and not self._closed:
            self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Stop serving and close every socket; returns within about 2 s."""
        self._stopping = True
        if self._thread.is_alive():
            with contextlib.suppress(OSError):
                self._wake_writer.send(b"x")
            self._thread.join(STOP_TIMEOUT)
        if not self._thread.is_alive():
            self._close_all()

    # -- the loop ---------------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            while not self._stopping:
                self.heartbeat.beat()
                try:
                    self._turn()
                except Exception as error:  # one turn's trouble (a bug), never the endpoint's end
                    self.heartbeat.failed("serving HTTP", error)
        finally:
            if self._stopping:
                self._close_all()

    def _turn(self) -> None:
        now = time.monotonic()
        deadline = min((connection.deadline for connection in self._connections.values()), default=now + _TURN)
        for key, events in self._selector.select(max(0.0, min(deadline - now, _TURN))):
            if key.fileobj is self._listener:
                self._accept()
            elif key.fileobj is not self._wake_reader:
                self._serve(key.data, events)
        self._expire(time.monotonic())

    def _accept(self) -> None:
        while True:
            try:
                sock, peer = self._listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as error:  # e.g. out of file descriptors: the client waits in the backlog
                log.warning("HTTP endpoint cannot accept a connection: %s", error)
                return
            sock.setblocking(False)
            now = time.monotonic()
            connection = _Connection(sock, f"{peer[0]}:{peer[1]}", now, self.request_timeout)
            if len(self._connections) >= self.max_connections and not self._make_room():
                self._refuse(connection, _plain(HTTPStatus.SERVICE_UNAVAILABLE, "busy: too many connections"))
                continue
            self._connections[sock] = connection
            self._selector.register(sock, selectors.EVENT_READ, connection)

    def _make_room(self) -> bool:
        """At the bound: close the oldest connection still sending its request (with 503), or one answered
        already that has not closed yet; False if there is none."""
        reading = [connection for connection in self._connections.values()
                   if not connection.answering or connection.draining]
        if not reading:
            return False
        oldest = min(reading, key=lambda connection: connection.opened)
        self._drop(oldest, _plain(HTTPStatus.SERVICE_UNAVAILABLE, "busy: too many connections"))
        return True

    def _serve(self, connection: _Connection, events: int) -> None:
        try:
            if events & selectors.EVENT_READ and (connection.draining or not connection.answering):
                self._read(connection)
            if events & selectors.EVENT_WRITE and connection.answering:
                self._write(connection)
        except OSError:  # reset by the peer, and the like
            self._close(connection)

    def _read(self, connection: _Connection) -> None:
        data = connection.sock.recv(_RECV_BYTES)
        if not data:
            self._close(connection)
            return
        if connection.draining:
            return
        head = connection.head
        head += data
        end = head.find(b"\r\n\r\n")
        if end < 0:
            end = head.find(b"\n\n")
        line_end = head.find(b"\n")
        if (line_end < 0 and len(head) > self.max_line_bytes) or line_end > self.max_line_bytes:
            connection.linger = True
            self._answer(connection, _plain(HTTPStatus.REQUEST_URI_TOO_LONG, "request line too long"))
        elif (end < 0 and len(head) > self.max_head_bytes) or end > self.max_head_bytes:
            connection.linger = True
            self._answer(connection, _plain(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, "request headers too large"))
        elif end >= 0:
            connection.linger = len(head) > end + (4 if head[end:end + 4] == b"\r\n\r\n" else 2)  # a body
            self._respond(connection, bytes(head[:line_end]).rstrip(b"\r"))

    def _respond(self, connection: _Connection, line: bytes) -> None:
        parts = line.decode("latin-1").split()
        if len(parts) != 3 or not parts[2].startswith("HTTP/"):
            self._answer(connection, _plain(HTTPStatus.BAD_REQUEST, "bad request line"))
            return
        method, target = parts[0], parts[1]
        path = target.split("?", 1)[0]
        make = self._routes.get(path)
        log.debug("%s %s %s", connection.peer, method, target)
        if make is None:
            self._answer(connection, _plain(HTTPStatus.NOT_FOUND, f"not found: try {' or '.join(self._routes)}"))
        elif method not in ("GET", "HEAD"):
            self._answer(connection, _plain(HTTPStatus.METHOD_NOT_ALLOWED, "only GET and HEAD"),
                         extra=b"Allow: GET, HEAD\r\n")
        else:
            try:
                response = make()
            except Exception as error:
                self.heartbeat.failed(f"a request from {connection.peer.rsplit(':', 1)[0]}", error)
                response = _plain(HTTPStatus.INTERNAL_SERVER_ERROR, "internal error (logged)")
            self._answer(connection, response, head_only=method == "HEAD")

    @staticmethod
    def _encode(response: Response, extra: bytes = b"", head_only: bool = False) -> bytes:
        status = response.status
        head = (f"HTTP/1.0 {status.value} {status.phrase}\r\nContent-Type: {response.content_type}\r\n"
                f"Content-Length: {len(response.body)}\r\nConnection: close\r\n").encode("latin-1")
        return head + extra + b"\r\n" + (b"" if head_only else response.body)

    def _answer(self, connection: _Connection, response: Response, *, extra: bytes = b"",
                head_only: bool = False) -> None:
        """Queue the answer; the connection closes once it is sent (or its new deadline passes)."""
        connection.answering = True
        connection.outbox = memoryview(self._encode(response, extra, head_only))
        connection.deadline = time.monotonic() + self.request_timeout
        self._selector.modify(connection.sock, selectors.EVENT_WRITE, connection)
        self._write(connection)

    def _write(self, connection: _Connection) -> None:
        try:
            sent = connection.sock.send(connection.outbox)
        except BlockingIOError:  # the send buffer is full: wait for the selector to say it has room
            return
        connection.outbox = connection.outbox[sent:]
        if connection.outbox:
            return
        if not connection.linger:
            self._close(connection)
            return
        # Closing with unread bytes would reset the connection, and the client might lose the answer: end
        # our side and read until the client closes (or its deadline).
        connection.sock.shutdown(socket.SHUT_WR)
        connection.draining = True
        self._selector.modify(connection.sock, selectors.EVENT_READ, connection)

    def _refuse(self, connection: _Connection, response: Response) -> None:
        """Answer a connection that is not (or no longer) served, as far as its send buffer takes it, and close it."""
        with contextlib.suppress(OSError):
            connection.sock.send(self._encode(response))
        connection.sock.close()

    def _drop(self, connection: _Connection, response: Response) -> None:
        self._forget(connection)
        self._refuse(connection, response)

    def _expire(self, now: float) -> None:
        for connection in [connection for connection in self._connections.values() if connection.deadline <= now]:
            if connection.answering:
                log.debug("%s did not take its answer (or close) in time; closed", connection.peer)
                self._close(connection)
            else:
                log.debug("%s did not send its request in time; closed", connection.peer)
                self._drop(connection, _plain(HTTPStatus.REQUEST_TIMEOUT, "request timeout"))

    def _forget(self, connection: _Connection) -> None:
        self._connections.pop(connection.sock, None)
        with contextlib.suppress(KeyError, ValueError):
            self._selector.unregister(connection.sock)

    def _close(self, connection: _Connection) -> None:
        self._forget(connection)
        connection.sock.close()

    def _close_all(self) -> None:
        if self._closed:
            return
        self._closed = True
        for connection in list(self._connections.values()):
            self._close(connection)
        self._selector.close()
        for sock in (self._listener, self._wake_reader, self._wake_writer):
            sock.close()
