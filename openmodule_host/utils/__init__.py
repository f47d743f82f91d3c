"""openmodule's utilities for plugins: plate character sets and matching, access-service helpers, the legacy
``Backend`` template and the conversions between the two access protocols, the ``VehicleListener``, the
``PresenceListener``, the HTTP client ``Api`` and the KV store synced with the cloud (``KVStore``,
``KVStoreHandler``, ``KVEntry`` and their ``kv_sync`` models)."""

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
from .kv_store import KVEntry, KVStore, KVStoreHandler, KVStoreWithChangedNotification
from .kv_store_models import (
    KVSetRequest,
    KVSetRequestKV,
    KVSetResponse,
    KVSetResponseKV,
    KVSyncRequest,
    KVSyncResponse,
    ServerRPCRequest,
    ServerSyncResponse,
)
from .matching import SEPARATOR_CHARS, MatchingConfig, PlateYaml, PlateYamlSelector
from .presence_listener import PresenceListener
from .vehicle_listener import FilterType, VehicleListener

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
    "KVEntry",
    "KVSetRequest",
    "KVSetRequestKV",
    "KVSetResponse",
    "KVSetResponseKV",
    "KVStore",
    "KVStoreHandler",
    "KVStoreWithChangedNotification",
    "KVSyncRequest",
    "KVSyncResponse",
    "LPRKnownAccess",
    "MatchingConfig",
    "PlateYaml",
    "PlateYamlSelector",
    "PresenceListener",
    "Replacement",
    "ServerRPCRequest",
    "ServerSyncResponse",
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
