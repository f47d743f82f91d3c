"""The one exception a plugin gets for registering something wrongly."""

from __future__ import annotations

__all__ = ["RegistrationError"]


class RegistrationError(ValueError, TypeError):
    """A plugin registered a handler, RPC, filter or job wrongly: a bad topic, channel or class, a handler that
    is not callable or cannot take the arguments it will be called with, a (channel, type) served twice, a
    subscription that is not registered.

    Raised at once by the registering call, before anything is registered. ``plugin`` names the plugin and
    ``reason`` says what is wrong; the message is ``plugin '<plugin>': <reason>``. It is a ``ValueError`` and a
    ``TypeError`` both, so code that caught either before keeps working.
    """

    def __init__(self, plugin: str, reason: str) -> None:
        super().__init__(f"plugin {plugin!r}: {reason}")
        self.plugin = plugin
        self.reason = reason

    def __reduce__(self) -> tuple[type[RegistrationError], tuple[str, str]]:
        return type(self), (self.plugin, self.reason)
