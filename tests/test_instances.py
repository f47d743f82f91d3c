"""Several instances of one plugin: ``[plugins.<instance>] plugin = "<entry point>"``, and the ambient
``openmodule_host.compat`` accessors that let each instance's ported code see its own core and settings."""

import json
import threading
from pathlib import Path

import pytest
from backend_x import VehicleEnterMessage
from hello_plugin import HelloMessage
from openmodule_hookspecs import hookimpl

from openmodule_host import (
    ConfigError,
    HostConfig,
    PluginCandidate,
    PluginState,
    UnknownPluginError,
    discover,
    resolve_instances,
    select_instances,
)
from openmodule_host.compat import core, plugin_context, settings
from openmodule_host.config import build_plugin_config
from openmodule_host.loader import make_plugin_manager
from tests.support import HostProcess, eventually, run_cli
from tests.support.instance_plugins import GateQuery, GateService, ThreadStarter

GATES = {"gate_in": {"gate": "in-1"}, "gate_out": {"gate": "out-1"}}
GATE_TARGET = "tests.support.instance_plugins:GateService"


def _installed() -> dict[str, PluginCandidate]:
    return {name: PluginCandidate.from_object(name, object()) for name in ("hello", "om_welcome")}


# -- which entry point a table instantiates --------------------------------------------------------------


def test_a_table_naming_an_entry_point_makes_its_name_an_instance_of_that_entry_point():
    installed = _installed()
    known = resolve_instances(installed, {"gate_in": {"plugin": "om_welcome", "gate": "in-1"}, "hello": {}})

    assert list(known) == ["gate_in", "hello", "om_welcome"]
    gate_in = known["gate_in"]
    assert (gate_in.name, gate_in.instance_of, gate_in.entry_point) == ("gate_in", "om_welcome", "om_welcome")
    assert gate_in.load() is installed["om_welcome"].load()  # loaded as its entry point is
    assert (known["hello"].instance_of, known["hello"].entry_point) == ("", "hello")


def test_an_entry_point_selected_by_its_own_name_is_an_instance_of_itself_as_before():
    installed = _installed()
    tables = {"gate_in": {"plugin": "om_welcome"}, "om_welcome": {"plugin": "om_welcome", "gate": "x"}}

    chosen = select_instances(installed, tables, ["om_welcome", "gate_in"])

    assert [(candidate.name, candidate.instance_of) for candidate in chosen] == [
        ("gate_in", "om_welcome"), ("om_welcome", "")]
    assert chosen[1] == installed["om_welcome"]


@pytest.mark.parametrize(("tables", "message"), [
    ({"gate_in": {"plugin": "om_welcom"}},
     "[plugins.gate_in] plugin = 'om_welcom': no installed entry point has that name (installed: hello, "
     "om_welcome;"),
    ({"gate_in": {"plugin": "gate_in"}},
     "[plugins.gate_in] plugin = 'gate_in' names its own table, not an installed entry point"),
    ({"gate_in": {"plugin": "gate_out"}, "gate_out": {"plugin": "om_welcome"}},
     "[plugins.gate_in] plugin = 'gate_out' names the instance [plugins.gate_out], not an installed entry point"),
    ({"gate_in": {"plugin": 3}}, "[plugins.gate_in] plugin = 3: must be the name of an installed entry point"),
    ({"gate_in": {"plugin": " "}}, "[plugins.gate_in] plugin = ' ': must be the name of an installed entry point"),
])
def test_a_plugin_key_that_names_no_installed_entry_point_is_refused_naming_the_table(tables, message):
    with pytest.raises(ConfigError) as raised:
        resolve_instances(_installed(), tables)
    assert message in str(raised.value)


def test_an_instance_named_like_another_entry_point_is_refused_when_both_are_selected():
    tables = {"hello": {"plugin": "om_welcome"}}

    with pytest.raises(ConfigError, match=r"\[plugins.hello\] is an instance of om_welcome named like the "
                                          r"installed entry point hello .*--all-plugins selects too"):
        select_instances(_installed(), tables, None, all_plugins=True)
    # selected by name, the name means the instance (the entry point hello is not selected)
    (chosen,) = select_instances(_installed(), tables, ["hello"])
    assert (chosen.name, chosen.instance_of) == ("hello", "om_welcome")


