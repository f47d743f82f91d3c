"""The public surface is explicit: each package's public API is exactly its ``__all__`` (nothing leaks by
accident), what plugins import is pinned here and listed in docs/writing-plugins.md, and both distributions
ship ``py.typed``."""

import ast
import importlib
import inspect
import re
import zipfile
from pathlib import Path

import pytest
from hatchling.builders.wheel import WheelBuilder

ROOT = Path(__file__).parent.parent

#: what plugin authors import (docs/writing-plugins.md, "What a plugin imports").
PLUGIN_FACING = [
    "openmodule_hookspecs",
    "openmodule_host.utils",
    "openmodule_host.database",
    "openmodule_host.compat",
    "openmodule_host.testing",
]
#: the host's own public packages: for embedding and operating it, not for plugins.
HOST = [
    "openmodule_host",
    "openmodule_host.wire",
    "openmodule_host.isolation",
]

#: the plugin-facing names besides the contract package: a change here is a change of the public surface.
PINNED = {
    "openmodule_host.utils": [
        "EVENTLOG_TOPIC", "IO_TOPIC", "LEGACY_EPOCH", "SEPARATOR_CHARS", "SIGNAL_TOPIC", "AccessService",
        "AnonymizationType", "Api", "ApiException", "AuthMethod", "Backend", "Base64Payload", "BoundedStates",
        "ChangeType",
        "Charset", "CharsetConverter", "ColumnDefinition", "CommandCostEntryTypes", "CostEntryData",
        "CsvFormatType", "Event",
        "EventInfo", "EventlogMessage", "ExportIterator", "FilterType", "GetSignalValueRequest",
        "GetSignalValueResponse", "IoEdge", "IoListener", "IoMessage", "IoState", "KVEntry", "KVSetRequest",
        "KVSetRequestKV", "KVSetResponse", "KVSetResponseKV", "KVStore", "KVStoreHandler",
        "KVStoreWithChangedNotification", "KVSyncRequest", "KVSyncResponse", "LPRKnownAccess", "MatchingConfig",
        "MessageKwarg", "PlateFormatData", "PlateYaml", "PlateYamlSelector", "PresenceListener", "Replacement",
        "RequestCursor", "ResponseCursor", "ServerRPCRequest", "ServerSyncResponse", "SettingsProvider",
        "Signal", "SignalFilterType", "SignalListener", "SignalMessage", "SignalType", "Translation",
        "TriggerSignalsRequest", "TriggerSignalsResponse", "ValidateRequest", "ValidateRequestTicketType",
        "ValidateResponse", "ValidateResponseError", "ValidateResponseState", "Validation", "VehicleListener",
        "access_check_accesses", "access_check_request", "backend_requests", "check_accesses_valid_at_gate",
        "classify_signal_change", "clean_service_name", "cleanup_files", "deduplicate_accesses",
        "do_cursor_pagination", "export_iterator", "find_lpr_accesses", "full_lpr_charset",
        "get_cursor_for_no_elements", "get_lpr_id_search", "legacy_accesses", "legacy_lpr_charset",
        "parse_setting", "render", "schedule_export", "schedule_file_cleanup", "send_event", "utcnow",
    ],
    "openmodule_host.database": [
        "CustomType", "DatabaseSession", "DatabaseTarget", "JSONEncodedDict", "MigrationError", "MigrationResult",
        "PluginDatabase", "TZDateTime", "create_plugin_engine", "current_revision", "delete_query", "history",
        "is_postgres", "normalise_url", "prepare_postgres_schema", "role_name", "run_env_py", "schema_name",
        "target_for", "update_query", "upgrade", "upgrade_in_child", "versions_folder",
    ],
    "openmodule_host.compat": ["core", "plugin_context", "settings"],
    "openmodule_host.testing": [
        "AlertTestMixin", "BadNeighbour", "FailingService", "FakeCore", "FakeTestClient", "HealthProbe",
        "HealthTestMixin", "HostProcess", "IoSimulator", "KVSyncCloud", "MigrationTester", "MockEvent",
        "MockRPCClient", "MockRPCEntry", "NeighbourControl", "OpenModuleCoreTestMixin", "PongSource",
        "PresenceSimulator", "PrivateBroker", "RPCServerTestMixin", "SentryTestTransport", "SettingsMock",
        "SettingsMocker", "SettingsRequest", "SignalSimulator", "TestClient", "TestGate", "UnknownSignalError",
        "VehicleBuilder", "VehicleSimulator", "ZMQTestMixin", "assert_health_error", "assert_health_ok",
        "database_outage", "find_check", "find_metric", "free_tcp_address", "generate_example_states",
        "metric_value", "release_hangs", "start_host", "start_host_process", "truncate_all_tables",
        "wait_broker_subscribed", "wait_for_health", "wait_for_value",
    ],
}

