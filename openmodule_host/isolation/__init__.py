"""Per-plugin isolation: a bounded mailbox and a worker thread each, or a supervised child process."""

from .bounded import CallTimeout, call_bounded, wait_bounded
from .mailbox import Mailbox, Worker
from .process import PluginProcess, RestartPolicy
from .status import STATUS_INTERVAL, ChildReport, ChildStatus

__all__ = [
    "STATUS_INTERVAL", "CallTimeout", "ChildReport", "ChildStatus", "Mailbox", "PluginProcess",
    "RestartPolicy", "Worker", "call_bounded", "wait_bounded",
]
