"""openmodule's ``utils/misc_functions.py``: naive UTC now, and a service name without its decorations."""

from __future__ import annotations

import re

from openmodule_hookspecs import utcnow

__all__ = ["clean_service_name", "utcnow"]

_PREFIX = re.compile(r"^om_")
_INSTANCE = re.compile(r"_\d+$")


def clean_service_name(name: str) -> str:
    """``name`` without the ``om_`` prefix and the ``_N`` instance suffix: ``om_service_shop_1`` ->
    ``service_shop`` (the ``source`` of cost entries, sentry's release name)."""
    return _INSTANCE.sub("", _PREFIX.sub("", name))
