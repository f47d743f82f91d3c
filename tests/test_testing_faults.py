"""Fault injection for plugin authors, against the real host: a plugin keeps working beside a neighbour that
raises, hangs, is slow, floods or crashes its process; and its health says what is wrong when one of its own
dependencies (an RPC it calls, its database) fails."""

from __future__ import annotations

from typing import Any

import pytest
from openmodule_hookspecs import OpenModuleModel, hookimpl
from pydantic import ConfigDict
from sqlalchemy import text

from openmodule_host.testing import (
    FailingService,
    assert_health_error,
    assert_health_ok,
    database_outage,
    find_check,
    wait_for_health,
)
from tests.support import eventually
from tests.support.databases import MIGRATIONS, POSTGRES_URL


class Anything(OpenModuleModel):
    model_config = ConfigDict(extra="allow")


class Mine:
    """The author's plugin: echoes (RPC ``mine``/``echo``), looks plates up at a dependency (``plates``/``find``)
    and keeps notes in its database; checks ``plates`` and ``database`` say how the last try went."""

    def __init__(self) -> None:
        self.core: Any = None

    @hookimpl
    def database_migrations(self) -> Any:
        return MIGRATIONS / "notes"

    @hookimpl
    def register_handlers(self, core: Any) -> None:
        self.core = core
        core.health.add_check("plates", "Plates", "the plate service answers")
        core.health.add_check("database", "Database", "notes can be written")
        core.rpc_server.register_handler("mine", "echo", Anything, Anything, lambda request, _: request)
        core.rpc_server.register_handler("mine", "lookup", Anything, Anything, self.lookup)
        core.rpc_server.register_handler("mine", "note", Anything, Anything, self.note)

    def lookup(self, request: Anything, _message: Any) -> Anything:
        try:
            self.core.rpc_client.rpc("plates", "find", {"plate": "G ARIVO 1"}, Anything, timeout=1.0)
        except self.core.rpc_client.TimeoutError:
            self.core.health.check_fail("plates", message="the plate service did not answer")
        except self.core.rpc_client.Exception as error:
            self.core.health.check_fail("plates", message=f"the plate service failed: {error}")
        else:
            self.core.health.check_success("plates")
        return Anything()

    def note(self, request: Anything, _message: Any) -> Anything:
        try:
            with self.core.database() as session:
                session.execute(text("INSERT INTO notes (text) VALUES ('seen')"))
        except Exception as error:
            self.core.health.check_fail("database", message=f"cannot write notes: {type(error).__name__}")
        else:
            self.core.health.check_success("database")
        return Anything()


def echo_works(client: Any, n: int = 5) -> None:
    for i in range(n):
        reply = client.rpc("mine", "echo", {"i": i}, timeout=10)
        assert reply["response"] == {"status": "ok", "i": i}


# -- a bad neighbour -------------------------------------------------------------------------------


@pytest.mark.parametrize(("fault", "place", "isolation"), [
    ("raise", "handler", "thread"), ("hang", "handler", "thread"), ("slow", "handler", "thread"),
    ("flood", "handler", "thread"), ("spin", "rpc", "process"), ("raise", "health", "thread"),
])
def test_my_plugin_keeps_working_beside_a_bad_neighbour(om_host, om_client, om_bad_neighbour, fault, place,
                                                        isolation):
    neighbour = om_bad_neighbour(isolation=isolation)
    host = om_host(("mine", Mine()), neighbour.spec, config=neighbour.config, stall_after=1.0)
    neighbour.inject(fault, place, seconds=2.0)
    if place == "rpc":
        om_client.rpc_send(neighbour.name, "poke", {})
    echo_works(om_client)
    assert_health_ok(om_client, "mine")
    if fault == "raise" and place == "handler":
        eventually(lambda: host.plugins[neighbour.name].stats.handler_errors == 1)
    if fault == "raise" and place == "health":
        assert_health_error(om_client, neighbour.name, timeout=5)


def test_a_hanging_neighbour_is_reported_degraded_and_released_at_the_end(om_host, om_client, om_bad_neighbour):
    neighbour = om_bad_neighbour("stuck")
    om_host(("mine", Mine()), neighbour.spec, config=neighbour.config, stall_after=0.5)
    neighbour.inject("hang")
    om_client.wait_for_alert(alert_type="plugin_state", source="stuck", status="error", timeout=20)
    check = find_check(om_client.get_health("openmodule_host"), "plugin_stuck")
    assert check["state"] == "fail" and check["message"].startswith("degraded: a handler has been running for")
    echo_works(om_client)


def test_a_neighbour_that_crashes_its_process_leaves_my_plugin_running(om_host, om_client, om_bad_neighbour):
    neighbour = om_bad_neighbour("crashy", isolation="process")
    host = om_host(("mine", Mine()), neighbour.spec, config=neighbour.config, restart_backoff=0.5)
    assert neighbour.poke(timeout=20)["response"]["status"] == "ok"
    neighbour.inject("exit")
    om_client.wait_for_alert(alert_type="plugin_state", source="crashy", status="error", timeout=20)
    echo_works(om_client)
    assert host.plugins["mine"].state.value == "running"


def test_crashes_need_process_isolation_and_unknown_faults_are_refused(om_client, om_bad_neighbour):
    with pytest.raises(ValueError, match="'exit' ends the process it runs in: start the neighbour with "
                                         "isolation='process'"):
        om_bad_neighbour().inject("exit")
    with pytest.raises(ValueError, match="unknown fault 'melt'"):
        om_bad_neighbour().inject("melt")
    with pytest.raises(ValueError, match="unknown place 'import'"):
        om_bad_neighbour().inject("raise", "import")


# -- my own dependencies fail ----------------------------------------------------------------------


@pytest.mark.parametrize(("answer", "message"), [
    ("error", "the plate service failed: camera database gone"),
    ("timeout", "the plate service did not answer"),
])
def test_a_failing_dependency_shows_in_my_health(om_host, om_client, answer, message):
    plates = FailingService("plates", "find", answer=answer, message="camera database gone")
    om_host(("mine", Mine()), ("plates", plates))
    om_client.rpc("mine", "lookup", {}, timeout=10)
    assert plates.calls == 1
    assert_health_error(om_client, "mine", message=message)


def test_a_database_outage_shows_in_my_health_and_passes(backend, om_host, om_client):
    mine = Mine()
    name = backend.name("mine")
    om_host((name, mine), **backend.settings)
    om_client.rpc("mine", "note", {}, timeout=10)
    assert_health_ok(om_client, name)
    with database_outage(mine.core.database, admin_url=POSTGRES_URL):
        om_client.rpc("mine", "note", {}, timeout=40)
        pong = assert_health_error(om_client, name)
        assert pong["pong"]["message"].startswith("cannot write notes: ")
    om_client.rpc("mine", "note", {}, timeout=10)
    wait_for_health(om_client, name, status="ok")
