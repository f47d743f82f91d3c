"""The health helpers plugin authors get (openmodule-test's HealthTestMixin): against the real host, and on a
plain pong function (what an in-memory core offers)."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from openmodule_hookspecs import HealthMetricType, hookimpl

from openmodule_host.testing import (
    HealthProbe,
    assert_health_error,
    assert_health_ok,
    find_check,
    find_metric,
    metric_value,
    wait_for_health,
)


class Camera:
    """A check ``camera`` and two metrics; the test drives them through ``core.health``."""

    def __init__(self) -> None:
        self.core: Any = None

    @hookimpl
    def register_handlers(self, core: Any) -> None:
        self.core = core
        core.health.add_check("camera", "Camera", "camera reachable")
        core.health.add_metric("queue_len", HealthMetricType.gauge, "Queue length", "pending jobs", labels=["gate"])
        core.health.add_metric("seen", HealthMetricType.count, "Seen", "vehicles seen")


def test_assert_health_ok_passes_for_a_healthy_plugin_and_fails_naming_the_failing_check(om_host, om_client):
    camera = Camera()
    om_host(("cam", camera))
    assert assert_health_ok(om_client, "cam")["pong"]["status"] == "ok"

    camera.core.health.check_fail("camera", message="camera offline")
    with pytest.raises(AssertionError, match=r"health of 'cam' is not ok: status 'error', message 'camera offline', "
                                             r"checks not ok: \['camera=fail \(camera offline\)'\]"):
        assert_health_ok(om_client, "cam")


def test_assert_health_error_checks_the_status_and_the_message(om_host, om_client):
    camera = Camera()
    om_host(("cam", camera))
    with pytest.raises(AssertionError, match="health of 'cam' is not error: status 'ok'"):
        assert_health_error(om_client, "cam")

    camera.core.health.check_fail("camera", message="camera offline")
    assert assert_health_error(om_client, "cam")["pong"]["message"] == "camera offline"
    assert_health_error(om_client, "cam", message="camera offline")
    with pytest.raises(AssertionError, match="another message, expected 'lens dirty'"):
        assert_health_error(om_client, "cam", message="lens dirty")


def test_a_pong_that_never_comes_fails_saying_which_pongs_came_instead(om_host, om_client):
    om_host(("cam", Camera()))
    with pytest.raises(AssertionError, match=r"no matching message on 'healthpong' .*'name': 'cam'"):
        assert_health_ok(om_client, "nobody", timeout=0.5)


def test_wait_for_health_waits_until_the_plugin_answers_and_until_the_status_wanted(om_host, om_client):
    camera = Camera()
    om_host(("cam", camera))
    assert wait_for_health(om_client, "cam")["name"] == "cam"

    threading.Timer(0.5, camera.core.health.check_fail, args=("camera",), kwargs={"message": "gone"}).start()
    pong = wait_for_health(om_client, "cam", status="error", timeout=20)
    assert pong["pong"]["message"] == "gone"

    with pytest.raises(AssertionError, match=r"a pong with status 'ok' from 'cam' did not come within 0.5 s; "
                                             r"last pong: status 'error', message 'gone'"):
        wait_for_health(om_client, "cam", status="ok", timeout=0.5)
    with pytest.raises(AssertionError, match=r"a pong from 'nobody' did not come within 0\.5 s; no pong"):
        wait_for_health(om_client, "nobody", timeout=0.5)


def test_metric_values_and_checks_of_one_plugin(om_host, om_client):
    camera = Camera()
    om_host(("cam", camera), config={"cam": {"NAME": "om_cam_1"}})
    camera.core.health.metric_set("queue_len", 4, gate="entry1")
    camera.core.health.metric_set("queue_len", 2, gate="exit1")
    camera.core.health.metric_inc("seen", 3)
    camera.core.health.check_success("camera")

    pong = assert_health_ok(om_client, "om_cam_1")
    assert metric_value(pong, "queue_len", {"gate": "entry1"}) == 4
    assert metric_value(pong, "queue_len", {"gate": "exit1", "compute_id": 1}) == 2
    assert metric_value(pong, "seen") == 3
    assert find_metric(pong, "queue_len", package="om_cam_1")["type"] == "gauge"
    assert find_check(pong, "camera")["state"] == "ok"

    with pytest.raises(AssertionError, match=r"metric 'queue_len' has no value for labels \{'gate': 'lane9'\}"):
        metric_value(pong, "queue_len", {"gate": "lane9"})
    with pytest.raises(AssertionError, match=r"no metric 'nope' .* its metrics: \[\('queue_len', 'om_cam_1'\), "):
        find_metric(pong, "nope")
    with pytest.raises(AssertionError, match=r"no check 'lens' .* its checks: \[\('camera', 'ok'\)\]"):
        find_check(pong, "lens")


def test_the_om_health_fixture_binds_the_helpers_to_om_client(om_host, om_health):
    camera = Camera()
    om_host(("cam", camera))
    om_health.wait("cam")
    om_health.assert_ok("cam")
    camera.core.health.metric_set("queue_len", 7, gate="entry1")
    assert om_health.metric_value("cam", "queue_len", {"gate": "entry1"}) == 7
    camera.core.health.check_fail("camera", message="offline")
    om_health.assert_error("cam", message="offline")
    assert om_health.check("cam", "camera")["message"] == "offline"


def test_the_helpers_work_on_any_pong_source_such_as_an_in_memory_core():
    pongs = {"cam": {"name": "cam", "pong": {"status": "error", "message": "offline"}, "metrics": [],
                     "checks": [{"id": "camera", "package": "cam", "state": "fail", "message": "offline"}]}}

    def source(name: str, timeout: float) -> dict[str, Any]:
        if name not in pongs:
            raise AssertionError(f"no pong from {name!r}")
        return pongs[name]

    assert_health_error(source, "cam", message="offline")
    assert HealthProbe(source).check("cam", "camera")["state"] == "fail"
    with pytest.raises(AssertionError, match="a pong with status 'ok' from 'cam' did not come"):
        wait_for_health(source, "cam", status="ok", timeout=0.3)
