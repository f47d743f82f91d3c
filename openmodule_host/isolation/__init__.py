"""Per-plugin isolation: a bounded mailbox and a worker thread each, or a supervised child process."""

from .mailbox import Mailbox, Worker
from .process import ChildState, PluginProcess, RestartPolicy
from .status import STATUS_INTERVAL, ChildReport, ChildStatus

__all__ = ["STATUS_INTERVAL", "ChildReport", "ChildState", "ChildStatus", "Mailbox", "PluginProcess", "RestartPolicy",
           "Worker"]
