"""openmodule's utilities for plugins: plate character sets and matching, access-service helpers, the legacy
``Backend`` template and the conversions between the two access protocols, the ``VehicleListener``, the
``PresenceListener`` and the HTTP client ``Api``."""

from typing import TYPE_CHECKING

from .._lazy import lazy_attributes

if TYPE_CHECKING:
    from openmodule_hookspecs import Backend

    from .access import LPRKnownAccess, deduplicate_accesses, find_lpr_accesses, get_lpr_id_search
    from .access_conversion import (
        LEGACY_EPOCH,
        access_check_accesses,
        access_check_request,
        backend_requests,
        legacy_accesses,
    )
    from .api import Api, ApiException, AuthMethod
    from .charset import Charset, CharsetConverter, Replacement, full_lpr_charset, legacy_lpr_charset
    from .matching import SEPARATOR_CHARS, MatchingConfig, PlateYaml, PlateYamlSelector
    from .presence_listener import PresenceListener
    from .vehicle_listener import FilterType, VehicleListener

# Every name is imported on first use: the utilities bring requests, PyYAML and editdistance, which a
# plugin that does not use them (and the host itself) should not pay for.
__getattr__, __dir__ = lazy_attributes(__name__, {
    "Backend": "openmodule_hookspecs",
    "LPRKnownAccess": ".access",
    "deduplicate_accesses": ".access",
    "find_lpr_accesses": ".access",
    "get_lpr_id_search": ".access",
    "LEGACY_EPOCH": ".access_conversion",
    "access_check_accesses": ".access_conversion",
    "access_check_request": ".access_conversion",
    "backend_requests": ".access_conversion",
    "legacy_accesses": ".access_conversion",
    "Api": ".api",
    "ApiException": ".api",
    "AuthMethod": ".api",
    "Charset": ".charset",
    "CharsetConverter": ".charset",
    "Replacement": ".charset",
    "full_lpr_charset": ".charset",
    "legacy_lpr_charset": ".charset",
    "SEPARATOR_CHARS": ".matching",
    "MatchingConfig": ".matching",
    "PlateYaml": ".matching",
    "PlateYamlSelector": ".matching",
    "PresenceListener": ".presence_listener",
    "FilterType": ".vehicle_listener",
    "VehicleListener": ".vehicle_listener",
})
del TYPE_CHECKING, lazy_attributes  # not names of this package

__all__ = [
    "LEGACY_EPOCH",
    "SEPARATOR_CHARS",
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
    "VehicleListener",
    "access_check_accesses",
    "access_check_request",
    "backend_requests",
    "deduplicate_accesses",
    "find_lpr_accesses",
    "full_lpr_charset",
    "get_lpr_id_search",
    "legacy_accesses",
    "legacy_lpr_charset",
]
