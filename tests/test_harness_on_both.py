"""The harness tests itself: each helper a plugin author gets runs against a real host on a real broker and
against the fake core, parametrized over both, and must give the same outcome on each. Health assertions take
either as their pong source; settings per test (``om_plugin_config``, the ``om_config`` marker) reach both;
``truncate_all_tables`` empties either one's database; the settings service is a ``SettingsMock`` on the broker
and a ``SettingsMocker`` scripted on the fake's ``MockRPCClient``; the IO simulator drives either, and the
signal simulator too (its RPCs served by a plugin on the host, scripted on the fake); a failing dependency is a
``FailingService`` plugin on the host and the same ``FailingService`` scripted on the fake; and both run the
same start sequence, so a wrong setting or a failing step stops the start alike.

On the real host, "handled" is established without sleeping: after a message, a ``probe``/``sync`` RPC goes
to the same plugin, whose reply comes from the same worker after the message (one sender, one broker, one
mailbox: in order).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from openmodule_hookspecs import HealthMetricType, OpenModuleModel, ZMQMessage, hookimpl
from pydantic import BaseModel, ConfigDict
from sqlalchemy import func, select, table, text

from openmodule_host.core import HostedCore
from openmodule_host.errors import ConfigError, PluginLoadError
from openmodule_host.testing import (
    FailingService,
    IoSimulator,
    MockRPCClient,
    SettingsMock,
    SettingsMocker,
    SignalSimulator,
    TestClient,
    assert_health_error,
    assert_health_ok,
    find_check,
    generate_example_states,
    metric_value,
    truncate_all_tables,
    wait_for_health,
)
from openmodule_host.testing.health import PongSource
from openmodule_host.utils import (
    GetSignalValueRequest,
    GetSignalValueResponse,
    IoListener,
    IoState,
    SettingsProvider,
    Signal,
    SignalFilterType,
    SignalListener,
    SignalType,
    TriggerSignalsRequest,
    TriggerSignalsResponse,
)
from tests.support import eventually
from tests.support.databases import MIGRATIONS


class Anything(OpenModuleModel):
    model_config = ConfigDict(extra="allow")


class ProbeSettings(BaseModel):
    greeting: str = "hello"
    retries: int = 3


class Probe:
    """The plugin under test: a check ``camera`` and a metric ``seen`` the test drives through its core, its own
    settings, notes in a migrated database, a garage setting read through a ``SettingsProvider``, the pins an
    ``IoListener`` follows, the signal ``pa1-area_full`` a ``SignalListener`` follows, and a dependency
    (``plates``/``find``) whose failure its check ``plates`` reports. RPC ``probe``/``sync`` answers ``{}`` from
    its worker."""

    def __init__(self) -> None:
        self.core: Any = None
        self.settings: SettingsProvider | None = None
        self.io: IoListener | None = None
        self.edges: list[tuple[str, int]] = []
        self.signals: SignalListener | None = None
        self.signal_changes: list[tuple[str, bool]] = []

    @hookimpl
    def config_model(self) -> type[BaseModel]:
        return ProbeSettings

    @hookimpl
    def database_migrations(self) -> Any:
        return MIGRATIONS / "notes"

    @hookimpl
    def register_handlers(self, core: Any) -> None:
        self.core = core
        self.settings = SettingsProvider(core=core)
        self.io = IoListener(core.messages)
        self.io.add_listener_edge_rising("gate_0_cloop", self._edge)
        self.io.add_listener_edge_falling("gate_0_cloop", self._edge)
        self.signals = SignalListener(core.messages, core.rpc_client)
        self.signals.add_listener("pa1-area_full", SignalFilterType.any, self._signal)
        core.health.add_check("camera", "Camera", "camera reachable")
        core.health.add_check("plates", "Plates", "the plate service answers")
        core.health.add_metric("seen", HealthMetricType.count, "Seen", "vehicles seen", labels=["gate"])
        server = core.rpc_server
        server.register_handler("probe", "sync", Anything, Anything, lambda request, _: Anything())
        server.register_handler("probe", "note", Anything, Anything, self._note)
        server.register_handler("probe", "currency", Anything, Anything, self._currency)
        server.register_handler("probe", "lookup", Anything, Anything, self._lookup)
        server.register_handler("probe", "area", Anything, Anything, self._area)

    def _edge(self, state: IoState) -> None:
        self.edges.append((state.pin, state.value))

    def _signal(self, signal: Signal) -> None:
        self.signal_changes.append((signal.change_type, signal.value))

    def _area(self, request: Anything, _message: Any) -> Anything:
        assert self.signals is not None
        value, data = self.signals.get_value_and_additional_data(request.signal)  # type: ignore[attr-defined]
        return Anything.model_validate({"value": value, "data": data})

    def _note(self, request: Anything, _message: Any) -> Anything:
        with self.core.database() as session:
            session.execute(text("INSERT INTO notes (text) VALUES ('seen')"))
        return Anything()

    def _currency(self, request: Anything, _message: Any) -> Anything:
        assert self.settings is not None
        return Anything.model_validate({"currency": self.settings.get("common/currency")})

    def _lookup(self, request: Anything, _message: Any) -> Anything:
        try:
            self.core.rpc_client.rpc("plates", "find", {"plate": "G ARIVO 1"}, Anything, timeout=0.5)
        except self.core.rpc_client.TimeoutError:
            self.core.health.check_fail("plates", message="the plate service did not answer")
        except self.core.rpc_client.Exception as error:
            self.core.health.check_fail("plates", message=f"the plate service failed: {error}")
        else:
            self.core.health.check_success("plates")
        return Anything()


# -- the two sides --------------------------------------------------------------------------------------


@dataclass
class Started:
    """One started ``Probe``: ``source`` is the pong source the health helpers take, ``name`` its NAME."""

    probe: Probe
    source: PongSource
    name: str
    send: Callable[[str, ZMQMessage | dict[str, Any]], None]
    rpc: Callable[[str, dict[str, Any]], dict[str, Any]]

    @property
    def core(self) -> HostedCore:
        core: HostedCore = self.probe.core
        return core


class Side(ABC):
    """How a test starts the probe and talks to it: ``host`` (``om_host`` + ``om_client``) or ``fake``
    (``om_fake``). ``neighbours`` are plugins started beside the probe on the host; on the fake, each
    neighbour's ``script(mock_rpc)`` stands in for it, as each of ``scripts`` (fake only) does."""

    kind: str

    @abstractmethod
    def start(self, probe: Probe | None = None, *, neighbours: tuple[tuple[str, Any], ...] = (),
              scripts: tuple[Callable[[MockRPCClient], None], ...] = ()) -> Started: ...


