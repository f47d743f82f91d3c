"""Plugin code the host waits for at start (an import, a hook) on a daemon thread of its own, with a bound.

A plugin whose import or hook hangs or spins would wedge the host if it ran on the host's main thread: no
``ready``, no pongs, and the signal handlers (which run on the main thread) only between two bytecodes of
the plugin's code. Run here, the host waits at most ``timeout`` and stops waiting at once when a stop is
requested; a call that does not finish is abandoned, and as a daemon thread it cannot keep the process
alive at exit.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import TypeVar

from ..errors import StartInterrupted

__all__ = ["CallTimeout", "call_bounded", "wait_bounded"]

T = TypeVar("T")

#: how often a wait looks at the stop request.
_STOP_POLL = 0.05


class CallTimeout(Exception):
    """The call did not finish within its bound; the message says which call and the bound."""


def wait_bounded(future: Future[T], timeout: float, what: str, stop: threading.Event | None = None) -> T:
    """The future's result, waiting at most ``timeout`` s.

    Raises :class:`CallTimeout` ("<what> did not finish within N s") after ``timeout``, and
    :class:`StartInterrupted` as soon as ``stop`` is set; the call's own exception as it is.
    """
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise CallTimeout(f"{what} did not finish within {timeout:g} s")
        try:
            return future.result(timeout=min(remaining, _STOP_POLL))
        except FutureTimeout:
            if stop is not None and stop.is_set():
                raise StartInterrupted(f"stop requested while waiting for {what}") from None


def call_bounded(call: Callable[[], T], timeout: float, what: str, stop: threading.Event | None = None,
                 *, thread_name: str = "omh-start") -> T:
    """Run ``call`` on a new daemon thread and wait for it as :func:`wait_bounded` does."""
    future: Future[T] = Future()

    def run() -> None:
        future.set_running_or_notify_cancel()
        try:
            result = call()
        except BaseException as error:  # SystemExit in an import too: the waiter re-raises it, this thread ends
            future.set_exception(error)
        else:
            future.set_result(result)

    threading.Thread(target=run, name=thread_name, daemon=True).start()
    return wait_bounded(future, timeout, what, stop)
