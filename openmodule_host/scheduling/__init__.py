"""Periodic work on each plugin's worker: ``core.scheduler`` (the ``schedule`` library's API) and the
host's scheduler thread that queues due jobs to the plugins' mailboxes."""

from .scheduler import PluginJob, PluginScheduler
from .thread import SchedulerThread

__all__ = ["PluginJob", "PluginScheduler", "SchedulerThread"]