class HostSide(Side):
    kind = "host"

    def __init__(self, request: pytest.FixtureRequest) -> None:
        self._request = request
        self.client: TestClient = request.getfixturevalue("om_client")

    def start(self, probe: Probe | None = None, *, neighbours: tuple[tuple[str, Any], ...] = (),
              scripts: tuple[Callable[[MockRPCClient], None], ...] = ()) -> Started:
        assert not scripts, "scripts stand in for services on the fake only"
        probe = probe or Probe()
        self._request.getfixturevalue("om_host")(("probe", probe), *neighbours)
        client = self.client

        def rpc(type: str, request: dict[str, Any]) -> dict[str, Any]:
            response: dict[str, Any] = client.rpc("probe", type, request, timeout=30)["response"]
            return response

        def send(topic: str, message: ZMQMessage | dict[str, Any]) -> None:
            client.publish(topic, message)
            rpc("sync", {})  # answered after the message: handled

        return Started(probe, client, probe.core.name, send, rpc)


class FakeSide(Side):
    kind = "fake"

    def __init__(self, request: pytest.FixtureRequest) -> None:
        self._om_fake = request.getfixturevalue("om_fake")

    def start(self, probe: Probe | None = None, *, neighbours: tuple[tuple[str, Any], ...] = (),
              scripts: tuple[Callable[[MockRPCClient], None], ...] = ()) -> Started:
        probe = probe or Probe()
        mock = MockRPCClient(default_timeout=3.0)
        for script in (*(neighbour.script for _name, neighbour in neighbours), *scripts):
            script(mock)
        fake = self._om_fake(probe, name="probe", rpc_client=mock)

        def rpc(type: str, request: dict[str, Any]) -> dict[str, Any]:
            reply = fake.rpc("probe", type, request)
            assert reply is not None, f"probe/{type} did not answer"
            response: dict[str, Any] = reply["response"]
            return response

        return Started(probe, fake, fake.name, fake.send, rpc)


