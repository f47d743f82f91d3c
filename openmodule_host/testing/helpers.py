"""Small helpers for plugin tests, after openmodule-test's: a mock to wait on, a gate that counts its
decisions, and waiting for a value."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any
from unittest.mock import Mock

from .client import TestClient

__all__ = ["MockEvent", "TestGate", "wait_for_value"]


class MockEvent(Mock):
    """A ``Mock`` (e.g. a handler or a callback) that a test can wait on until it was called often enough.

    Reset it (``reset_mock()``) before the action whose calls you wait for: calls made earlier count too.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.__dict__["_called"] = threading.Condition()

    def _mock_call(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super()._mock_call(*args, **kwargs)
        finally:
            with self._called:
                self._called.notify_all()

    def wait_for_call(self, timeout: float = 3.0, minimum_call_count: int = 1) -> None:
        """Return once called at least ``minimum_call_count`` times; ``AssertionError`` after ``timeout``."""
        with self._called:
            if not self._called.wait_for(lambda: self.call_count >= minimum_call_count, timeout):
                raise AssertionError(f"called {self.call_count} time(s) within {timeout} s, "
                                     f"expected at least {minimum_call_count}")


class TestGate:
    """A gate that sees the ``access_accept`` / ``access_reject`` messages for it (``gateway.gate``, and the
    direction when given), as openmodule-test's ``TestGate``."""

    __test__ = False  # not a pytest test class

    def __init__(self, client: TestClient, gate: str, direction: str | None = None) -> None:
        self.client, self.gate, self.direction = client, gate, direction
        client.subscribe("access_accept", "access_reject")

    def _mine(self, body: dict[str, Any]) -> bool:
        gateway = body.get("gateway") or {}
        return gateway.get("gate") == self.gate and self.direction in (None, gateway.get("direction"))

    def wait_for_open(self, timeout: float = 3.0) -> dict[str, Any]:
        """The next ``access_accept`` for this gate."""
        return self.client.wait_for_message("access_accept", self._mine, timeout)

    def wait_for_reject(self, timeout: float = 3.0) -> dict[str, Any]:
        """The next ``access_reject`` for this gate."""
        return self.client.wait_for_message("access_reject", self._mine, timeout)

    def assert_not_opened(self, timeout: float = 0.5) -> None:
        self.client.assert_no_message("access_accept", self._mine, timeout)

    def assert_not_rejected(self, timeout: float = 0.5) -> None:
        self.client.assert_no_message("access_reject", self._mine, timeout)


def wait_for_value(getter: Callable[[], Any], target: Any, invert_target: bool = False, timeout: float = 3.0) -> Any:
    """Poll ``getter()`` until it equals ``target`` (differs from it with ``invert_target``); returns the value,
    ``AssertionError`` with the last value after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = getter()
        if (value == target) != invert_target:
            return value
        if time.monotonic() > deadline:
            relation = "!=" if invert_target else "=="
            raise AssertionError(f"value {value!r} still not {relation} {target!r} after {timeout} s")
        time.sleep(0.01)
