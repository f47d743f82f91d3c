"""An HTTP endpoint for container probes and scraping (off by default; ``--http 127.0.0.1:PORT``).

``GET /healthz``: 200 while every required plugin is running and no host thread is dead or stuck, else
503; the JSON body lists each plugin's state (and each troubled host thread). ``GET /metrics``: the
Prometheus exposition of the host's metrics.
"""

from __future__ import annotations

import logging
import sys
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

import orjson
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

from ..errors import ConfigError
from ..watchdog import Heartbeat
from .prometheus import host_registry

if TYPE_CHECKING:
    from ..host import Host

__all__ = ["HTTPEndpoint", "health_document", "parse_address"]

log = logging.getLogger("openmodule_host.http")


def parse_address(address: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:PORT`` for IPv6) -> (host, port); a clear ConfigError otherwise."""
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) < 65536:
        raise ConfigError(f"invalid HTTP address {address!r}: use HOST:PORT, e.g. 127.0.0.1:8080")
    return host.strip("[]"), int(port)


def health_document(host: Host) -> tuple[bool, dict[str, Any]]:
    statuses = host.statuses()
    threads = host.watchdog.problems() if host.watchdog is not None else {}
    healthy = not threads and all(status.state == "running" for status in statuses if status.required)
    document: dict[str, Any] = {
        "status": "ok" if healthy else "unhealthy",
        "name": host.config.name,
        "plugins": {
            status.name: {"state": status.state, "required": status.required, "message": status.message}
            for status in statuses
        },
    }
    if threads:
        document["threads"] = threads
    return healthy, document


class _Server(ThreadingHTTPServer):
    """Beats the endpoint's heartbeat at every turn of ``serve_forever`` (0.5 s at most); a request that
    raises is counted and logged at most once per 5 s, instead of a traceback on stderr each."""

    heartbeat: Heartbeat

    def service_actions(self) -> None:
        self.heartbeat.beat()

    def handle_error(self, request: Any, client_address: Any) -> None:
        error = sys.exc_info()[1]
        if error is not None:
            self.heartbeat.failed(f"a request from {client_address[0]}", error)


class HTTPEndpoint:
    def __init__(self, host: Host, address: str) -> None:
        self._host = host
        self._registry = host_registry(host)
        bind = parse_address(address)
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                endpoint._serve(self)

            def log_message(self, format: str, *args: Any) -> None:
                log.debug("%s " + format, self.address_string(), *args)

        try:
            self._server = _Server(bind, Handler)
        except OSError as error:
            raise ConfigError(f"cannot serve HTTP on {address}: {error.strerror}") from None
        self._server.daemon_threads = True
        #: beaten by the server thread; counts the requests that raised.
        self.heartbeat = self._server.heartbeat = Heartbeat("http", 0.5, log)
        self._stopping = False
        self._thread = threading.Thread(target=self._server.serve_forever, name="omh-http", daemon=True)

    @property
    def address(self) -> str:
        host, port = self._server.server_address[:2]
        return f"{host}:{port}"

    def start(self) -> None:
        self._thread.start()
        log.info("HTTP endpoint on http://%s (/healthz, /metrics)", self.address)

    @property
    def thread(self) -> threading.Thread | None:
        """The server thread while it is meant to run (None once stopping)."""
        return None if self._stopping else self._thread

    def restart(self) -> None:
        """A new server thread on the same listening socket, in place of one that ended."""
        if not self._thread.is_alive() and not self._stopping:
            self._thread = threading.Thread(target=self._server.serve_forever, name="omh-http", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stopping = True
        self._server.shutdown()
        self._server.server_close()

    def _serve(self, request: BaseHTTPRequestHandler) -> None:
        path = request.path.split("?", 1)[0]
        if path == "/healthz":
            healthy, document = health_document(self._host)
            self._reply(request, HTTPStatus.OK if healthy else HTTPStatus.SERVICE_UNAVAILABLE,
                        "application/json", orjson.dumps(document))
        elif path == "/metrics":
            self._reply(request, HTTPStatus.OK, CONTENT_TYPE_LATEST, generate_latest(self._registry))
        else:
            self._reply(request, HTTPStatus.NOT_FOUND, "text/plain", b"not found: try /healthz or /metrics\n")

    @staticmethod
    def _reply(request: BaseHTTPRequestHandler, status: HTTPStatus, content_type: str, body: bytes) -> None:
        request.send_response(status)
        request.send_header("Content-Type", content_type)
        request.send_header("Content-Length", str(len(body)))
        request.end_headers()
        request.wfile.write(body)
