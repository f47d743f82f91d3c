"""Periodic work (``core.scheduler``, ``core.every``): the ``schedule`` library's API, with each job run on its
plugin's worker, queued by the host's scheduler thread; a slow or raising job affects only its plugin."""

from __future__ import annotations

import datetime
import logging
import os
import threading
import time
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import schedule
from openmodule_hookspecs import hookimpl

from openmodule_host import ConfigError, HostConfig
from openmodule_host.config import build_plugin_config
from openmodule_host.isolation import Mailbox
from openmodule_host.scheduling import PluginScheduler
from openmodule_host.stats import PluginStats
from tests.support import eventually
from tests.support.plugins import Ping

log = logging.getLogger("test_scheduler")


class Ticker:
    """Records the thread each run of its jobs and each of its messages (topic ``t``) runs on."""

    def __init__(self, schedule_jobs: Any = None) -> None:
        self.core: Any = None
        self.runs: list[tuple[str, int | None]] = []
        self.handled: list[int | None] = []
        self._schedule_jobs = schedule_jobs or (lambda core, tick: core.every(1, tick))

    @hookimpl
    def register_handlers(self, core: Any) -> None:
        self.core = core
        core.messages.register_handler("t", Ping, lambda message: self.handled.append(threading.get_ident()))
        self._schedule_jobs(core, self.tick)

    def tick(self, *_: Any) -> None:
        self.runs.append((threading.current_thread().name, threading.get_ident()))


