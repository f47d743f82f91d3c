"""The rule for a plugin's NAME: one safe path component, since it becomes a file name, a schema and a role.

openmodule's service names look like ``service_abc`` or ``om_backend_x_1``. A NAME is 1 to 63 characters
of ASCII letters, digits, ``_``, ``.`` and ``-``, starting with a letter or a digit: never ``.`` or ``..``,
never a ``/``, a NUL byte or anything a file system, a shell or PostgreSQL would read specially.
"""

from __future__ import annotations

import re

__all__ = ["NAME_PATTERN", "check_name"]

NAME_PATTERN = "[A-Za-z0-9][A-Za-z0-9_.-]{0,62}"
_NAME = re.compile(NAME_PATTERN, re.ASCII)


def check_name(name: object) -> str:
    """``name`` if it follows the rule; raises :class:`ValueError` stating the rule."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ValueError(f"a NAME must be 1 to 63 letters, digits, '_', '.' or '-', starting with a letter or a "
                         f"digit ({NAME_PATTERN})")
    return name