@pytest.fixture(params=["host", "fake"])
def side(request: pytest.FixtureRequest) -> Side:
    return HostSide(request) if request.param == "host" else FakeSide(request)


@pytest.fixture
def om_plugin_config() -> dict[str, dict[str, Any]]:
    """This module's defaults for the probe's own settings."""
    return {"probe": {"greeting": "servus", "retries": 5}}


# -- health ---------------------------------------------------------------------------------------------


def test_health_assertions_pass_and_fail_alike(side: Side) -> None:
    started = side.start()
    source, name = started.source, started.name
    assert assert_health_ok(source, name)["pong"]["status"] == "ok"
    with pytest.raises(AssertionError, match=f"health of '{name}' is not error: status 'ok'"):
        assert_health_error(source, name)

    started.core.health.check_fail("camera", message="camera offline")
    with pytest.raises(AssertionError, match=rf"health of '{name}' is not ok: status 'error', message 'camera "
                                             r"offline', checks not ok: \['camera=fail \(camera offline\)', "
                                             r"'plates=no-data'\]"):
        assert_health_ok(source, name)
    assert_health_error(source, name, message="camera offline")
    with pytest.raises(AssertionError, match="another message, expected 'lens dirty'"):
        assert_health_error(source, name, message="lens dirty")

    started.core.health.check_success("camera")
    assert wait_for_health(source, name, status="ok", timeout=30)["pong"]["status"] == "ok"


def test_metrics_and_checks_read_alike(side: Side) -> None:
    started = side.start()
    started.core.health.metric_inc("seen", 2, gate="entry1")
    started.core.health.check_success("camera")
    pong = assert_health_ok(started.source, started.name)
    assert metric_value(pong, "seen", {"gate": "entry1"}) == 2
    assert find_check(pong, "camera")["state"] == "ok"
    with pytest.raises(AssertionError, match="no check 'lens'"):
        find_check(pong, "lens")


def test_a_service_nobody_runs_gives_no_pong(side: Side) -> None:
    started = side.start()
    with pytest.raises(AssertionError, match="'nobody'"):
        wait_for_health(started.source, "nobody", timeout=1.0, interval=0.1)


# -- settings per test ----------------------------------------------------------------------------------


def test_the_module_defaults_reach_the_plugin(side: Side) -> None:
    config = side.start().core.config
    assert (config.greeting, config.retries) == ("servus", 5)


@pytest.mark.om_config(probe={"retries": 9})
def test_the_marker_changes_single_settings(side: Side) -> None:
    config = side.start().core.config
    assert (config.greeting, config.retries) == ("servus", 9)


# -- the database -----------------------------------------------------------------------------------------


def _notes(core: HostedCore) -> int:
    with core.database() as session:
        count: int = session.execute(select(func.count()).select_from(table("notes"))).scalar_one()
    return count


def test_truncate_all_tables_empties_the_plugins_database(side: Side) -> None:
    started = side.start()
    for _ in range(3):
        started.rpc("note", {})
    assert _notes(started.core) == 3
    truncate_all_tables(started.core.database)
    assert _notes(started.core) == 0
    with started.core.database() as session:  # the revision is kept: the database is still migrated
        assert session.execute(text("SELECT count(*) FROM alembic_version")).scalar_one() == 1


# -- the garage's settings service ------------------------------------------------------------------------


