"""SIGTERM and SIGINT stop the process: its stop is called on a thread of its own, never in a signal handler.

A Python signal handler runs in the main thread wherever that thread happens to be, also inside
``threading.Event.wait`` while it holds the event's internal lock: a handler that then sets that event (as
``Host.request_stop`` does) waits for a lock its own thread holds, for ever, and the SIGTERM is lost (the
``signal`` module's documentation warns against locks in handlers). Here the signal's number goes through
:func:`signal.set_wakeup_fd` (written by the interpreter's C-level handler, no lock taken) to the
``omh-signals`` thread, which logs it and calls ``stop``; the Python-level handler does nothing.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Callable
from types import FrameType

__all__ = ["STOP_SIGNALS", "stop_on_signals"]

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def stop_on_signals(stop: Callable[[], None], log: logging.Logger | None) -> None:
    """From now on, SIGTERM and SIGINT call ``stop`` on the ``omh-signals`` thread (after logging ``received
    SIGTERM, stopping`` to ``log``, if given). Once per process, from its main thread: a process has one
    wakeup file."""
    read_fd, write_fd = os.pipe()
    os.set_blocking(write_fd, False)  # (required: the C handler must never block)
    for signum in STOP_SIGNALS:
        signal.signal(signum, _noted)
    signal.set_wakeup_fd(write_fd, warn_on_full_buffer=False)
    threading.Thread(target=_relay, args=(read_fd, stop, log), name="omh-signals", daemon=True).start()


def _noted(_signum: int, _frame: FrameType | None) -> None:
    """Nothing to do: the signal's number is on its way to :func:`_relay` through the wakeup file."""


def _relay(read_fd: int, stop: Callable[[], None], log: logging.Logger | None) -> None:
    with open(read_fd, "rb", buffering=0) as wakeups:
        while chunk := wakeups.read(64):
            for signum in chunk:
                if signum in STOP_SIGNALS:
                    if log is not None:
                        log.info("received %s, stopping", signal.Signals(signum).name)
                    try:
                        stop()
                    except Exception:  # the thread must live on: the next signal asks again
                        logging.getLogger("openmodule_host").exception("stopping on a signal failed")
