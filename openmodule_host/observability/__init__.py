"""Observability beyond the wire: the HTTP endpoint (/healthz, /metrics)."""

from .http import HTTPEndpoint, health_document, parse_address
from .prometheus import HostCollector, host_registry

__all__ = ["HTTPEndpoint", "HostCollector", "health_document", "host_registry", "parse_address"]
