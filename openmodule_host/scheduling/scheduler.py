"""``core.scheduler``: the ``schedule`` library's API, with each job run on its plugin's worker.

A plugin schedules work as openmodule services do in their ``main()`` loop
(``core.scheduler.every(5).seconds.do(fn)``, ``.every().day.at("02:00")``), but nobody calls
``run_pending()``: the host's scheduler thread (:mod:`.thread`) finds the due jobs and queues each run to
the plugin's mailbox, so it runs on the plugin's worker between its messages, never on a host thread.

What differs from a bare ``schedule.Scheduler`` and why:

- a job's next run is computed when its run is *queued* (on the host's thread), not after it ends: a job
  that runs every 5 s starts every 5 s, whatever it takes (openmodule's loop would drift by the job's time);
- a job still queued or running when it is due again is not queued a second time: that run is skipped and
  counted (``jobs_skipped``), so a slow job never piles up in the mailbox;
- a job that raises is logged (throttled, one line per job per 5 s) and counted (``jobs_failed``), and keeps
  its schedule, as a raising message handler does;
- ``.at("02:00")`` without a time zone means the plugin's ``TIMEZONE`` (the garage's local time), not the
  host machine's;
- an interval must be a positive number (``every(0)`` would make ``schedule`` loop forever);
- once the plugin stops, its jobs are cleared and ``do()`` raises.

Thread safety: the plugin's code (on its worker) adds, cancels and clears jobs while the host's thread reads
and reschedules them; both hold the scheduler's lock for that, never while a job runs.
"""

from __future__ import annotations

import datetime
import logging
import math
import threading
from collections.abc import Callable, Hashable
from typing import Any, Protocol
from zoneinfo import ZoneInfo

import schedule

from ..isolation import Mailbox
from ..registration import check_callable
from ..stats import PluginStats
from ..throttle import KeyedLogThrottle

__all__ = ["JobDriver", "PluginJob", "PluginScheduler"]


class JobDriver(Protocol):
    """What drives the plugins' schedulers (the host's :class:`~.thread.SchedulerThread`): the thread module
    builds on this one, not the other way round."""

    def add(self, scheduler: PluginScheduler) -> None: ...

    def remove(self, scheduler: PluginScheduler) -> None: ...

    def wake(self) -> None: ...


class PluginJob(schedule.Job):
    """A ``schedule.Job`` of one plugin (see :class:`PluginScheduler`)."""

    scheduler: PluginScheduler

    def __init__(self, interval: float, scheduler: PluginScheduler) -> None:
        super().__init__(interval, scheduler)  # type: ignore[arg-type]  # schedule annotates interval as int
        #: a run is in the plugin's mailbox or running (written under the scheduler's lock, cleared by the worker).
        self.queued = False
        #: cancelled (by the plugin, or by returning ``CancelJob``): a run still queued is not started.
        self.cancelled = False

    def at(self, time_str: str, tz: Any = None) -> PluginJob:
        """As ``schedule.Job.at``; ``tz`` defaults to the plugin's ``TIMEZONE``, and may also be a ``ZoneInfo``."""
        if tz is None:
            tz = self.scheduler.timezone
        elif isinstance(tz, ZoneInfo):
            tz = tz.key
        super().at(time_str, tz)
        return self

    def do(self, job_func: Callable[..., Any], *args: Any, **kwargs: Any) -> PluginJob:
        """As ``schedule.Job.do``: the job is scheduled, and the host's scheduler thread learns of it at once."""
        scheduler = self.scheduler
        check_callable(scheduler.plugin, "a job", job_func, "job(*args, **kwargs)", args, kwargs)
        with scheduler.lock:
            if scheduler.closed:
                raise RuntimeError(f"plugin {scheduler.plugin} is stopped: no job can be scheduled")
            super().do(job_func, *args, **kwargs)
        scheduler.changed()
        return self

    @property
    def name(self) -> str:
        """What log lines call the job: its function's name."""
        return getattr(self.job_func, "__name__", None) or repr(self.job_func)


