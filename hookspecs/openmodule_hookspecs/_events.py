"""EventListener: a list of callbacks that are all called, whatever one of them raises."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

__all__ = ["EventListener"]

_log = logging.getLogger("openmodule_hookspecs.events")


class EventListener(list[Callable[..., Any]]):
    """Call every registered callback in order; an exception is logged and the next one still runs.

    ``raise_exceptions=True`` re-raises the first exception instead (useful in tests).
    """

    def __init__(
        self,
        *callbacks: Callable[..., Any],
        log: logging.Logger | None = None,
        raise_exceptions: bool = False,
    ) -> None:
        super().__init__(callbacks)
        self.log = log or _log
        self.raise_exceptions = raise_exceptions

    def __call__(self, *args: Any, **kwargs: Any) -> None:
        # Iterate over a copy: a callback may add or remove callbacks while we call them.
        for callback in tuple(self):
            try:
                callback(*args, **kwargs)
            except Exception:
                if self.raise_exceptions:
                    raise
                self.log.exception("event callback %r raised", callback)
