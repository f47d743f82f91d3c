"""Gives the heap memory that start-up freed back to the operating system.

Start-up builds and drops a lot of short-lived objects (pydantic schemas, the plugins' imports); glibc's
``malloc`` keeps the freed pages, so they stay in the process's RSS. ``malloc_trim(0)`` once the host is
ready returns them: about 0.6 MiB of a host with one plugin (bench: ``python -m bench footprint``). Where
the C library is not glibc, nothing happens.
"""

from __future__ import annotations

import sys

__all__ = ["release_free_memory"]


def release_free_memory() -> bool:
    """Return freed heap pages to the OS (glibc); True when it was done."""
    if not sys.platform.startswith("linux"):
        return False
    import ctypes  # here: ctypes itself costs memory, and only this needs it

    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):  # not glibc (musl has no malloc_trim)
        return False
    trim(0)
    return True
