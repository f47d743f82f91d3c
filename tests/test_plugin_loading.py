"""Loading real plugin distributions: good ones run, broken ones are reported by name and skipped."""

import json

from tests.support import HostProcess, run_cli


def test_a_good_plugin_runs_next_to_broken_ones_that_are_reported_with_their_reason(test_plugins_env, broker_env):
    env = {**test_plugins_env, **broker_env}
    plugins = "good_plugin,broken_import,raising_setup,no_hookimpls,wrong_hook"
    with HostProcess(["--plugins", plugins], env=env) as host:
        lines = {name: host.wait_for_line(f"plugin {name} ") for name in sorted(plugins.split(","))}
        host.wait_ready()
        assert host.stop() == 0

    assert lines["good_plugin"] == "plugin good_plugin 1.2.3 running topics=echo"
    assert lines["broken_import"].startswith("plugin broken_import 1.2.3 failed: import of broken_import_pkg.plugin")
    assert "ModuleNotFoundError: No module named 'a_module_that_is_not_installed'" in lines["broken_import"]
    assert lines["raising_setup"] == (
        "plugin raising_setup 1.2.3 failed: register_handlers raised RuntimeError: the camera list is empty"
    )
    assert "no_hookimpls 1.2.3 failed: does not implement the contract: no_hookimpls_pkg.plugin has no @hookimpl" in (
        lines["no_hookimpls"]
    )
    assert "failed: does not implement the contract: unknown hook 'register_handler'" in lines["wrong_hook"]
    assert "'register_handler': did you mean 'register_handlers'?" in lines["wrong_hook"]
    assert any("plugin raising_setup failed" in line for line in host.stderr)


def test_strict_makes_any_plugin_failure_fatal(test_plugins_env, broker_env):
    result = run_cli("--strict", "--plugins", "good_plugin,raising_setup", env={**test_plugins_env, **broker_env})
    assert result.returncode == 1
    assert "plugin 'raising_setup' failed: register_handlers raised RuntimeError" in result.stderr


def test_plugins_that_are_not_selected_are_never_imported(test_plugins_env, broker_env):
    with HostProcess(["--plugins", "good_plugin"], env={**test_plugins_env, **broker_env}) as host:
        host.wait_ready()
        assert host.stop() == 0
    assert not any("broken_import" in line for line in host.stdout + host.stderr)


def test_all_plugins_loads_every_installed_plugin_in_name_order(test_plugins_env, broker_env):
    with HostProcess(["--all-plugins"], env={**test_plugins_env, **broker_env}) as host:
        host.wait_ready()
        assert host.stop() == 0
    names = [line.split()[1] for line in host.stdout if line.startswith("plugin ")]
    assert names == sorted(names)
    assert {"hello", "backend_x", "good_plugin", "broken_import"} <= set(names)


def test_plugins_command_reports_load_problems_and_exits_1(test_plugins_env):
    result = run_cli("plugins", "--json", env=test_plugins_env)
    assert result.returncode == 1, result.stderr
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    assert rows["good_plugin"] == {
        "name": "good_plugin", "distribution": "omh-test-good_plugin", "version": "1.2.3",
        "module": "good_plugin_pkg.plugin", "hookimpls": ["register_handlers"], "problem": "",
    }
    assert "No module named 'a_module_that_is_not_installed'" in rows["broken_import"]["problem"]
    assert rows["no_hookimpls"]["problem"].startswith("does not implement the contract")
    # register_handlers is not called by the listing: a raising setup is no load problem
    assert rows["raising_setup"]["problem"] == ""
