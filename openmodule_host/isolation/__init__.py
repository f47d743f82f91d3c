"""Per-plugin isolation: a bounded mailbox and a worker thread each, or a supervised child process."""

from .mailbox import Mailbox, Worker
from .process import ChildState, PluginProcess, RestartPolicy

__all__ = ["ChildState", "Mailbox", "PluginProcess", "RestartPolicy", "Worker"]
