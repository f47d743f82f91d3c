"""Observability beyond the wire: log output, the HTTP endpoint (/healthz, /metrics)."""

from typing import TYPE_CHECKING

from .._lazy import lazy_attributes
from .logs import HumanFormatter, JsonFormatter, configure_logging, mask_secrets
from .view import ObservedHost

if TYPE_CHECKING:
    from .http import HTTPEndpoint, health_document, parse_address
    from .prometheus import HostCollector, host_registry

# The HTTP endpoint and prometheus-client load with ``--http``, or when these names are first used.
__getattr__, __dir__ = lazy_attributes(__name__, {
    "HTTPEndpoint": ".http",
    "health_document": ".http",
    "parse_address": ".http",
    "HostCollector": ".prometheus",
    "host_registry": ".prometheus",
})
del TYPE_CHECKING, lazy_attributes  # not names of this package

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
