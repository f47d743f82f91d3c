"""The settings provider (openmodule's ``SettingsProvider``) in a plugin, against the settings service of the
test harness (``om_settings``): typed values, the cache, invalidation by ``changed``, "no such setting",
errors, and a settings service that does not answer."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import pytest
from openmodule_hookspecs import (
    Gate,
    GateMode,
    GateType,
    OpenModuleModel,
    ParkingArea,
    RPCTimeoutError,
    ServerHandlerError,
    hookimpl,
)
from pydantic import ValidationError

from openmodule_host.host import Host
from openmodule_host.testing import SettingsMock, SettingsMocker, SettingsRequest
from openmodule_host.utils import SettingsProvider, parse_setting
from tests.support import eventually
from tests.test_typing import TYPING, _mypy

T = TypeVar("T")

GATES = {"entry1": {"gate": "entry1", "name": "Entry", "type": "entry"},
         "door1": {"gate": "door1", "name": "Door", "type": "door"}}
AREAS = {"a1": {"id": "a1", "name": "Area", "gates": ["entry1"], "shortterm_gates": ["entry1"],
                "default_cost_entries": [], "shortterm_limit": 10}}


class Reader:
    """A plugin that makes its provider in register_handlers, as ported code does (``SettingsProvider()``)."""

    def __init__(self, **kwargs: Any) -> None:
        self.kwargs = kwargs
        self.settings: SettingsProvider | None = None

    @hookimpl
    def register_handlers(self, core: Any) -> None:
        self.settings = SettingsProvider(**self.kwargs)


def on_worker(host: Host, plugin: str, function: Callable[[], T]) -> T:
    """Run ``function`` on the plugin's worker, where its handlers run, and return its result."""
    worker = host.plugins[plugin].worker
    assert worker is not None
    return worker.submit(function).result(timeout=30)


@pytest.fixture
def reader(om_host: Callable[..., Host], om_settings: SettingsMock) -> Callable[..., Callable[..., Any]]:
    """Start a host with a Reader; returns ``call(method, *args)`` running ``reader.settings.method`` on its
    worker."""

    def start(**kwargs: Any) -> Callable[..., Any]:
        plugin = Reader(**kwargs)
        host = om_host(("reader", plugin))

        def call(method: str, *args: Any, **call_kwargs: Any) -> Any:
            return on_worker(host, "reader", lambda: getattr(plugin.settings, method)(*args, **call_kwargs))

        return call

    return start


def asked(mock: SettingsMock, type_: str = "get") -> list[SettingsRequest]:
    return [request for request in mock.requests if request.type == type_]


def test_a_known_key_comes_back_as_its_settings_model(reader, om_settings):
    om_settings.set("common/gates", GATES)
    call = reader()
    gates = call("get", "common/gates")
    assert gates == {"entry1": Gate(gate="entry1", name="Entry", type=GateType.entry),
                     "door1": Gate(gate="door1", name="Door", type=GateType.door)}
    assert asked(om_settings) == [SettingsRequest("get", ("common/gates",), "", "reader")]


def test_a_scoped_setting_is_asked_for_in_its_scope(reader, om_settings):
    om_settings.set("gate_control/mode", "permanent_open", scope="entry1")
    call = reader()
    assert call("get", "gate_control/mode", "entry1") is GateMode.permanent_open
    assert call("get", "gate_control/mode", "exit1") is None  # no such setting in that scope


def test_values_are_cached_and_a_changed_message_drops_them(reader, om_settings):
    om_settings.set("common/currency", "EUR")
    call = reader()
    assert call("get", "common/currency") == "EUR"
    assert call("get", "common/currency") == "EUR"
    assert len(asked(om_settings)) == 1  # the second came from the cache

    om_settings.set("common/currency", "CHF")  # announced on topic settings: changed ["common/currency/"]
    eventually(lambda: call("get", "common/currency") == "CHF", timeout=15)
    assert len(asked(om_settings)) >= 2


