"""Run the real ``openmodule-host`` CLI in a subprocess and watch its output (``HostProcess`` is the public
test helper; ``run_cli`` runs a command to completion)."""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Mapping

from openmodule_host.testing import HostProcess
from openmodule_host.testing.process import cli_path

__all__ = ["HostProcess", "run_cli"]


def run_cli(*args: str, env: Mapping[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    """Run ``openmodule-host ARGS`` to completion; SQLite files go to a private folder, never into the tree."""
    with tempfile.TemporaryDirectory(prefix="omh-data-") as data_dir:
        return subprocess.run(
            [cli_path(), *args], capture_output=True, text=True, timeout=timeout,
            env={**os.environ, "DATABASE_FOLDER": data_dir, **(env or {})},
        )