#: the Protocols of the plugin contract: what ``core`` and its parts are to a plugin.
CONTRACT_PROTOCOLS = {
    "Alerts", "ConnectionListener", "Database", "Health", "Messages", "PluginConfig", "PluginCore", "RPCClient",
    "RPCEntry", "RPCServer", "Scheduler", "Subscription",
}


def _public_names(module):
    """A package's public names are its non-underscore attributes other than submodules; a plain module's are
    those it defines itself (what it merely imports, such as ``Any``, is not its API)."""
    names = {attr for attr in dir(module)
             if not attr.startswith("_") and not inspect.ismodule(getattr(module, attr))}
    if hasattr(module, "__path__"):
        return names
    imported = {alias.asname or alias.name.split(".")[0] for node in ast.walk(ast.parse(inspect.getsource(module)))
                if isinstance(node, ast.Import | ast.ImportFrom) for alias in node.names}
    return names - imported


@pytest.mark.parametrize("name", PLUGIN_FACING + HOST)
def test_all_lists_exactly_the_public_names(name):
    module = importlib.import_module(name)
    assert set(module.__all__) - {"specs", "__version__"} == _public_names(module) - {"specs"}
    assert module.__all__ == sorted(module.__all__, key=lambda item: (not item.isupper(), item))


@pytest.mark.parametrize("name", sorted(PINNED))
def test_the_plugin_facing_helpers_are_pinned(name):
    assert importlib.import_module(name).__all__ == PINNED[name]


def test_the_contract_package_exports_its_protocols_and_only_its_own_names():
    import openmodule_hookspecs

    from_elsewhere = {
        name for name in openmodule_hookspecs.__all__
        if not (getattr(getattr(openmodule_hookspecs, name), "__module__", "openmodule_hookspecs") or "")
        .startswith("openmodule_hookspecs")
    }
    # type aliases and pluggy's markers, made in the contract package from other packages' types
    assert from_elsewhere <= {"Datetime", "MessageFilter", "RPCFilter", "RPCHandler", "SessionErrorMessage", "hookimpl",
                              "hookspec"}
    protocols = {name for name in openmodule_hookspecs.__all__
                 if getattr(getattr(openmodule_hookspecs, name), "_is_protocol", False)}
    assert protocols == CONTRACT_PROTOCOLS


def test_the_docs_list_exactly_the_plugin_facing_packages():
    text = (ROOT / "docs" / "writing-plugins.md").read_text()
    section = text.split("### What a plugin imports", 1)[1].split("\n## ", 1)[0]
    assert re.findall(r"^\| `([\w.]+)` \|", section, re.MULTILINE) == PLUGIN_FACING


@pytest.mark.parametrize(("root", "package"), [(ROOT, "openmodule_host"), (ROOT / "hookspecs", "openmodule_hookspecs")],
                         ids=["openmodule_host", "openmodule_hookspecs"])
def test_the_wheels_ship_py_typed(tmp_path, root, package):
    [wheel] = WheelBuilder(str(root)).build(directory=str(tmp_path), versions=["standard"])
    assert f"{package}/py.typed" in zipfile.ZipFile(wheel).namelist()


def test_the_hosted_core_satisfies_the_contract_protocol():
    from openmodule_hookspecs import PluginCore

    from openmodule_host import HostedCore

    for member in ("name", "config", "log", "messages", "publish"):
        assert hasattr(HostedCore, member), member
    assert {"name", "config", "log", "messages", "publish"} <= set(dir(PluginCore))


def test_hook_specifications():
    from openmodule_hookspecs import specs

    assert specs.__all__ == [
        "access_protocols", "anonymize", "check_access", "check_backend_access", "check_in", "check_in_session",
        "check_out", "check_out_session", "config_model", "database_migrations", "health", "register_handlers",
        "session_error", "shutdown",
    ]
