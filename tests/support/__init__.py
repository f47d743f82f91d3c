"""Helpers shared by the project's own tests (not part of the public test harness)."""

from .processes import HostProcess, run_cli

__all__ = ["HostProcess", "run_cli"]