class PluginScheduler(schedule.Scheduler):
    """One plugin's ``core.scheduler``; its jobs are driven by the host's :class:`SchedulerThread`."""

    def __init__(
        self,
        plugin: str,
        timezone: str,
        mailbox: Mailbox,
        stats: PluginStats,
        log: logging.Logger,
        *,
        throttle: KeyedLogThrottle | None = None,
        thread: JobDriver | None = None,
    ) -> None:
        super().__init__()
        self.jobs: list[PluginJob] = []  # type: ignore[assignment]  # schedule declares list[Job]; ours are PluginJobs
        self.plugin = plugin
        #: where ``.at()`` times are unless a job names another zone (an IANA name, e.g. "Europe/Vienna").
        self.timezone = timezone
        self.lock = threading.RLock()
        self.closed = False
        self._mailbox = mailbox
        self._stats = stats
        self._log = log
        self._throttle = throttle if throttle is not None else KeyedLogThrottle()
        self._thread = thread
        if thread is not None:
            thread.add(self)

    # -- the schedule API, made safe against the host's thread ---------------------------------------

    def every(self, interval: float = 1) -> PluginJob:
        if isinstance(interval, bool) or not isinstance(interval, int | float) or not (
                math.isfinite(interval) and interval > 0):
            raise schedule.ScheduleValueError(f"the interval must be a positive number, got {interval!r}")
        return PluginJob(interval, self)

    def cancel_job(self, job: schedule.Job) -> None:
        with self.lock:
            if isinstance(job, PluginJob):
                job.cancelled = True
            super().cancel_job(job)

    def clear(self, tag: Hashable | None = None) -> None:
        with self.lock:
            for job in self.get_jobs(tag):
                job.cancelled = True
            super().clear(tag)

    # (schedule's get_jobs is typed list[Job]; every job of this scheduler is a PluginJob, see ``every``.)
    def get_jobs(self, tag: Hashable | None = None) -> list[PluginJob]:  # type: ignore[override]
        with self.lock:
            return super().get_jobs(tag)  # type: ignore[return-value]

    def _run_job(self, job: schedule.Job) -> None:
        """``run_pending()`` and ``run_all()`` run the job on the calling thread (in a plugin: its worker)."""
        assert isinstance(job, PluginJob)
        with self.lock:
            if not self._advance(job, datetime.datetime.now()):
                return
        self._execute(job)

    # -- the host's side -----------------------------------------------------------------------------

    def changed(self) -> None:
        """A job was added: the host's thread looks again at when to wake up."""
        if self._thread is not None:
            self._thread.wake()

    def queue_due(self, now: datetime.datetime) -> datetime.datetime | None:
        """On the host's scheduler thread: queue each job due at ``now`` to the plugin's mailbox (or count it
        skipped, while its last run is still queued or running); returns the soonest next run, if any."""
        with self.lock:
            if self.closed:
                return None
            for job in [job for job in self.jobs if job.next_run is not None and job.next_run <= now]:
                try:
                    due = self._advance(job, now)
                except Exception:  # its next run cannot be computed (a job the plugin changed by hand)
                    self.cancel_job(job)
                    self._log.exception("plugin %s: job %s cancelled: its next run could not be computed",
                                        self.plugin, job.name)
                    continue
                if not due:
                    continue
                if job.queued:
                    self._stats.jobs_skipped += 1
                    self._throttle.log(self._log, logging.WARNING, (self.plugin, "job", job.name, "skipped"),
                                       "plugin %s: job %s is still queued or running at its next run time: that "
                                       "run is skipped", self.plugin, job.name)
                    continue
                job.queued = True
                if not self._mailbox.offer((self._run_queued, job), force=True):
                    job.queued = False  # the mailbox is closed: the plugin stops
            runs = [job.next_run for job in self.jobs if job.next_run is not None]
        return min(runs, default=None)

    def close(self) -> None:
        """The plugin stops: clear its jobs (a run already queued is not started) and leave the host's thread."""
        with self.lock:
            self.closed = True
            self.clear()
        if self._thread is not None:
            self._thread.remove(self)

    def _advance(self, job: PluginJob, now: datetime.datetime) -> bool:
        """Under the lock: whether ``job`` runs now; its next run is set, and a job past its ``until`` leaves
        the schedule (after this last run, when its next run would be past it), as ``schedule`` does."""
        if job._is_overdue(now):
            self.cancel_job(job)
            return False
        job._schedule_next_run()
        if job.next_run is not None and job._is_overdue(job.next_run):
            super().cancel_job(job)  # off the schedule, but not "cancelled": this last run still happens
        return True

    def _run_queued(self, job: PluginJob) -> None:
        """On the plugin's worker: a run the host queued."""
        try:
            if not job.cancelled:
                self._execute(job)
        finally:
            job.queued = False

    def _execute(self, job: PluginJob) -> None:
        """Run the job's function on this thread; count it; log (throttled) and count what it raises."""
        assert job.job_func is not None
        try:
            result = job.job_func()
        except Exception:
            self._stats.jobs_failed += 1
            self._throttle.log(self._log, logging.ERROR, (self.plugin, "job", job.name, "raised"),
                               "plugin %s: scheduled job %s raised", self.plugin, job.name, exc_info=True)
        else:
            if result is schedule.CancelJob or isinstance(result, schedule.CancelJob):
                self.cancel_job(job)
        finally:
            job.last_run = datetime.datetime.now()
            self._stats.jobs_run += 1
