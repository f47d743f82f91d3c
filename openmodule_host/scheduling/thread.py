"""The host's scheduler thread (``omh-scheduler``): queues every plugin's due jobs to its mailbox.

One thread for all plugins. It sleeps until the soonest next run of any plugin's jobs (at most
``period`` seconds, so that it beats its heartbeat for the watchdog), is woken early when a plugin adds a
job, and then asks each plugin's :class:`PluginScheduler` to queue what is due. It never runs plugin
code: the jobs run on their plugins' workers. Whatever one plugin's scheduler raises is caught, counted
and logged (see :class:`~openmodule_host.watchdog.Heartbeat`); the others go on.
"""

from __future__ import annotations

import datetime
import logging
import threading

from ..watchdog import Heartbeat
from .scheduler import PluginScheduler

__all__ = ["SchedulerThread"]


class SchedulerThread:
    """Drives the plugins' schedulers from one thread of the host's own (see the module)."""

    def __init__(self, log: logging.Logger, period: float = 1.0) -> None:
        self._period = period
        self._log = log
        #: beaten every round; counts what a round caught.
        self.heartbeat = Heartbeat("scheduler", period, log)
        self._schedulers: tuple[PluginScheduler, ...] = ()  # replaced, never changed in place: read without a lock
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = self._new_thread()

    def _new_thread(self) -> threading.Thread:
        return threading.Thread(target=self._run, name="omh-scheduler", daemon=True)

    @property
    def thread(self) -> threading.Thread | None:
        """The thread while it is meant to run (None before start and once stopped)."""
        return None if self._stop.is_set() or self._thread.ident is None else self._thread

    def add(self, scheduler: PluginScheduler) -> None:
        with self._lock:
            self._schedulers = (*self._schedulers, scheduler)
        self.wake()

    def remove(self, scheduler: PluginScheduler) -> None:
        with self._lock:
            self._schedulers = tuple(other for other in self._schedulers if other is not scheduler)

    def wake(self) -> None:
        """Look at the jobs again now (one was added)."""
        self._wake.set()

    def start(self) -> None:
        self._thread.start()

    def restart(self) -> None:
        """A new thread in place of one that ended (it holds nothing but this object)."""
        if not self._thread.is_alive() and not self._stop.is_set():
            self._thread = self._new_thread()
            self._thread.start()

    def stop(self, timeout: float = 2.0) -> bool:
        """No job is queued any more; returns whether the thread ended within ``timeout``."""
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout)
        return not self._thread.is_alive()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.heartbeat.beat()
            self._wake.clear()  # before the round: a job added during it wakes the wait below at once
            now = datetime.datetime.now()  # naive local time, as ``schedule`` keeps its next runs
            wait = self._period
            for scheduler in self._schedulers:
                try:
                    soonest = scheduler.queue_due(now)
                except Exception as error:
                    self.heartbeat.failed(f"plugin {scheduler.plugin}'s jobs", error)
                    continue
                if soonest is not None:
                    wait = min(wait, (soonest - now).total_seconds())
            self._wake.wait(max(wait, 0.0))
