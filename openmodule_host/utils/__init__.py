"""openmodule's utilities for plugins: plate character sets and matching, access-service helpers, the
``VehicleListener``, the ``PresenceListener`` and the HTTP client ``Api``."""

from .access import LPRKnownAccess, deduplicate_accesses, find_lpr_accesses, get_lpr_id_search
from .api import Api, ApiException, AuthMethod
from .charset import Charset, CharsetConverter, Replacement, full_lpr_charset, legacy_lpr_charset
from .matching import SEPARATOR_CHARS, MatchingConfig, PlateYaml, PlateYamlSelector
from .presence_listener import PresenceListener
from .vehicle_listener import FilterType, VehicleListener

__all__ = [
    "SEPARATOR_CHARS",
    "Api",
    "ApiException",
    "AuthMethod",
    "Charset",
    "CharsetConverter",
    "FilterType",
    "LPRKnownAccess",
    "MatchingConfig",
    "PlateYaml",
    "PlateYamlSelector",
    "PresenceListener",
    "Replacement",
    "VehicleListener",
    "deduplicate_accesses",
    "find_lpr_accesses",
    "full_lpr_charset",
    "get_lpr_id_search",
    "legacy_lpr_charset",
]