class Sleeper(Ticker):
    """Its job holds the worker until released (at most 30 s)."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()

    def tick(self, *_: Any) -> None:
        super().tick()
        self.release.wait(30)


class Failing(Ticker):
    def tick(self, *_: Any) -> None:
        super().tick()
        raise ValueError("the till is jammed")


def stats(host: Any, plugin: str) -> Any:
    return host.plugins[plugin].stats


# -- where jobs run ------------------------------------------------------------------------------------


def test_a_job_runs_on_the_plugins_worker_as_its_handlers_do(om_host, om_client):
    ticker = Ticker()
    om_host(("ticker", ticker))
    om_client.publish("t", Ping())
    eventually(lambda: len(ticker.runs) >= 2 and ticker.handled, timeout=15)

    worker_ident = ticker.handled[0]
    assert set(ticker.runs) == {("omh-plugin-ticker", worker_ident)}


def test_the_schedule_librarys_api_is_there(om_host):
    """``every(n).seconds.do(fn, *args)``, ``.tag()``, ``get_jobs``, ``clear(tag)``, ``cancel_job``, ``CancelJob``."""
    seen: list[str] = []

    def jobs(core: Any, tick: Any) -> None:
        core.scheduler.every(1).seconds.do(seen.append, "tagged").tag("cleanup")
        core.scheduler.every(1).seconds.do(lambda: seen.append("once") or schedule.CancelJob)
        core.scheduler.every(1).seconds.do(seen.append, "plain")

    ticker = Ticker(jobs)
    host = om_host(("ticker", ticker))
    eventually(lambda: seen.count("plain") >= 2, timeout=15)
    scheduler = ticker.core.scheduler

    assert seen.count("once") == 1  # returned CancelJob: no second run
    assert len(scheduler.get_jobs()) == 2
    scheduler.clear("cleanup")
    [plain] = scheduler.get_jobs()
    assert plain.job_func.args == ("plain",)
    scheduler.cancel_job(plain)
    assert scheduler.jobs == []
    assert scheduler.next_run is None and scheduler.idle_seconds is None
    eventually(lambda: stats(host, "ticker").jobs_run == len(seen))


def test_until_ends_a_job(om_host):
    seen: list[float] = []
    ticker = Ticker(lambda core, tick: core.scheduler.every(1).seconds.until(datetime.timedelta(seconds=2.5))
                    .do(lambda: seen.append(time.monotonic())))
    om_host(("ticker", ticker))
    eventually(lambda: not ticker.core.scheduler.jobs, timeout=15)

    assert 1 <= len(seen) <= 2


def test_core_every_takes_fractions_of_a_second_and_returns_the_job(om_host):
    ticker = Ticker(lambda core, tick: core.every(0.2, tick))
    om_host(("ticker", ticker))
    eventually(lambda: len(ticker.runs) >= 3)

    [job] = ticker.core.scheduler.jobs
    assert (job.interval, job.unit) == (0.2, "seconds")


@pytest.mark.parametrize("interval", [0, -1, float("nan"), float("inf"), "5", True])
def test_an_interval_that_is_no_positive_number_is_refused(interval):
    scheduler = PluginScheduler("p", "Europe/Vienna", Mailbox("p", 10, log), PluginStats(), log)
    with pytest.raises(schedule.ScheduleValueError, match="positive number"):
        scheduler.every(interval)


def test_a_job_that_is_not_callable_is_refused():
    scheduler = PluginScheduler("p", "Europe/Vienna", Mailbox("p", 10, log), PluginStats(), log)
    with pytest.raises(TypeError, match="callable"):
        scheduler.every(1).seconds.do("cleanup")
    assert scheduler.jobs == []


# -- slow and raising jobs -------------------------------------------------------------------------------


def test_a_slow_job_is_not_queued_again_while_it_runs_and_its_skipped_runs_are_counted(om_host, om_client):
    sleeper, other = Sleeper(), Ticker()
    host = om_host(("sleeper", sleeper), ("other", other))
    eventually(lambda: sleeper.runs, timeout=15)

    eventually(lambda: stats(host, "sleeper").jobs_skipped >= 2, timeout=15)
    assert len(sleeper.runs) == 1  # the run that holds the worker; nothing else started ...
    assert len(host.plugins["sleeper"].worker.mailbox) == 0  # ... nor waits behind it
    ran_before = len(other.runs)
    eventually(lambda: len(other.runs) >= ran_before + 2, timeout=15)  # the other plugin goes on

    sleeper.release.set()
    eventually(lambda: len(sleeper.runs) >= 2, timeout=15)
    metrics = {metric.id: metric for metric in host.health_metrics()}
    assert metrics["plugin_jobs_skipped"].values['{"compute_id":"1","plugin":"sleeper"}'] >= 2
    assert metrics["plugin_jobs_skipped"].values['{"compute_id":"1","plugin":"other"}'] == 0


def test_a_raising_job_is_counted_logged_once_per_interval_and_keeps_its_schedule(om_host, om_client, caplog):
    failing, other = Failing(), Ticker()
    with caplog.at_level(logging.ERROR):
        host = om_host(("failing", failing), ("other", other))
        eventually(lambda: stats(host, "failing").jobs_failed >= 3, timeout=20)

    assert stats(host, "failing").jobs_run >= 3
    lines = [record for record in caplog.records if "scheduled job tick raised" in record.getMessage()]
    assert len(lines) == 1  # the first traceback in full; the next ones within 5 s are counted, not logged
    assert lines[0].exc_info is not None and lines[0].exc_info[0] is ValueError
    assert host.statuses()[0].state == "running"  # "failing" sorts first
    om_client.publish("t", Ping())
    eventually(lambda: failing.handled)  # its handlers are served as before
    assert other.runs and stats(host, "other").jobs_failed == 0
    metrics = {metric.id: metric for metric in host.health_metrics()}
    assert metrics["plugin_jobs_failed"].values['{"compute_id":"1","plugin":"failing"}'] >= 3


# -- stop -------------------------------------------------------------------------------------------------


def test_jobs_are_cleared_when_the_plugin_stops_and_none_can_be_added(om_host):
    ticker = Ticker()
    host = om_host(("ticker", ticker))
    eventually(lambda: ticker.runs, timeout=15)

    host.stop()

    scheduler = ticker.core.scheduler
    assert scheduler.jobs == []
    ran = len(ticker.runs)
    time.sleep(1.5)  # longer than the job's period
    assert len(ticker.runs) == ran
    with pytest.raises(RuntimeError, match="plugin ticker is stopped"):
        ticker.core.every(1, ticker.tick)
    assert host.scheduler.thread is None


class FailsAfterScheduling(Ticker):
    @hookimpl
    def register_handlers(self, core: Any) -> None:
        super().register_handlers(core)
        raise RuntimeError("no licence file")


def test_a_plugin_that_fails_at_start_keeps_none_of_its_jobs(om_host):
    failed, other = FailsAfterScheduling(), Ticker()
    host = om_host(("failed", failed), ("other", other), strict=False)
    assert host.plugins["failed"].state.value == "failed"

    assert failed.core.scheduler.jobs == []
    eventually(lambda: len(other.runs) >= 2, timeout=15)
    assert failed.runs == []


def test_the_scheduler_thread_is_one_of_the_host_threads_the_watchdog_watches(om_host):
    host = om_host(("ticker", Ticker()))

    assert "scheduler" in {watched.heartbeat.name for watched in host.watchdog.threads}
    assert host.scheduler.thread.name == "omh-scheduler"
    checks = {check.id: check for check in host.health_checks()}
    assert checks["host_thread_scheduler"].state == "ok"


class Poison(BaseException):
    """Escapes every ``except Exception``: what it takes to end a host thread."""


def test_what_one_plugins_scheduler_raises_costs_one_round_of_it_and_is_counted(om_host, monkeypatch):
    broken, other = Ticker(), Ticker()
    host = om_host(("broken", broken), ("other", other))
    eventually(lambda: broken.runs and other.runs, timeout=15)

    def raising(now: datetime.datetime) -> None:
        raise RuntimeError("a clock from another planet")

    monkeypatch.setattr(broken.core.scheduler, "queue_due", raising)
    eventually(lambda: host.scheduler.heartbeat.errors >= 2, timeout=15)
    ran = len(other.runs)
    eventually(lambda: len(other.runs) >= ran + 2, timeout=15)
    assert host.watchdog.problems() == {}


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")  # the thread dies: the point
def test_a_dead_scheduler_thread_is_restarted_and_jobs_go_on(om_host, monkeypatch):
    ticker = Ticker()
    host = om_host(("ticker", ticker), watchdog_timeout=1.0)
    eventually(lambda: ticker.runs, timeout=15)
    first = host.scheduler.thread
    queue_due = ticker.core.scheduler.queue_due

    def poisoned_once(now: datetime.datetime) -> None:
        monkeypatch.setattr(ticker.core.scheduler, "queue_due", queue_due)
        raise Poison()

    monkeypatch.setattr(ticker.core.scheduler, "queue_due", poisoned_once)
    eventually(lambda: not first.is_alive(), timeout=15)
    eventually(lambda: host.scheduler.thread is not first and host.watchdog.problems() == {}, timeout=15)
    ran = len(ticker.runs)
    eventually(lambda: len(ticker.runs) > ran, timeout=15)


# -- process isolation ---------------------------------------------------------------------------------------


def test_a_plugin_in_a_child_process_runs_its_jobs_there_on_its_worker(om_host, om_client):
    om_client.subscribe("tick")
    host = om_host(("ticker", "tests.support.process_plugins:ticker"), config={"ticker": {"ISOLATION": "process"}})

    tick = om_client.wait_for_message("tick", timeout=20)
    assert tick["pid"] == host.plugins["ticker"].process.pid != os.getpid()
    assert tick["thread"] == "omh-plugin-ticker"

    def jobs_run() -> float:  # as the child reports it to its parent
        [metric] = [metric for metric in host.health_metrics() if metric.id == "plugin_jobs_run"]
        return metric.values['{"compute_id":"1","plugin":"ticker"}']

    eventually(lambda: jobs_run() >= 1, timeout=15)


# -- time zones ------------------------------------------------------------------------------------------------


def next_local_time(hour: int, minute: int, zone: str) -> datetime.datetime:
    """The next ``hour:minute`` in ``zone``, as the naive local time ``schedule`` keeps next runs in."""
    tz = ZoneInfo(zone)
    now = datetime.datetime.now(tz)
    day = now.date()
    while (moment := datetime.datetime.combine(day, datetime.time(hour, minute), tzinfo=tz)) <= now:
        day += datetime.timedelta(days=1)
    return moment.astimezone().replace(tzinfo=None)


def scheduler_in(zone: str) -> PluginScheduler:
    return PluginScheduler("p", zone, Mailbox("p", 10, log), PluginStats(), log)


@pytest.mark.parametrize("zone", ["Europe/Vienna", "America/New_York", "Asia/Kolkata"])
def test_at_without_a_zone_means_the_plugins_timezone(zone):
    job = scheduler_in(zone).every().day.at("02:00").do(lambda: None)

    assert job.next_run == next_local_time(2, 0, zone)


def test_at_with_a_zone_means_that_zone_by_name_or_zoneinfo():
    scheduler = scheduler_in("Europe/Vienna")
    by_name = scheduler.every().day.at("23:30", "Asia/Kolkata").do(lambda: None)
    by_zoneinfo = scheduler.every().day.at("23:30", ZoneInfo("Asia/Kolkata")).do(lambda: None)

    assert by_name.next_run == by_zoneinfo.next_run == next_local_time(23, 30, "Asia/Kolkata")


def test_a_weekly_job_at_a_time_is_on_that_weekday_in_the_plugins_timezone():
    job = scheduler_in("Europe/Vienna").every().monday.at("06:15").do(lambda: None)

    local = job.next_run.astimezone(ZoneInfo("Europe/Vienna"))  # naive local time -> Vienna
    assert (local.weekday(), local.hour, local.minute) == (0, 6, 15)
    assert datetime.timedelta(0) < job.next_run - datetime.datetime.now() <= datetime.timedelta(days=7)


def test_the_timezone_setting_defaults_to_vienna_and_comes_from_the_table_or_the_environment():
    host = HostConfig()
    assert build_plugin_config("p", "1", {}, host, env={}).TIMEZONE == "Europe/Vienna"
    assert build_plugin_config("p", "1", {"TIMEZONE": "UTC"}, host, env={}).TIMEZONE == "UTC"
    # defaults < table < environment (docs/cli.md, "A plugin's settings")
    assert build_plugin_config("p", "1", {"TIMEZONE": "UTC"}, host, env={"TIMEZONE": "Europe/Berlin"}).TIMEZONE \
        == "Europe/Berlin"
    with pytest.raises(ConfigError, match="unknown time zone 'Mars/Olympus'"):
        build_plugin_config("p", "1", {"TIMEZONE": "Mars/Olympus"}, host, env={})


def test_a_plugins_at_jobs_follow_its_timezone_setting(om_host):
    ticker = Ticker(lambda core, tick: core.scheduler.every().day.at("02:00").do(tick))
    om_host(("ticker", ticker), config={"ticker": {"TIMEZONE": "Asia/Kolkata"}})

    [job] = ticker.core.scheduler.jobs
    assert job.next_run == next_local_time(2, 0, "Asia/Kolkata")


def test_run_all_and_run_pending_run_the_jobs_on_the_calling_thread_and_count_them():
    figures = PluginStats()
    scheduler = PluginScheduler("p", "Europe/Vienna", Mailbox("p", 10, log), figures, log)
    threads: list[str] = []
    scheduler.every(1).hours.do(lambda: threads.append(threading.current_thread().name))
    scheduler.every(1).hours.do(lambda: threads.append("second") or schedule.CancelJob)

    scheduler.run_pending()  # nothing is due yet
    assert threads == []
    scheduler.run_all()

    assert threads == [threading.current_thread().name, "second"]
    assert figures.jobs_run == 2
    assert len(scheduler.jobs) == 1  # the one that returned CancelJob is gone
