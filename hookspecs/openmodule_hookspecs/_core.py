"""The core a plugin is handed: the typed surface plugins annotate against.

The host builds one core per plugin (there is no process-global ``core()``); everything a plugin uses
comes through it. These are ``Protocol`` classes so that plugin code type-checks against the contract
package alone, without importing the host.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Protocol, TypeVar, runtime_checkable

from ._models import ZMQMessage

__all__ = ["MessageFilter", "Messages", "PluginConfig", "PluginCore", "Subscription"]

M = TypeVar("M", bound=ZMQMessage)

#: A message filter sees the raw decoded body (a dict) before validation and returns whether to deliver.
MessageFilter = Callable[[dict[str, Any]], bool]


@runtime_checkable
class Subscription(Protocol):
    """What ``register_handler`` returns; hand it to ``unregister_handler`` to stop receiving."""

    topic: str


class Messages(Protocol):
    """Message dispatch for one plugin (openmodule's ``core.messages``)."""

    def register_handler(
        self,
        topic: str,
        message_class: type[M],
        handler: Callable[[M], Any],
        *,
        filter_: MessageFilter | None = None,
        match_type: bool = True,
    ) -> Subscription:
        """Call ``handler`` with each message on ``topic`` (exact match) that passes the type match
        (``message_class``'s default ``type``; skipped with ``match_type=False``) and ``filter_``.

        Handlers run in the plugin's own worker, in arrival order.
        """
        ...

    def unregister_handler(self, subscription: Subscription) -> None:
        """Stop delivering to a handler; the topic is unsubscribed when no handler needs it."""
        ...


class PluginConfig(Protocol):
    """A plugin's configuration: openmodule's standard names plus the plugin's own settings.

    Settings from the plugin's ``[plugins.<name>]`` table are readable as attributes
    (``core.config.greeting``) and as the mapping :attr:`settings`.
    """

    NAME: str
    VERSION: str
    RESOURCE: str
    DEBUG: bool
    TESTING: bool
    LOG_LEVEL: str
    COMPUTE_ID: int

    @property
    def settings(self) -> Any: ...

    def __getattr__(self, name: str) -> Any: ...


class PluginCore(Protocol):
    """Everything the host gives one plugin."""

    @property
    def name(self) -> str:
        """The plugin's service NAME on the wire (the entry point name unless configured)."""
        ...

    @property
    def config(self) -> PluginConfig: ...

    @property
    def log(self) -> logging.Logger:
        """A logger named after the plugin."""
        ...

    @property
    def messages(self) -> Messages: ...

    def publish(self, message: ZMQMessage, topic: str) -> None:
        """Send ``message`` on ``topic`` with ``name`` set to this plugin's NAME. Safe from any thread."""
        ...
