"""The pluggy markers of the openmodule plugin contract."""

from typing import Final

import pluggy

__all__ = ["PROJECT_NAME", "hookimpl", "hookspec"]

#: The pluggy project name; hookimpls marked for any other project are ignored by the host.
PROJECT_NAME: Final = "openmodule"

hookspec: Final = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl: Final = pluggy.HookimplMarker(PROJECT_NAME)
