"""Checks a plugin's registrations share: each mistake is one :class:`RegistrationError` naming the plugin."""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

from openmodule_hookspecs import RegistrationError

__all__ = ["check_callable", "check_name"]


def check_name(plugin: str, what: str, value: object) -> None:
    """``value`` (a topic, channel or type) is a non-empty string."""
    if not isinstance(value, str) or not value:
        raise RegistrationError(plugin, f"{what} must be a non-empty string, got {value!r}")


def check_callable(plugin: str, what: str, function: object, called: str, args: tuple[Any, ...] = (),
                   kwargs: Mapping[str, Any] | None = None) -> None:
    """``function`` is callable and takes ``args`` and ``kwargs`` (stand-ins for what it will be called with,
    which ``called`` describes): a handler with the wrong parameters fails at registration, not at each call.
    A callable whose signature Python cannot read (some built-ins) is taken as it is."""
    if not callable(function):
        raise RegistrationError(plugin, f"{what} must be callable, got {function!r}")
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):
        return
    try:
        signature.bind(*args, **(kwargs or {}))
    except TypeError as error:
        name = getattr(function, "__qualname__", None) or repr(function)
        parameters = signature.replace(return_annotation=inspect.Signature.empty)
        raise RegistrationError(plugin, f"{what} {name}{parameters} cannot be called as {called}: {error}") from None
