"""What a type checker reads from ``SettingsProvider.get``: the model of each modelled key, ``custom_type``'s
type, and ``Any`` for other keys (checked with mypy by ``tests/test_settings_provider.py``)."""

from __future__ import annotations

from typing import Any, assert_type

from openmodule_hookspecs import DayMode, Gate, GateMode, OpenModuleModel, ParkingArea, Parksetting, PrivacySettings

from openmodule_host.utils import SettingsProvider


class Limits(OpenModuleModel):
    value: int


def read(settings: SettingsProvider) -> None:
    assert_type(settings.get("common/gates"), dict[str, Gate] | None)
    assert_type(settings.get("common/parking_areas2"), dict[str, ParkingArea] | None)
    assert_type(settings.get("common/parksettings2"), dict[str, Parksetting] | None)
    assert_type(settings.get("common/privacy_settings"), PrivacySettings | None)
    assert_type(settings.get("common/timezone"), str | None)
    assert_type(settings.get("gate_control/mode", "entry1"), GateMode | None)
    assert_type(settings.get("gate_control/day_mode"), DayMode | None)
    assert_type(settings.get("my_service/limits", custom_type=Limits), Limits | None)
    assert_type(settings.get("common/rates"), Any)
    assert_type(settings.get_many({"common/gates": None}), dict[str, Any])
