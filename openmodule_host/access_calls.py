"""Calling a plugin's access hooks and reading what they return, in either protocol's model."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from openmodule_hookspecs import AccessCheckResponse, AccessRequest, AccessResponse, MediumAccesses

if TYPE_CHECKING:
    from .plugin import HostedPlugin

__all__ = ["HookRaised", "access_response", "backend_response", "call_access_hook"]


class HookRaised(Exception):
    """An access hook raised: answered ``success: false`` (already logged and counted)."""


def access_response(result: Any) -> AccessCheckResponse:
    """What ``check_access`` returned, as the response: an ``AccessCheckResponse`` (or its dict) as it is, a
    list of accesses (``AccessCheckAccess`` or dicts) as a successful answer, ``None`` as no accesses."""
    if result is None:
        return AccessCheckResponse(success=True, accesses=[])
    if isinstance(result, AccessCheckResponse):
        return result
    if isinstance(result, dict):
        return AccessCheckResponse.model_validate(result)
    if isinstance(result, Sequence) and not isinstance(result, str | bytes):
        return AccessCheckResponse(success=True, accesses=list(result))
    raise TypeError(
        "check_access must return an AccessCheckResponse, a list of AccessCheckAccess or None, "
        f"not {type(result).__name__}"
    )


def call_access_hook(plugin: HostedPlugin, hook: str, request: Any, where: tuple[str, str], about: str) -> Any:
    """Call an access hook on the plugin's worker; its exception is logged (throttled), counted and raised
    as :class:`HookRaised`."""
    assert plugin.manager is not None and plugin.core is not None
    try:
        return getattr(plugin.manager.hook, hook)(core=plugin.core, request=request)
    except Exception as error:
        # openmodule's Backend answered a failing check with success=false; so does the host.
        plugin.stats.handler_errors += 1
        log = plugin.core.log
        plugin.log_throttle.log(log, logging.ERROR, (plugin.name, *where, f"{hook} raised"),
                                "%s raised (%s): answering success=false", hook, about, exc_info=True)
        raise HookRaised from error


def backend_response(result: Any, request: AccessRequest) -> AccessResponse:
    """What ``check_backend_access`` returned, as the answer to ``request``: an ``AccessResponse`` (or its dict)
    as it is, a list of V2 ``Access`` (or dicts) as a successful answer for the request's medium, ``None`` as
    no accesses."""
    if isinstance(result, AccessResponse):
        return result
    if isinstance(result, dict):
        return AccessResponse.model_validate(result)
    if result is None:
        result = []
    if isinstance(result, Sequence) and not isinstance(result, str | bytes):
        return AccessResponse(success=True, medium=MediumAccesses(
            accesses=list(result), medium_id=request.medium_id, medium_type=request.medium_type))
    raise TypeError(
        f"check_backend_access must return an AccessResponse, a list of Access or None, not {type(result).__name__}"
    )
