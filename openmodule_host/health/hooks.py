"""A plugin's ``health(core)`` hook, called on a thread of its own and bounded, and the check that carries
its result in the plugin's pong (see :mod:`.responder`)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from openmodule_hookspecs import HealthCheck, HealthCheckState, HealthResult, health_error

from ..limits import LimitHits, Limits, public_text

__all__ = ["HookHealth", "hook_check"]


class HookHealth:
    """Calls one plugin's ``health`` hook on a thread of its own, never twice at the same time.

    Each call gets a new daemon thread: a hook that hangs or spins forever keeps that thread, but a
    daemon thread is not joined at interpreter exit, so it cannot keep the process alive after the host
    stopped (a ``ThreadPoolExecutor``'s threads are joined at exit).
    """

    def __init__(self, plugin: str, call: Callable[[], Any], *, message_bytes: int = Limits.health_message_bytes,
                 hits: LimitHits | None = None) -> None:
        self._plugin = plugin
        self._call = call
        self._message_bytes = message_bytes
        self._hits = hits
        self._running: Future[Any] | None = None
        self.last: HealthResult | None = None

    def start(self) -> Future[Any] | None:
        """Start a call unless the previous one is still running (then None: the hook hangs)."""
        if self._running is not None and not self._running.done():
            return None
        future: Future[Any] = Future()
        self._running = future
        threading.Thread(target=self._run, args=(future,), name=f"omh-health-{self._plugin}", daemon=True).start()
        return future

    def _run(self, future: Future[Any]) -> None:
        if not future.set_running_or_notify_cancel():
            return
        try:
            value = self._call()
        except BaseException as error:  # SystemExit too: reported as the hook's result, never raised here
            future.set_exception(error)
        else:
            future.set_result(value)

    def finish(self, future: Future[Any] | None, timeout: float) -> HealthResult:
        if future is None:
            result = health_error("the health hook is still running since an earlier ping")
        else:
            try:
                value = future.result(timeout=max(0.0, timeout))
            except FutureTimeout:
                result = health_error(f"the health hook did not return within {timeout:.1f} s")
            except BaseException as error:  # (a hook's SystemExit must not end the health thread)
                result = health_error(f"the health hook raised {type(error).__name__}: {error}")
            else:
                result = _as_result(value)
        if result.message is not None:
            result = result._replace(message=public_text(str(result.message), self._message_bytes, self._hits,
                                                         "health_message"))
        self.last = result
        return result


def _as_result(value: Any) -> HealthResult:
    if value is None:
        return HealthResult("ok")
    if isinstance(value, HealthResult):
        return value
    if isinstance(value, tuple) and value and value[0] in ("ok", "error"):
        return HealthResult(*value)
    return health_error(f"the health hook returned {value!r}, expected health_ok() or health_error(...)")


def hook_check(package: str, result: HealthResult) -> HealthCheck:
    """The check that carries a plugin's ``health`` hook result in its pong."""
    return HealthCheck(
        id="health", package=package, name="Plugin health", description="the plugin's own health hook",
        state=HealthCheckState.ok if result.ok else HealthCheckState.fail,
        message=None if result.ok else (result.message or "unhealthy"),
    )

