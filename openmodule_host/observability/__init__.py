"""Observability beyond the wire: log output, the HTTP endpoint (/healthz, /metrics)."""

from .http import HTTPEndpoint, health_document, parse_address
from .logs import HumanFormatter, JsonFormatter, configure_logging, mask_secrets
from .prometheus import HostCollector, host_registry
from .view import ObservedHost

__all__ = [
    "HTTPEndpoint",
    "HostCollector",
    "HumanFormatter",
    "JsonFormatter",
    "ObservedHost",
    "configure_logging",
    "health_document",
    "host_registry",
    "mask_secrets",
    "parse_address",
]
