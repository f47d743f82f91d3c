"""Running a listener's callbacks for one message, each whatever the others do."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

__all__ = ["run_all"]

T = TypeVar("T")


def run_all(callbacks: Sequence[Callable[[T], Any]], argument: T) -> None:
    """Call each callback with ``argument``; then raise the first error any of them raised.

    openmodule's listeners log each raising callback and go on. Raised again here, the error reaches the
    plugin's handler, so the host counts it (``handler_errors``) and logs it throttled: a buggy callback on a
    busy topic costs a few log lines, not one traceback per message.
    """
    first: Exception | None = None
    for callback in callbacks:
        try:
            callback(argument)
        except Exception as error:
            if first is None:
                first = error
    if first is not None:
        raise first
