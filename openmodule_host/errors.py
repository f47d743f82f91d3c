"""Errors a user of openmodule-host can hit, each with a message that says what to do.

    HostError
     +-- ConfigError           bad config file, table or value
     +-- UnknownPluginError    a selected plugin is not installed
     +-- PluginLoadError       a plugin failed to import, validate or start (strict mode)
     +-- BrokerAddressInUse    the embedded broker cannot bind its address
     +-- BrokerUnreachable     the connection check did not come back in time
     +-- StartInterrupted      a stop was requested while the host was starting
"""

from __future__ import annotations

__all__ = [
    "BrokerAddressInUse",
    "BrokerUnreachable",
    "ConfigError",
    "HostError",
    "PluginLoadError",
    "StartInterrupted",
    "UnknownPluginError",
]


class HostError(Exception):
    """Base of every error the host reports to its user."""


class ConfigError(HostError):
    """The configuration is invalid; the message names the file, table and key."""


class UnknownPluginError(HostError):
    """Plugins were selected that are not installed."""

    def __init__(self, unknown: list[str], installed: list[str]) -> None:
        self.unknown = unknown
        self.installed = installed
        import difflib  # here: only this error's message needs it

        listing = ", ".join(installed) if installed else "(none)"
        guesses = [f"{name!r}: did you mean {close[0]!r}?" for name in unknown
                   if (close := difflib.get_close_matches(name, installed, n=1))]
        super().__init__(
            f"unknown plugin(s): {', '.join(unknown)}{'; ' if guesses else ''}{'; '.join(guesses)}; "
            f"installed plugins: {listing} "
            f"(entry point group 'openmodule.plugins')"
        )


class PluginLoadError(HostError):
    """A plugin could not be loaded or started."""

    def __init__(self, plugin: str, reason: str) -> None:
        self.plugin = plugin
        self.reason = reason
        super().__init__(f"plugin {plugin!r} failed: {reason}")


class BrokerAddressInUse(HostError):
    """The embedded broker could not bind because something already listens there."""

    def __init__(self, address: str, error: str) -> None:
        self.address = address
        #: the operating system's reason (e.g. "Address already in use").
        self.error = error
        super().__init__(
            f"cannot bind the embedded broker on {address}: {error}. A broker (or another host) already "
            f"runs there: use `--broker external` to join it, or choose other addresses with "
            f"--broker-sub/--broker-pub"
        )


class BrokerUnreachable(HostError):
    """The host's own connection check message did not come back through the broker."""


class StartInterrupted(HostError):
    """A stop was requested (SIGTERM, SIGINT, ``Host.request_stop``) while the host was starting.

    ``Host.start`` handles it itself: it stops what it started and returns, not ready.
    """
