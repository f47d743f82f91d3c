"""Porting an openmodule service's database folder: only its import lines change.

``IMPORT_LINES`` is the porting table (openmodule's import -> this project's); :func:`port_database_folder`
copies a folder and applies it, returning every line it changed, so a test can show that nothing else did.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from openmodule_hookspecs import hookimpl

__all__ = ["IMPORT_LINES", "OPENMODULE_SERVICE", "ServicePlugin", "port_database_folder"]

OPENMODULE_SERVICE = Path(__file__).parent / "fixtures" / "openmodule_service"

IMPORT_LINES = {
    "from openmodule.database.custom_types import ": "from openmodule_host.database.custom_types import ",
    "from openmodule.database.migration import run_env_py": "from openmodule_host.database import run_env_py",
    "from openmodule.utils.db_helper import ": "from openmodule_host.database import ",
}


def port_database_folder(source: Path, target: Path) -> list[tuple[str, str]]:
    """Copy ``source`` to ``target`` with openmodule's import lines replaced; returns (old, new) lines."""
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__", "*.sqlite3*"))
    changed = []
    for path in sorted(target.rglob("*.py")):
        lines = path.read_text().splitlines(keepends=True)
        for index, line in enumerate(lines):
            for old, new in IMPORT_LINES.items():
                if line.startswith(old):
                    lines[index] = new + line[len(old):]
                    changed.append((line.rstrip("\n"), lines[index].rstrip("\n")))
        path.write_text("".join(lines))
    return changed


class ServicePlugin:
    """A plugin whose migrations are a (ported) openmodule database folder; ``core`` once it runs."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.core: Any = None

    @hookimpl
    def database_migrations(self) -> Path:
        return self.folder

    @hookimpl
    def register_handlers(self, core: Any) -> None:
        self.core = core