def test_all_plugins_selects_every_entry_point_and_every_instance():
    chosen = select_instances(_installed(), {"gate_in": {"plugin": "hello"}}, None, all_plugins=True)
    assert [candidate.name for candidate in chosen] == ["gate_in", "hello", "om_welcome"]


def test_an_unknown_name_is_refused_listing_the_instances_too():
    with pytest.raises(UnknownPluginError) as raised:
        select_instances(_installed(), {"gate_in": {"plugin": "hello"}}, ["gate_inn"])
    assert raised.value.unknown == ["gate_inn"]
    assert raised.value.installed == ["gate_in", "hello", "om_welcome"]


def test_the_plugin_key_is_no_plugin_setting():
    config = build_plugin_config("gate_in", "1.0", {"plugin": "hello", "greeting": "Hi"}, HostConfig(), env={})
    assert config.NAME == "gate_in"
    assert config.settings == {"greeting": "Hi"}


# -- what an instance loads ------------------------------------------------------------------------------


def test_a_class_entry_point_gets_an_object_per_instance_and_a_module_is_shared_by_its_instances():
    made = GateService.made
    gate = PluginCandidate.from_target("gate", GATE_TARGET)
    first, second = (make_plugin_manager(gate.instance(name)) for name in ("gate_in", "gate_out"))
    assert GateService.made == made + 2
    assert first.get_plugin("gate_in") is not second.get_plugin("gate_out")
    assert isinstance(first.get_plugin("gate_in"), GateService)

    hello = discover()["hello"]
    modules = [make_plugin_manager(hello.instance(name)).get_plugin(name) for name in ("gate_in", "gate_out")]
    assert modules[0] is modules[1] is make_plugin_manager(hello).get_plugin("hello")


def test_a_class_that_cannot_be_made_without_arguments_fails_with_the_reason(om_host):
    class NeedsArguments:
        def __init__(self, gate: str) -> None:
            self.gate = gate

        @hookimpl
        def register_handlers(self, core):
            pass

    host = om_host(("gate_in", NeedsArguments), strict=False)

    plugin = host.plugins["gate_in"]
    assert plugin.state is PluginState.FAILED
    assert "(the entry point's class, made without arguments) raised TypeError" in plugin.reason


# -- instances in a host ---------------------------------------------------------------------------------


def test_two_instances_of_an_installed_plugin_each_answer_with_their_own_name_and_settings(om_host, om_client):
    host = om_host("gate_in", "gate_out", config={
        "gate_in": {"plugin": "hello", "greeting": "Welcome"},
        "gate_out": {"plugin": "hello", "greeting": "Goodbye", "NAME": "om_gate_out_1"},
    })
    om_client.subscribe("hello_reply")

    om_client.publish("hello", HelloMessage(name="om_demo_1", text="garage"))

    replies = [om_client.wait_for_message("hello_reply"), om_client.wait_for_message("hello_reply")]
    assert sorted((reply["name"], reply["reply"]) for reply in replies) == [
        ("gate_in", "Welcome, garage!"), ("om_gate_out_1", "Goodbye, garage!")]
    assert {name: plugin.core.plugin for name, plugin in host.plugins.items()} == {
        "gate_in": "gate_in", "gate_out": "gate_out"}
    assert host.plugins["gate_in"].core.log.name == "gate_in"
    assert host.plugins["gate_in"].candidate.instance_of == "hello"


