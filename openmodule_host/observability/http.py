"""An HTTP endpoint for container probes and scraping (off by default; ``--http 127.0.0.1:PORT``).

``GET /healthz``: 200 while every required plugin is running and no host thread is dead or stuck, else
503; the JSON body lists each plugin's state (and each troubled host thread). ``GET /metrics``: the
Prometheus exposition of the host's metrics. The limits (one thread, bounded connections, timeouts and
sizes) are :mod:`.http_server`'s.
"""

from __future__ import annotations

import logging
import threading
from http import HTTPStatus
from typing import Any

import orjson

from ..errors import ConfigError
from ..watchdog import Heartbeat
from .http_server import BoundedHTTPServer, Response
from .view import ObservedHost

# prometheus-client (about 3 MiB) is imported by the endpoint itself: a host without ``--http`` never loads it.

__all__ = ["HTTPEndpoint", "health_document", "parse_address"]

log = logging.getLogger("openmodule_host.http")


def parse_address(address: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:PORT`` for IPv6) -> (host, port); a clear ConfigError otherwise."""
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) < 65536:
        raise ConfigError(f"invalid HTTP address {address!r}: use HOST:PORT, e.g. 127.0.0.1:8080")
    return host.strip("[]"), int(port)


def health_document(host: ObservedHost) -> tuple[bool, dict[str, Any]]:
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


class HTTPEndpoint:
    """``/healthz`` and ``/metrics`` on ``address``, served by a :class:`BoundedHTTPServer` (one thread)."""

    def __init__(self, host: ObservedHost, address: str, **limits: Any) -> None:
        from .prometheus import host_registry

        self._host = host
        self._registry = host_registry(host)
        bind = parse_address(address)
        try:
            self._server = BoundedHTTPServer(bind, {"/healthz": self._healthz, "/metrics": self._metrics}, **limits)
        except OSError as error:
            raise ConfigError(f"cannot serve HTTP on {address}: {error.strerror}") from None

    @property
    def address(self) -> str:
        host, port = self._server.server_address
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"

    @property
    def server(self) -> BoundedHTTPServer:
        return self._server

    @property
    def heartbeat(self) -> Heartbeat:
        """The serving thread's heartbeat, for the host's watchdog."""
        return self._server.heartbeat

    @property
    def thread(self) -> threading.Thread | None:
        """The serving thread while it is meant to run (None once stopping)."""
        return self._server.thread

    def restart(self) -> None:
        """A new serving thread in place of one that ended (the watchdog's remedy)."""
        self._server.restart()

    def start(self) -> None:
        self._server.start()
        log.info("HTTP endpoint on http://%s (/healthz, /metrics)", self.address)

    def stop(self) -> None:
        self._server.stop()

    def _healthz(self) -> Response:
        healthy, document = health_document(self._host)
        return Response(HTTPStatus.OK if healthy else HTTPStatus.SERVICE_UNAVAILABLE, "application/json",
                        orjson.dumps(document))

    def _metrics(self) -> Response:
        from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

        return Response(HTTPStatus.OK, CONTENT_TYPE_LATEST, generate_latest(self._registry))
