"""The injected fault: ``OMH_FAULT=<fault>@<place>`` in the environment picks one fault and one place.

The faults are the test harness's (:func:`openmodule_host.testing.faults.perform`): ``raise``, ``hang`` (waits
forever), ``exit`` (``os._exit(7)``), ``segfault`` (reads address 0), ``memory`` (grows by 200 MB in 1 MB steps,
once, then goes on), ``spin`` (a busy loop that never ends), ``nogil`` (a busy loop in C without the GIL that never
ends), ``flood`` (publishes as fast as it can for 1.5 s, then goes on). Places: ``import``, ``register_handlers``,
``handler``, ``rpc``, ``health``, ``check_access``, ``migration``, ``shutdown``.
"""

from __future__ import annotations

import os
from typing import Any

from openmodule_host.testing.faults import perform

FAULT, _, PLACE = os.environ.get("OMH_FAULT", "none@none").partition("@")


def inject(place: str, core: Any = None) -> None:
    """Do the configured fault if ``place`` is the configured place; otherwise nothing."""
    if place == PLACE:
        perform(FAULT, place, core)