def test_each_instance_has_its_own_pong_and_metrics_and_its_code_sees_its_own_core_and_settings(
        om_host, om_client):
    host = om_host(("gate_in", GATE_TARGET), ("gate_out", GATE_TARGET), config=GATES)
    om_client.subscribe("gate_answer")

    om_client.publish("gate_query", GateQuery())

    answers = sorted((answer["name"], answer["gate"], answer["plugin"], answer["service"])
                     for answer in [om_client.wait_for_message("gate_answer") for _ in range(2)])
    assert answers == [("gate_in", "in-1", "gate_in", "gate_in"), ("gate_out", "out-1", "gate_out", "gate_out")]
    eventually(lambda: all(plugin.stats.handled == 1 for plugin in host.plugins.values()))
    for name, gate in (("gate_in", "in-1"), ("gate_out", "out-1")):
        pong = om_client.get_health(name)
        # its health hook, run on a thread of its own
        assert pong["pong"]["message"] == f"{name}: the camera of gate {gate} is offline"
        queries = next(metric for metric in pong["metrics"] if metric["id"] == "queries")
        assert (queries["package"], queries["values"]) == (name, {'{"compute_id":"1"}': 1})
    handled = next(metric for metric in om_client.get_health("openmodule_host")["metrics"]
                   if metric["id"] == "plugin_messages_handled")
    assert handled["values"] == {'{"compute_id":"1","plugin":"gate_in"}': 1,
                                 '{"compute_id":"1","plugin":"gate_out"}': 1}


def test_each_instance_has_its_own_database(om_host, om_client, tmp_path):
    om_host("lane_a", "lane_b", data_dir=str(tmp_path), config={
        "lane_a": {"plugin": "backend_x", "whitelist": ["G-ARIVO 1"]},
        "lane_b": {"plugin": "backend_x", "whitelist": ["W 12345"]},
    })

    def accesses(name: str, plate: str) -> list[str]:
        response = om_client.rpc("access_service", "auth", {
            "name": name, "gate": "entry1", "vehicle_data": {"vehicle_id": "7", "lpr_front": {"plate": plate}}},
            timeout=10)["response"]
        return [access["source"] for access in response["accesses"]]

    assert sorted(path.name for path in tmp_path.glob("*.sqlite3")) == ["lane_a.sqlite3", "lane_b.sqlite3"]
    assert (accesses("lane_a", "GARIVO1"), accesses("lane_a", "W12345")) == (["lane_a"], [])
    assert (accesses("lane_b", "GARIVO1"), accesses("lane_b", "W12345")) == ([], ["lane_b"])
    om_client.subscribe("access_accept")
    om_client.publish("present_vehicle", VehicleEnterMessage(
        vehicle_id="1", gate="entry1", lpr_front={"plate": "W 12345", "country": "A"}))
    assert om_client.wait_for_message("access_accept")["name"] == "lane_b"


def test_a_failing_instance_does_not_stop_the_other(om_host, om_client):
    host = om_host(("gate_in", GATE_TARGET), ("gate_out", GATE_TARGET),
                   config={**GATES, "gate_out": {"gate": "out-1", "fail": True}}, strict=False)
    om_client.subscribe("gate_answer")

    om_client.publish("gate_query", GateQuery())

    assert om_client.wait_for_message("gate_answer")["name"] == "gate_in"
    om_client.assert_no_message("gate_answer", timeout=0.5)
    assert host.plugins["gate_out"].state is PluginState.FAILED
    assert host.plugins["gate_out"].reason == "register_handlers raised RuntimeError: gate out-1 is broken"
    assert host.plugins["gate_in"].state is PluginState.RUNNING


def test_two_instances_with_the_same_name_are_refused_naming_both(om_broker):
    from openmodule_host.testing import start_host

    with pytest.raises(ConfigError, match=r"plugins 'gate_in' and 'gate_out' both use NAME='om_gate'"):
        start_host(om_broker, ["gate_in", "gate_out"], dsgvo=False, config={
            "gate_in": {"plugin": "hello", "NAME": "om_gate"}, "gate_out": {"plugin": "hello", "NAME": "om_gate"}})


