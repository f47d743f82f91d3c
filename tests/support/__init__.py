"""Helpers shared by the project's own tests (not part of the public test harness)."""

from .processes import HostProcess, run_cli
from .waiting import eventually

__all__ = ["HostProcess", "eventually", "run_cli"]
