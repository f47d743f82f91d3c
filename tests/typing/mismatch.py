"""A part that drifts from its Protocol: proves the check in ``tests/test_typing.py`` can fail.

Each line marked ``# drift`` must be reported by mypy, and nothing else in this file.
"""

from __future__ import annotations

from typing import Any

from openmodule_hookspecs import Messages, Subscription


class NarrowedParameter:
    """``unregister_handler`` takes less than the Protocol's (only the host's own kind of subscription)."""

    def register_handler(self, topic: str, message_class: type[Any], handler: Any, *, filter_: Any = None,
                         match_type: bool = True, filter: Any = None) -> Subscription:
        raise NotImplementedError

    def unregister_handler(self, subscription: int) -> None:
        raise NotImplementedError


def drifted(messages: NarrowedParameter) -> Messages:
    return messages  # drift