def test_instances_in_child_processes_each_run_as_their_own_service(om_host, om_client, tmp_path):
    host = om_host("gate_in", "gate_out", data_dir=str(tmp_path), config={
        "gate_in": {"plugin": "hello", "greeting": "Welcome", "ISOLATION": "process"},
        "gate_out": {"plugin": "hello", "greeting": "Goodbye", "ISOLATION": "process"},
    })
    om_client.subscribe("hello_reply")

    om_client.publish("hello", HelloMessage(name="om_demo_1", text="garage"))

    replies = [om_client.wait_for_message("hello_reply", timeout=10) for _ in range(2)]
    assert sorted((reply["name"], reply["reply"]) for reply in replies) == [
        ("gate_in", "Welcome, garage!"), ("gate_out", "Goodbye, garage!")]
    pids = {plugin.process.pid for plugin in host.plugins.values()}
    assert len(pids) == 2
    assert om_client.get_health("gate_out", timeout=10)["pong"]["status"] == "ok"


def test_class_instances_in_child_processes_see_their_own_settings(om_host, om_client):
    om_host(("gate_in", GATE_TARGET), ("gate_out", GATE_TARGET), config={
        name: {**table, "ISOLATION": "process"} for name, table in GATES.items()})
    om_client.subscribe("gate_answer")

    om_client.publish("gate_query", GateQuery())

    answers = [om_client.wait_for_message("gate_answer", timeout=10) for _ in range(2)]
    assert sorted((answer["name"], answer["gate"], answer["objects"]) for answer in answers) == [
        ("gate_in", "in-1", 1), ("gate_out", "out-1", 1)]  # one object in each child


# -- the ambient accessors outside a plugin's threads ----------------------------------------------------


def test_core_and_settings_outside_a_plugin_thread_raise_a_runtime_error_saying_where_they_work():
    with pytest.raises(RuntimeError, match=r"on thread 'MainThread', which runs no plugin's code. They work in a "
                                           r"plugin's hooks \(register_handlers, health, shutdown, ...\)"):
        core()
    with pytest.raises(RuntimeError, match="plugin_context"):
        settings.NAME  # noqa: B018
    with pytest.raises(AttributeError, match="read-only"):
        settings.NAME = "x"


def test_a_thread_the_plugin_starts_sees_its_core_inside_plugin_context(om_host):
    starter = ThreadStarter()
    host = om_host(("starter", starter), config={"starter": {"NAME": "om_starter_1"}})

    assert starter.done.wait(10)
    assert "on thread 'plugin-own-thread', which runs no plugin's code" in starter.seen["unbound"]
    assert starter.seen["bound"] == "om_starter_1"
    with plugin_context(host.plugins["starter"].core) as bound:
        assert core() is bound and settings.NAME == "om_starter_1"
    with pytest.raises(RuntimeError):
        core()


def test_core_and_settings_resolve_per_thread_while_both_instances_run_at_once(om_host):
    host = om_host(("gate_in", GATE_TARGET), ("gate_out", GATE_TARGET), config=GATES)
    seen: dict[str, list[str]] = {"gate_in": [], "gate_out": []}
    barrier = threading.Barrier(2)

    def look(name: str) -> None:
        barrier.wait(5)  # both workers inside at the same time
        for _ in range(200):
            seen[name].append(f"{core().plugin}:{settings.gate}")

    futures = [host.plugins[name].worker.submit(lambda name=name: look(name)) for name in seen]
    for future in futures:
        future.result(timeout=10)
    assert set(seen["gate_in"]) == {"gate_in:in-1"} and set(seen["gate_out"]) == {"gate_out:out-1"}


# -- the command line --------------------------------------------------------------------------------------


def _config(tmp_path: Path, text: str) -> str:
    path = tmp_path / "host.toml"
    path.write_text(text)
    return str(path)


INSTANCES_TOML = """
[plugins.gate_in]
plugin = "hello"
greeting = "Welcome"

[plugins.gate_out]
plugin = "hello"
NAME = "om_gate_out_1"
"""