def test_a_plugin_reads_the_garage_settings_and_their_changes(side: Side, request: pytest.FixtureRequest) -> None:
    change: Callable[[], None]
    if side.kind == "host":  # the settings service on the broker
        service: SettingsMock = request.getfixturevalue("om_settings")
        service.set("common/currency", "EUR")
        started = side.start()

        def change() -> None:
            service.set("common/currency", "CHF")  # announced on topic settings
    else:  # its RPCs scripted on the fake's MockRPCClient
        mocker = SettingsMocker({"common/currency": "EUR"})
        started = side.start(scripts=(mocker.serve,))

        def change() -> None:
            mocker.change_setting("common/currency", "CHF")
            started.send("settings", {"type": "changed", "changed_keys": ["common/currency/"]})  # <key>/<scope>

    assert started.rpc("currency", {}) == {"status": "ok", "currency": "EUR"}
    change()
    eventually(lambda: started.rpc("currency", {}) == {"status": "ok", "currency": "CHF"}, timeout=30)


# -- the IO simulator -------------------------------------------------------------------------------------


def test_the_io_simulator_drives_the_plugins_io_listener(side: Side) -> None:
    started = side.start()
    simulator = IoSimulator(generate_example_states(), lambda message: started.send("io", message))
    simulator.set_pin_high("gate_0_cloop")
    simulator.set_pin_low("gate_0_cloop")
    simulator.change_pin_state("gate_0_gate")  # another pin: no callback
    # the simulator sends every pin at once: the first message of a pin is an edge too
    assert started.probe.edges == [("gate_0_cloop", 0), ("gate_0_cloop", 1), ("gate_0_cloop", 0)]


# -- the signal simulator ---------------------------------------------------------------------------------


class SignalService:
    """The signal service on the host: a plugin serving a ``SignalSimulator``'s callbacks; on the fake,
    ``script`` is the simulator's ``serve``."""

    def __init__(self, simulator: SignalSimulator) -> None:
        self.simulator = simulator
        self.script = simulator.serve

    @hookimpl
    def register_handlers(self, core: Any) -> None:
        core.rpc_server.register_handler("signal", "get_value", GetSignalValueRequest, GetSignalValueResponse,
                                         self.simulator.get_value_callback)
        core.rpc_server.register_handler("signal", "trigger_signals", TriggerSignalsRequest, TriggerSignalsResponse,
                                         self.simulator.trigger_signal_callback)


def test_the_signal_simulator_answers_and_drives_the_plugins_signal_listener(side: Side) -> None:
    simulator = SignalSimulator(lambda message: started.send("signal", message))
    simulator.add_signal(True, {"cars": 200}, SignalType.area_full, parking_area_id="pa1")
    started = side.start(neighbours=(("signals", SignalService(simulator)),))
    assert started.rpc("area", {"signal": "pa1-area_full"}) == {"status": "ok", "value": True,
                                                                "data": {"cars": 200}}
    # the service knows no such signal (handler_error): false, on both
    assert started.rpc("area", {"signal": "nonexistent"}) == {"status": "ok", "value": False}
    simulator.set_signal("pa1-area_full", False)
    simulator.set_signal("pa1-area_full", True, {"cars": 201})
    assert started.probe.signal_changes == [("falling_edge", False), ("rising_edge", True)]


# -- a failing dependency -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("answer", "message"), [
    ("error", "the plate service failed: camera database gone"),
    ("timeout", "the plate service did not answer"),
])
def test_a_failing_service_fails_the_plugins_check_alike(side: Side, answer: str, message: str) -> None:
    plates = FailingService("plates", "find", answer=answer, message="camera database gone", seconds=5.0)
    started = side.start(neighbours=(("plates", plates),))
    started.rpc("lookup", {})
    assert plates.calls == 1
    assert_health_error(started.source, started.name, message=message)


# -- the start ------------------------------------------------------------------------------------------------


@pytest.mark.om_config(probe={"NAME": "no spaces"})
def test_a_wrong_name_stops_the_start_alike(side: Side) -> None:
    with pytest.raises(ConfigError, match=r"\[plugins\.probe\] NAME: .* \(got 'no spaces'\)"):
        side.start()


class CameraDown(Probe):
    @hookimpl
    def register_handlers(self, core: Any) -> None:
        raise RuntimeError("no camera")


def test_a_failing_start_step_fails_alike_with_the_same_reason(side: Side) -> None:
    with pytest.raises(PluginLoadError) as failed:
        side.start(CameraDown())
    assert (failed.value.plugin, failed.value.reason) == ("probe", "register_handlers raised RuntimeError: no camera")