def test_a_change_in_another_scope_keeps_the_cached_value(reader, om_settings):
    om_settings.set("gate_control/mode", "standard", scope="entry1")
    call = reader()
    assert call("get", "gate_control/mode", "entry1") is GateMode.standard
    om_settings.set("gate_control/mode", "permanent_close", scope="exit1")
    om_settings.set("common/language", "de")  # a later change: once it is handled, the earlier one was too
    eventually(lambda: call("get", "common/language") == "de", timeout=15)
    assert call("get", "gate_control/mode", "entry1") is GateMode.standard
    assert [request.keys for request in asked(om_settings)].count(("gate_control/mode",)) == 1


def test_an_entry_expires_after_expire_time(reader, om_settings):
    om_settings.set("common/timezone", "Europe/Vienna")
    call = reader(expire_time=0.0)
    assert call("get", "common/timezone") == "Europe/Vienna"
    assert call("get", "common/timezone") == "Europe/Vienna"
    assert len(asked(om_settings)) == 2


def test_no_such_setting_is_none_and_not_cached(reader, om_settings, caplog):
    call = reader()
    assert call("get", "common/currency") is None
    assert call("get", "common/currency") is None
    assert len(asked(om_settings)) == 2
    assert "failed" not in caplog.text


def test_another_error_of_the_service_is_logged_and_none(reader, om_settings, caplog):
    om_settings.set("common/currency", "EUR")
    om_settings.error = "database locked"
    call = reader()
    assert call("get", "common/currency") is None
    assert "settings RPC for common/currency/ failed: database locked" in caplog.text


def test_a_silent_settings_service_raises_the_rpc_timeout_and_drops_the_stale_entry(reader, om_settings):
    om_settings.set("common/currency", "EUR")
    call = reader(expire_time=0.0)
    assert call("get", "common/currency") == "EUR"
    om_settings.answering = False
    with pytest.raises(RPCTimeoutError):
        call("get", "common/currency")
    with pytest.raises(TimeoutError):  # also the builtin, as openmodule's RPCClient.TimeoutError
        call("get_many", {"common/currency": None})


def test_an_error_status_of_the_settings_service_is_raised(reader, om_settings):
    om_settings.handler_error = "settings database corrupt"
    call = reader()
    with pytest.raises(ServerHandlerError, match="settings database corrupt"):
        call("get", "common/currency")
    with pytest.raises(ServerHandlerError):
        call("get_many", {"common/currency": None})


class CurrencyOnly(OpenModuleModel):
    code: str


def test_custom_type_parses_the_value_into_the_callers_model(reader, om_settings):
    om_settings.set("my_service/limits", {"code": "EUR", "more": 1})
    call = reader()
    assert call("get", "my_service/limits", custom_type=CurrencyOnly) == CurrencyOnly(code="EUR")
    assert call("get", "my_service/limits", custom_type=dict) == {"code": "EUR", "more": 1}  # from the cache
    assert len(asked(om_settings)) == 1


def test_a_value_that_does_not_fit_raises_in_get_and_is_none_in_get_many(reader, om_broker, om_settings):
    om_settings.validate = False
    om_settings.set("common/gates", {"entry1": {"gate": "entry1", "name": "Entry", "type": "teleporter"}})
    call = reader()
    with pytest.raises(ValidationError):
        call("get", "common/gates")
    assert call("get_many", {"common/gates": None}) == {"common/gates": None}


def test_a_key_without_a_model_needs_custom_type(reader, om_settings):
    om_settings.set("somebody/unknown", {"x": 1})
    call = reader()
    with pytest.raises(KeyError, match="pass custom_type"):
        call("get", "somebody/unknown")
    assert call("get_many", {"somebody/unknown": None}) == {"somebody/unknown": None}
    assert call("get", "somebody/unknown", custom_type=dict) == {"x": 1}


def test_get_many_asks_once_for_all_keys_unless_all_are_cached(reader, om_settings):
    om_settings.update({"common/gates": GATES, "common/parking_areas2": AREAS})
    call = reader()
    values = call("get_many", {"common/gates": None, "common/parking_areas2": None, "common/currency": None})
    assert values["common/gates"]["entry1"].type is GateType.entry
    assert isinstance(values["common/parking_areas2"]["a1"], ParkingArea)
    assert values["common/currency"] is None
    assert call("get_many", {"common/gates": None, "common/parking_areas2": None}) == {
        "common/gates": values["common/gates"], "common/parking_areas2": values["common/parking_areas2"]}
    assert [request.keys for request in asked(om_settings, "get_many")] == [
        ("common/gates", "common/parking_areas2", "common/currency")]
    call("get_many", {"common/gates": None, "common/currency": None})  # currency was not cached: one call for both
    assert asked(om_settings, "get_many")[-1].keys == ("common/gates", "common/currency")
    assert asked(om_settings) == []


