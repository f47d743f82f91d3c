"""Helpers shared by the project's own tests (not part of the public test harness).

The process helpers load on first use: ``python -m tests.support.modules_at_ready`` imports this package, and
must not load the test harness (SQLAlchemy, sentry-sdk) before the host it measures.
"""

from typing import TYPE_CHECKING, Any

from .waiting import eventually

if TYPE_CHECKING:
    from .processes import HostProcess, run_cli

__all__ = ["HostProcess", "eventually", "run_cli"]


def __getattr__(name: str) -> Any:
    if name in ("HostProcess", "run_cli"):
        from . import processes

        return getattr(processes, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