def test_the_cli_runs_the_instances_selected_by_name(tmp_path, broker_env):
    with HostProcess(["--plugins", "gate_in,gate_out", "--config", _config(tmp_path, INSTANCES_TOML)],
                     env=broker_env) as host:
        host.wait_ready()
        assert host.stop() == 0
    lines = [line for line in host.stdout if line.startswith("plugin ")]
    assert lines == [
        "plugin gate_in 0.1.0 running instance_of=hello topics=hello",
        "plugin gate_out 0.1.0 running instance_of=hello NAME=om_gate_out_1 topics=hello",
    ]


def test_the_plugins_command_lists_the_instances_of_a_config_file(tmp_path):
    config = _config(tmp_path, INSTANCES_TOML)

    listing = run_cli("plugins", "--config", config)
    as_json = run_cli("plugins", "--json", "--config", config)

    assert listing.returncode == as_json.returncode == 0
    text = listing.stdout
    assert "hello  openmodule-plugin-hello 0.1.0  hello_plugin.plugin" in text  # the entry points, as before
    assert text.index("instances:\n") > text.index("hello  openmodule-plugin-hello")
    assert "instances:\ngate_in  instance of hello  openmodule-plugin-hello 0.1.0\n    ok\n" \
           "gate_out  instance of hello  openmodule-plugin-hello 0.1.0\n    ok\n" in text
    rows = {row["name"]: row for row in json.loads(as_json.stdout)}
    assert rows["gate_in"] == {**rows["hello"], "name": "gate_in", "instance_of": "hello"}
    assert "instance_of" not in rows["hello"]
    assert "instances:" not in run_cli("plugins").stdout


def test_the_plugins_command_checks_the_config_file_as_run_does(tmp_path):
    wrong = run_cli("plugins", "--config", _config(tmp_path, '[plugins.gate_in]\nplugin = "helo"\n'))
    unknown = run_cli("plugins", "--config", _config(tmp_path, "[plugins.gate_in]\n"))

    assert wrong.returncode == unknown.returncode == 2
    assert "[plugins.gate_in] plugin = 'helo': no installed entry point has that name" in wrong.stderr
    assert "config has table(s) for unknown plugin(s): [plugins.gate_in]" in unknown.stderr


@pytest.mark.parametrize(("toml", "args", "message"), [
    ('[plugins.gate_in]\nplugin = "helo"\n', ["--plugins", "gate_in"],
     "[plugins.gate_in] plugin = 'helo': no installed entry point has that name"),
    ('[plugins.gate_in]\nplugin = "gate_in"\n', ["--plugins", "gate_in"],
     "[plugins.gate_in] plugin = 'gate_in' names its own table"),
    ('[plugins.backend_x]\nplugin = "hello"\n', ["--all-plugins"],
     "[plugins.backend_x] is an instance of hello named like the installed entry point backend_x"),
    (INSTANCES_TOML + '\n[plugins.gate_x]\nplugin = "hello"\nNAME = "gate_in"\n',
     ["--plugins", "gate_in,gate_x"], "plugins 'gate_in' and 'gate_x' both use NAME='gate_in'"),
])
def test_start_errors_exit_2_with_a_clear_message(tmp_path, broker_env, toml, args, message):
    result = run_cli(*args, "--config", _config(tmp_path, toml), env=broker_env)
    assert result.returncode == 2
    assert message in result.stderr


def test_the_db_command_takes_an_instance_and_uses_its_own_database(tmp_path):
    config = _config(tmp_path, '[plugins.lane_a]\nplugin = "backend_x"\n\n[plugins.lane_b]\nplugin = "backend_x"\n')
    data = tmp_path / "data"

    upgraded = run_cli("db", "upgrade", "--plugin", "lane_a", "--config", config, "--data-dir", str(data))

    assert upgraded.returncode == 0, upgraded.stderr
    assert f"plugin lane_a (NAME lane_a): SQLite file {data / 'lane_a.sqlite3'}" in upgraded.stdout
    assert [path.name for path in data.iterdir()] == ["lane_a.sqlite3"]
    current = run_cli("db", "current", "--plugin", "lane_b", "--config", config, "--data-dir", str(data))
    assert "current revision: (empty)" in current.stdout
