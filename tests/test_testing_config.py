"""A plugin's own settings per test: the om_plugin_config fixture (defaults, overridable like any fixture), the
om_config marker (one test or class) and om_host's config= (one host), layered setting by setting; and om_host
failing at once, naming the plugin, when a plugin it was asked to start fails."""

from __future__ import annotations

from typing import Any

import pytest
from openmodule_hookspecs import hookimpl
from pydantic import BaseModel

from openmodule_host import PluginLoadError
from openmodule_host.plugin import PluginState


class GateSettings(BaseModel):
    gate: str = "unset"
    retries: int = 3


class Gate:
    def __init__(self) -> None:
        self.config: Any = None

    @hookimpl
    def config_model(self) -> type[BaseModel]:
        return GateSettings

    @hookimpl
    def register_handlers(self, core: Any) -> None:
        self.config = core.config


class Broken:
    @hookimpl
    def register_handlers(self, core: Any) -> None:
        raise RuntimeError("no camera")


@pytest.fixture
def om_plugin_config() -> dict[str, dict[str, Any]]:
    """This module's defaults (a plugin author's conftest.py does the same for a whole suite)."""
    return {"gate": {"gate": "entry1", "retries": 5}}


def test_the_fixture_gives_every_host_of_the_module_its_defaults(om_host):
    gate = Gate()
    om_host(("gate", gate))
    assert (gate.config.gate, gate.config.retries) == ("entry1", 5)


@pytest.mark.om_config(gate={"retries": 9})
def test_the_marker_changes_single_settings_for_one_test(om_host):
    gate = Gate()
    om_host(("gate", gate))
    assert (gate.config.gate, gate.config.retries) == ("entry1", 9)


@pytest.mark.om_config({"gate": {"gate": "exit1"}})
class TestAMarkedClass:
    @pytest.mark.om_config(gate={"retries": 1})
    def test_the_tests_own_marker_comes_after_the_class_marker_and_config_after_both(self, om_host):
        first, second = Gate(), Gate()
        om_host(("gate", first))
        om_host(("gate", second), config={"gate": {"gate": "lane2"}})
        assert (first.config.gate, first.config.retries) == ("exit1", 1)
        assert (second.config.gate, second.config.retries) == ("lane2", 1)


@pytest.mark.om_config(gate={"retries": "many"})
def test_a_wrong_value_from_the_marker_is_refused_like_one_from_the_file(om_host):
    with pytest.raises(Exception, match=r"\[plugins.gate\] retries: Input should be a valid integer"):
        om_host(("gate", Gate()))


def test_om_host_raises_at_once_naming_the_plugin_that_failed_and_why(om_host):
    with pytest.raises(PluginLoadError, match="plugin 'broken' failed: register_handlers raised RuntimeError: "
                                              "no camera") as failed:
        om_host(("broken", Broken()), ("gate", Gate()))
    assert failed.value.plugin == "broken"
    assert "strict=False" in "".join(failed.value.__notes__)


def test_strict_false_keeps_a_failing_plugin_for_tests_about_one(om_host):
    host = om_host(("broken", Broken()), ("gate", Gate()), strict=False)
    assert host.plugins["broken"].state is PluginState.FAILED
    assert host.plugins["gate"].state is PluginState.RUNNING
