"""Per-plugin isolation: a bounded mailbox and a worker thread each."""

from .mailbox import Mailbox, Worker

__all__ = ["Mailbox", "Worker"]
