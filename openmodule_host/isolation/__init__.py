"""Per-plugin isolation: a bounded mailbox and a worker thread each, or a supervised child process."""

from typing import TYPE_CHECKING

from .._lazy import lazy_attributes
from .bounded import CallTimeout, call_bounded, wait_bounded
from .mailbox import Mailbox, Worker
from .turns import CPUTurns

if TYPE_CHECKING:
    from .process import PluginProcess, RestartPolicy
    from .status import STATUS_INTERVAL, ChildReport, ChildStatus

# The child process supervision loads when a plugin runs in a child process (``isolation = "process"``).
__getattr__, __dir__ = lazy_attributes(__name__, {
    "PluginProcess": ".process",
    "RestartPolicy": ".process",
    "STATUS_INTERVAL": ".status",
    "ChildReport": ".status",
    "ChildStatus": ".status",
})
del TYPE_CHECKING, lazy_attributes  # not names of this package

__all__ = [
    "STATUS_INTERVAL", "CPUTurns", "CallTimeout", "ChildReport", "ChildStatus", "Mailbox", "PluginProcess",
    "RestartPolicy", "Worker", "call_bounded", "wait_bounded",
]
