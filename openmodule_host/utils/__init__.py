"""openmodule's utilities for plugins: plate character sets and matching, access-service helpers, the legacy
``Backend`` template and the conversions between the two access protocols, the ``VehicleListener``, the
``PresenceListener``, the HTTP client ``Api``, the ``SettingsProvider`` and the ``AccessService`` template."""

from openmodule_hookspecs import Backend

from .access import (
    LPRKnownAccess,
    check_accesses_valid_at_gate,
    deduplicate_accesses,
    find_lpr_accesses,
    get_lpr_id_search,
)
from .access_conversion import (
    LEGACY_EPOCH,
    access_check_accesses,
    access_check_request,
    backend_requests,
    legacy_accesses,
)
from .access_service import AccessService
from .api import Api, ApiException, AuthMethod
from .charset import Charset, CharsetConverter, Replacement, full_lpr_charset, legacy_lpr_charset
from .matching import SEPARATOR_CHARS, MatchingConfig, PlateYaml, PlateYamlSelector
from .presence_listener import PresenceListener
from .settings_provider import SettingsProvider, parse_setting
from .vehicle_listener import FilterType, VehicleListener

__all__ = [
    "LEGACY_EPOCH",
    "SEPARATOR_CHARS",
    "AccessService",
    "Api",
    "ApiException",
    "AuthMethod",
    "Backend",
    "Charset",
    "CharsetConverter",
    "FilterType",
    "LPRKnownAccess",
    "MatchingConfig",
    "PlateYaml",
    "PlateYamlSelector",
    "PresenceListener",
    "Replacement",
    "SettingsProvider",
    "VehicleListener",
    "access_check_accesses",
    "access_check_request",
    "backend_requests",
    "check_accesses_valid_at_gate",
    "deduplicate_accesses",
    "find_lpr_accesses",
    "full_lpr_charset",
    "get_lpr_id_search",
    "legacy_accesses",
    "legacy_lpr_charset",
    "parse_setting",
]