def test_the_provider_is_made_for_the_plugin_whose_worker_runs_the_code():
    with pytest.raises(RuntimeError, match="runs no plugin's code"):
        SettingsProvider()


@pytest.mark.parametrize(("key", "value", "error"), [
    ("common/gates", {"entry1": {"gate": "exit1", "name": "Exit", "type": "exit"}}, ValueError),
    ("common/parking_areas2", {"a1": {"id": "a1", "name": "A"}}, ValueError),
    ("somebody/unknown", {"x": 1}, KeyError),
])
def test_parse_setting_rejects_what_does_not_fit(key, value, error):
    with pytest.raises(error):
        parse_setting(key, value)


def test_parse_setting_keeps_unmodelled_known_keys_as_they_came():
    assert parse_setting("common/garage_settings", {"mode": "freeflow"}) == {"mode": "freeflow"}
    assert parse_setting("my_service/refs/parksettings", {"name": "x", "keys": []}) == {"name": "x", "keys": []}
    assert parse_setting("gate_control/mode", None) is None


def test_the_mock_refuses_a_value_that_does_not_fit_its_model(om_settings):
    with pytest.raises(ValueError, match="common/gates/ does not fit its model"):
        om_settings.set("common/gates", {"entry1": {"gate": "entry1"}})
    with pytest.raises(KeyError):
        om_settings.get("common/gates")


def test_the_mock_answers_and_announces_on_the_wire(om_settings, om_client):
    om_client.subscribe("settings")
    om_settings.set("common/gates", {"entry1": Gate(gate="entry1", name="Entry", type=GateType.entry)})
    changed = om_client.wait_for_message("settings", timeout=10)
    assert changed["type"] == "changed" and changed["changed_keys"] == ["common/gates/"]
    reply = om_client.rpc("settings", "get", {"key": "common/gates"}, timeout=10)
    assert reply["response"] == {"status": "ok", "success": True,
                                 "value": {"entry1": {"gate": "entry1", "name": "Entry", "type": "entry"}}}
    reply = om_client.rpc("settings", "get_many", {"key": ["common/gates", "nope"], "scope": "x"}, timeout=10)
    assert reply["response"] == {"status": "ok", "settings": {"common/gates": {"success": False,
                                                                              "error": "no such setting"},
                                                              "nope": {"success": False, "error": "no such setting"}}}
    reply = om_client.rpc("settings", "get", {"scope": "x"}, timeout=10)
    assert reply["response"]["status"] == "validation_error"


def test_a_type_checker_reads_each_keys_model_from_get():
    result = _mypy(TYPING / "settings_types.py")
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_in_memory_mocker_answers_as_the_provider():
    mocker = SettingsMocker({"common/gates": GATES, ("gate_control/mode", "entry1"): "standard"})
    assert mocker.get("common/gates")["door1"].type is GateType.door
    assert mocker.get("gate_control/mode", "entry1") is GateMode.standard
    assert mocker.get("gate_control/mode", "exit1") is None
    assert mocker.get_many({"common/gates": dict, "common/currency": None}) == {"common/gates": GATES,
                                                                                  "common/currency": None}
    mocker.change_setting("common/currency", "EUR")
    mocker.remove_setting("common/gates")
    assert mocker.get_many({"common/gates": None, "common/currency": None}) == {"common/gates": None,
                                                                                "common/currency": "EUR"}
    with pytest.raises(ValueError, match="does not fit its model"):
        mocker.add_setting("common/parksettings2", {"p": {"id": "p"}})
    SettingsMocker({"common/parksettings2": {"p": {"id": "p"}}}, validate=False)  # a wrong value, on purpose
