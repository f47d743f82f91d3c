"""openmodule's utilities for plugins: plate character sets and matching, access-service helpers, the legacy
``Backend`` template and the conversions between the two access protocols, the ``VehicleListener``, the
``PresenceListener``, the HTTP client ``Api``, the ``SettingsProvider`` and the ``AccessService`` template, the KV
store synced with the cloud (``KVStore``, ``KVStoreHandler``, ``KVEntry`` and their ``kv_sync`` models); IO and
signal listeners, the event log, ticket validation providers, file cleanup, CSV export, cursor pagination and small
helpers (docs/toolkit.md)."""

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
from .cleanup import cleanup_files, schedule_file_cleanup
from .csv_export import ColumnDefinition, CsvFormatType, ExportIterator, export_iterator, render, schedule_export
from .eventlog import (
    EVENTLOG_TOPIC,
    AnonymizationType,
    Event,
    EventInfo,
    EventlogMessage,
    MessageKwarg,
    PlateFormatData,
    send_event,
)
from .io import IO_TOPIC, IoEdge, IoListener, IoMessage, IoState
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
from .misc import clean_service_name, utcnow
from .pagination import RequestCursor, ResponseCursor, do_cursor_pagination, get_cursor_for_no_elements
from .presence_listener import PresenceListener
from .settings_provider import SettingsProvider, parse_setting
from .signals import (
    SIGNAL_TOPIC,
    ChangeType,
    GetSignalValueRequest,
    GetSignalValueResponse,
    Signal,
    SignalFilterType,
    SignalListener,
    SignalMessage,
    SignalType,
    TriggerSignalsRequest,
    TriggerSignalsResponse,
    classify_signal_change,
)
from .translation import Translation
from .validation import (
    Base64Payload,
    CommandCostEntryTypes,
    CostEntryData,
    ValidateRequest,
    ValidateRequestTicketType,
    ValidateResponse,
    ValidateResponseError,
    ValidateResponseState,
    Validation,
)
from .vehicle_listener import FilterType, VehicleListener

__all__ = [
    "EVENTLOG_TOPIC",
    "IO_TOPIC",
    "LEGACY_EPOCH",
    "SEPARATOR_CHARS",
    "SIGNAL_TOPIC",
    "AccessService",
    "AnonymizationType",
    "Api",
    "ApiException",
    "AuthMethod",
    "Backend",
    "Base64Payload",
    "ChangeType",
    "Charset",
    "CharsetConverter",
    "ColumnDefinition",
    "CommandCostEntryTypes",
    "CostEntryData",
    "CsvFormatType",
    "Event",
    "EventInfo",
    "EventlogMessage",
    "ExportIterator",
    "FilterType",
    "GetSignalValueRequest",
    "GetSignalValueResponse",
    "IoEdge",
    "IoListener",
    "IoMessage",
    "IoState",
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
    "MessageKwarg",
    "PlateFormatData",
    "PlateYaml",
    "PlateYamlSelector",
    "PresenceListener",
    "Replacement",
    "RequestCursor",
    "ResponseCursor",
    "ServerRPCRequest",
    "ServerSyncResponse",
    "SettingsProvider",
    "Signal",
    "SignalFilterType",
    "SignalListener",
    "SignalMessage",
    "SignalType",
    "Translation",
    "TriggerSignalsRequest",
    "TriggerSignalsResponse",
    "ValidateRequest",
    "ValidateRequestTicketType",
    "ValidateResponse",
    "ValidateResponseError",
    "ValidateResponseState",
    "Validation",
    "VehicleListener",
    "access_check_accesses",
    "access_check_request",
    "backend_requests",
    "check_accesses_valid_at_gate",
    "classify_signal_change",
    "clean_service_name",
    "cleanup_files",
    "deduplicate_accesses",
    "do_cursor_pagination",
    "export_iterator",
    "find_lpr_accesses",
    "full_lpr_charset",
    "get_cursor_for_no_elements",
    "get_lpr_id_search",
    "legacy_accesses",
    "legacy_lpr_charset",
    "parse_setting",
    "render",
    "schedule_export",
    "schedule_file_cleanup",
    "send_event",
    "utcnow",
]
