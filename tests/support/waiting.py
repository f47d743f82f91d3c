import time
from collections.abc import Callable


def eventually(condition: Callable[[], object], timeout: float = 10.0, interval: float = 0.01) -> None:
    """Wait until ``condition()`` is true; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition still false after {timeout} s")
        time.sleep(interval)
