"""Alembic migrations of one plugin: upgrade (in a child process, with a timeout), current, history.

A plugin ships only its revision files (the ``database_migrations`` hook returns their folder); the
host supplies the environment (``alembic_env/``). The hook may also return an openmodule service's
database folder as it is (``alembic.ini``, ``alembic/env.py``, ``alembic/versions/``): its revisions run,
its ``env.py`` and ``alembic.ini`` do not (see :func:`versions_folder`). ``upgrade`` runs in a child
process, as openmodule does, so a migration that hangs can be killed after the timeout (300 s by default)
without taking the host with it; the child reports the revision it reached, or the one that failed and why.
"""

from __future__ import annotations

import json
import sys
import threading
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import StartInterrupted
from .engines import DatabaseTarget, create_plugin_engine

if TYPE_CHECKING:
    import subprocess

    from alembic.config import Config
    from alembic.script import ScriptDirectory
    from sqlalchemy import Engine

# Alembic is imported where it is used: a host process only reads revisions (``db current``/``history``)
# and runs upgrades in a child process, so the 11 MiB it takes are not paid by every host and plugin process.

__all__ = ["MigrationError", "MigrationResult", "current_revision", "history", "upgrade", "upgrade_in_child",
           "versions_folder"]

ENV_DIR = Path(__file__).with_name("alembic_env")


class MigrationError(Exception):
    """A plugin's migration failed or timed out; the database stays at ``revision``."""

    def __init__(self, message: str, revision: str | None = None, failed: str | None = None) -> None:
        super().__init__(message)
        self.revision = revision
        self.failed = failed


@dataclass(frozen=True)
class MigrationResult:
    before: str | None
    after: str | None


def versions_folder(folder: Path) -> Path:
    """The folder of revision files that ``folder`` (what ``database_migrations`` returned) holds: itself, or
    in openmodule's layout ``folder/alembic/versions`` (``folder`` has ``alembic.ini``) or ``folder/versions``
    (``folder`` is the one with ``env.py``)."""
    for candidate, marker in ((folder / "alembic" / "versions", folder / "alembic.ini"),
                              (folder / "versions", folder / "env.py")):
        if candidate.is_dir() and marker.is_file():
            return candidate
    return folder


def _config(versions: Path, engine: Engine, target: DatabaseTarget, connection: Any = None) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(ENV_DIR))
    config.set_main_option("version_locations", str(versions_folder(versions)))
    config.set_main_option("path_separator", "os")
    config.attributes["schema"] = target.schema
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def current_revision(engine: Engine, target: DatabaseTarget) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"version_table_schema": target.schema})
        return context.get_current_revision()


def history(versions: Path, engine: Engine, target: DatabaseTarget) -> list[tuple[str, str, bool]]:
    """(revision, description, is current) from the newest to the oldest."""
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(_config(versions, engine, target))
    current = current_revision(engine, target)
    return [(rev.revision, rev.doc or "", rev.revision == current) for rev in script.walk_revisions()]


def upgrade(versions: Path, target: DatabaseTarget) -> MigrationResult:
    """Upgrade to head in this process; raises :class:`MigrationError` naming the failing revision."""
    from alembic import command
    from alembic.script import ScriptDirectory

    from .alembic_ops import sqlite_foreign_keys_off

    engine = create_plugin_engine(target)
    try:
        before = current_revision(engine, target)
        script = ScriptDirectory.from_config(_config(versions, engine, target))
        try:
            with engine.connect() as connection, sqlite_foreign_keys_off(connection):
                command.upgrade(_config(versions, engine, target, connection), "head")
                connection.commit()
        except Exception as error:
            reached = current_revision(engine, target)
            failed = _next_revision(script, reached)
            raise MigrationError(
                f"migration {failed} failed: {type(error).__name__}: {error}; the database stays at {reached}",
                revision=reached, failed=failed,
            ) from error
        return MigrationResult(before, current_revision(engine, target))
    finally:
        engine.dispose()


def _next_revision(script: ScriptDirectory, current: str | None) -> str | None:
    for revision in script.walk_revisions():
        if revision.down_revision == current or (current is None and revision.down_revision is None):
            return revision.revision
    return None


def upgrade_in_child(versions: Path, target: DatabaseTarget, timeout: float,
                     stop: threading.Event | None = None) -> MigrationResult:
    """:func:`upgrade` in a child process, killed after ``timeout`` seconds, or as soon as ``stop`` is set
    (then :class:`StartInterrupted` is raised; the migration's open transaction is rolled back)."""
    import subprocess  # here: a host whose plugins have no migrations never starts a process

    request = {"versions": str(versions), "url": target.url.render_as_string(hide_password=False),
               "schema": target.schema, "role": target.role}
    child = subprocess.Popen([sys.executable, "-m", "openmodule_host.database.migrations"],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + timeout
    pending: str | None = json.dumps(request)
    while True:
        try:
            stdout, stderr = child.communicate(pending, timeout=min(_STOP_POLL, max(deadline - time.monotonic(), 0)))
            break
        except subprocess.TimeoutExpired:
            pending = None  # (communicate sent the input already; it must not be given again)
            if stop is not None and stop.is_set():
                _kill(child)
                raise StartInterrupted("stop requested during database migrations: the migration process was "
                                       "killed") from None
            if time.monotonic() >= deadline:
                _kill(child)
                raise MigrationError(f"migrations did not finish within {timeout:g} s: the migration process was "
                                     f"killed") from None
    result = subprocess.CompletedProcess(child.args, child.returncode, stdout, stderr)
    lines = result.stdout.strip().splitlines()
    try:
        answer = json.loads(lines[-1])
    except (IndexError, json.JSONDecodeError):
        raise MigrationError(f"the migration process failed (exit {result.returncode}): "
                             f"{result.stderr.strip()[-2000:]}") from None
    if not answer["ok"]:
        raise MigrationError(answer["error"], revision=answer.get("revision"), failed=answer.get("failed"))
    return MigrationResult(answer["before"], answer["after"])


#: how often a running migration process is checked for a stop request.
_STOP_POLL = 0.1


def _kill(child: subprocess.Popen[str]) -> None:
    child.kill()
    child.communicate()


def _child() -> None:
    from sqlalchemy.engine import make_url

    request = json.loads(sys.stdin.read())
    target = DatabaseTarget(make_url(request["url"]), request["schema"], request["role"])
    try:
        result = upgrade(Path(request["versions"]), target)
        answer: dict[str, Any] = {"ok": True, "before": result.before, "after": result.after}
    except MigrationError as error:
        answer = {"ok": False, "error": str(error), "revision": error.revision, "failed": error.failed,
                  "traceback": traceback.format_exc()}
    except Exception as error:
        answer = {"ok": False, "error": f"{type(error).__name__}: {error}", "traceback": traceback.format_exc()}
    print(json.dumps(answer), flush=True)


if __name__ == "__main__":
    _child()
