"""The process-level helper (openmodule-test's MainTestMixin): the real openmodule-host command with chosen
plugins and config on the private broker, ready, stopped with SIGTERM, a clean exit within a bound; the
output in every failure."""

from __future__ import annotations

import signal

import pytest

from openmodule_host.testing import HostProcess, assert_health_ok, start_host_process


def test_start_wait_for_ready_and_stop_cleanly(om_host_process, om_client):
    host = om_host_process("hello", config={"hello": {"NAME": "om_hello_3", "greeting": "Servus"}},
                           shutdown_timeout=2.0)
    assert host.stdout[-1] == "ready: 1 running, 0 failed"
    assert_health_ok(om_client, "om_hello_3", timeout=10)
    om_client.subscribe("hello_reply")
    om_client.publish("hello", {"type": "hello", "text": "world"})
    assert om_client.wait_for_message("hello_reply", timeout=10)["reply"] == "Servus, world!"

    took = host.assert_clean_shutdown(timeout=30)
    assert 0 < took < 30
    assert host.proc.returncode == 0


def test_a_host_that_does_not_stop_in_time_fails_with_its_output(om_host_process):
    host = om_host_process("hello")
    with pytest.raises(AssertionError, match=r"(?s)did not exit within 0 s of SIGTERM \(killed\).*"
                                             r"stdout:\n.*ready: 1 running"):
        host.assert_clean_shutdown(timeout=0)
    # SIGABRT first: faulthandler prints every thread's stack (where it hung), then it is killed if need be. With
    # timeout=0 the abort can land while the host is already finalizing after the SIGTERM, where the dump itself
    # may crash (SIGSEGV, faulthandler's report says so): any death by signal with faulthandler's report is it.
    assert host.proc.returncode in (-signal.SIGABRT, -signal.SIGKILL, -signal.SIGSEGV), host.output
    assert any("Fatal Python error: " in line for line in host.stderr), host.output


def test_a_host_that_never_gets_ready_fails_with_its_output(om_broker):
    with start_host_process(om_broker, ["hello"], config={"hello": {"greeting": 5}}) as host:
        with pytest.raises(AssertionError, match=r"(?s)no line starting with 'ready' .*exit code 2.*"
                                                 r"\[plugins.hello\] greeting: Input should be a valid string"):
            host.wait_ready(30)
        with pytest.raises(AssertionError, match="already exited with 2 before the signal"):
            host.assert_clean_shutdown()


def test_host_process_runs_any_command_line_with_a_toml_config(om_broker):
    with HostProcess(["--plugins", "hello", "--broker", "external", "--strict"], om_broker.env,
                     config='[plugins.hello]\nNAME = "om_hello_9"\n') as host:
        assert host.wait_ready(30).startswith("ready: 1 running")
        host.assert_clean_shutdown()
