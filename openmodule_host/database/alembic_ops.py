"""openmodule's custom Alembic operations: ``op.pre_upgrade()``, ``op.post_upgrade()``, ``op.pre_downgrade()``,
``op.post_downgrade()``, registered on Alembic's ``Operations`` when this module is imported (the host's
migration environment and :func:`~openmodule_host.database.run_env_py` import it), so revisions that
openmodule generated call them unchanged.

What they do:

- ``pre_upgrade``: on SQLite, copies the database file to ``<name>_<UTC %Y%m%d%H%M%S>_<revision before>.sqlite3.backup``
  next to it (mode 0600; not when such a backup is younger than 60 s), then on both backends drops leftover
  ``_alembic_tmp_*`` tables (an interrupted batch operation leaves them). The copy is taken with SQLite's
  backup API, so it holds every committed row even when the newest ones are still in the ``-wal`` file.
- ``pre_downgrade``: the same without the backup. ``post_upgrade``, ``post_downgrade``: nothing.
- Foreign keys: openmodule turns SQLite's foreign keys off during a migration (so a batch operation that
  recreates a table does not cascade-delete the rows that reference it) and on again after it. SQLite
  ignores that switch inside a transaction and every revision here runs in its own, so the host turns
  them off on the migration's connection before the first revision (:func:`sqlite_foreign_keys_off`),
  whether a revision calls these operations or not, and on again after the last.

On PostgreSQL there is no file to back up (use ``pg_dump``) and foreign keys stay on: PostgreSQL alters
tables in place, so the cascade the SQLite switch prevents cannot happen.

Autogenerate (with :func:`~openmodule_host.database.run_env_py`) frames every non-empty revision with
``op.pre_upgrade()`` ... ``op.post_upgrade()`` and ``op.pre_downgrade()`` ... ``op.post_downgrade()``,
as openmodule's does.
"""

from __future__ import annotations

import contextlib
import os
import re
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alembic.autogenerate import comparators, renderers
from alembic.autogenerate.api import AutogenContext
from alembic.operations import MigrateOperation, Operations
from alembic.operations.ops import UpgradeOps
from alembic.util.langhelpers import DispatchPriority
from sqlalchemy import Connection, inspect

__all__ = ["backup_sqlite_file", "sqlite_foreign_keys_off"]

BACKUP_INTERVAL = 60.0  # seconds: no second backup of one file within this
_STAMP = "%Y%m%d%H%M%S"
TMP_TABLE_PREFIX = "_alembic_tmp_"


@Operations.register_operation("pre_upgrade")
class PreUpgradeOp(MigrateOperation):
    """``op.pre_upgrade()``: the first operation of an openmodule revision's ``upgrade()``."""

    @classmethod
    def pre_upgrade(cls, operations: Operations) -> None:
        operations.invoke(cls())

    def reverse(self) -> MigrateOperation:
        return PostDowngradeOp()


@Operations.register_operation("post_upgrade")
class PostUpgradeOp(MigrateOperation):
    """``op.post_upgrade()``: the last operation of an openmodule revision's ``upgrade()``."""

    @classmethod
    def post_upgrade(cls, operations: Operations) -> None:
        operations.invoke(cls())

    def reverse(self) -> MigrateOperation:
        return PreDowngradeOp()


@Operations.register_operation("pre_downgrade")
class PreDowngradeOp(MigrateOperation):
    """``op.pre_downgrade()``: the first operation of an openmodule revision's ``downgrade()``."""

    @classmethod
    def pre_downgrade(cls, operations: Operations) -> None:
        operations.invoke(cls())

    def reverse(self) -> MigrateOperation:
        return PostUpgradeOp()


@Operations.register_operation("post_downgrade")
class PostDowngradeOp(MigrateOperation):
    """``op.post_downgrade()``: the last operation of an openmodule revision's ``downgrade()``."""

    @classmethod
    def post_downgrade(cls, operations: Operations) -> None:
        operations.invoke(cls())

    def reverse(self) -> MigrateOperation:
        return PreUpgradeOp()


def _drop_leftover_tmp_tables(operations: Operations) -> None:
    for table in inspect(operations.get_bind()).get_table_names():
        if table.startswith(TMP_TABLE_PREFIX):
            operations.drop_table(table)


@Operations.implementation_for(PreUpgradeOp)
def _pre_upgrade(operations: Operations, operation: PreUpgradeOp) -> None:
    context = operations.migration_context
    if context.dialect.name == "sqlite" and not context.as_sql:
        database = operations.get_bind().engine.url.database
        if database and database != ":memory:":
            backup_sqlite_file(Path(database), context.get_current_revision())
    _drop_leftover_tmp_tables(operations)


@Operations.implementation_for(PreDowngradeOp)
def _pre_downgrade(operations: Operations, operation: PreDowngradeOp) -> None:
    _drop_leftover_tmp_tables(operations)


@Operations.implementation_for(PostUpgradeOp)
@Operations.implementation_for(PostDowngradeOp)
def _post(operations: Operations, operation: MigrateOperation) -> None:
    """Nothing: foreign keys come back on when the migration's connection is done with them."""


@renderers.dispatch_for(PreUpgradeOp)
def _render_pre_upgrade(autogen_context: AutogenContext, op: PreUpgradeOp) -> str:
    return "op.pre_upgrade()"


@renderers.dispatch_for(PostUpgradeOp)
def _render_post_upgrade(autogen_context: AutogenContext, op: PostUpgradeOp) -> str:
    return "op.post_upgrade()"


@renderers.dispatch_for(PreDowngradeOp)
def _render_pre_downgrade(autogen_context: AutogenContext, op: PreDowngradeOp) -> str:
    return "op.pre_downgrade()"


@renderers.dispatch_for(PostDowngradeOp)
def _render_post_downgrade(autogen_context: AutogenContext, op: PostDowngradeOp) -> str:
    return "op.post_downgrade()"


# LAST: after Alembic's own comparators, or the list is still empty and nothing would be framed.
@comparators.dispatch_for("schema", priority=DispatchPriority.LAST)
def _frame_autogenerated_revision(autogen_context: AutogenContext, upgrade_ops: UpgradeOps, schemas: Any) -> None:
    if upgrade_ops.ops:  # an empty autogenerate stays empty
        upgrade_ops.ops.insert(0, PreUpgradeOp())
        upgrade_ops.ops.append(PostUpgradeOp())


def backup_sqlite_file(path: Path, revision: str | None, now: datetime | None = None) -> Path | None:
    """Copy the database at ``path`` to ``<stem>_<UTC stamp>_<revision>.sqlite3.backup`` beside it (mode
    0600); returns the copy, or None when a backup of this file is younger than 60 s."""
    now = (now or datetime.now(UTC)).replace(tzinfo=None)
    pattern = re.compile(rf"{re.escape(path.stem)}_(\d{{14}})_.*\.sqlite3\.backup")
    for existing in path.parent.iterdir():
        found = pattern.fullmatch(existing.name)
        if found is not None:
            with contextlib.suppress(ValueError):
                age = (now - datetime.strptime(found[1], _STAMP)).total_seconds()
                if 0 <= age < BACKUP_INTERVAL:
                    return None
    target = path.with_name(f"{path.stem}_{now.strftime(_STAMP)}_{revision}.sqlite3.backup")
    os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600))
    with contextlib.closing(sqlite3.connect(path)) as source, contextlib.closing(sqlite3.connect(target)) as copy:
        source.backup(copy)
        copy.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, without -wal and -shm
    return target


@contextlib.contextmanager
def sqlite_foreign_keys_off(connection: Connection) -> Iterator[None]:
    """SQLite's foreign keys off on ``connection`` for the block and on again after it (nothing on other
    backends). The pragma is sent to the driver directly: through SQLAlchemy it would start a transaction,
    and SQLite ignores it inside one."""
    if connection.dialect.name != "sqlite":
        yield
        return
    if connection.in_transaction():
        raise RuntimeError("foreign keys can only be switched outside a transaction")
    driver = connection.connection.driver_connection
    assert driver is not None
    driver.execute("PRAGMA foreign_keys=OFF")
    try:
        yield
    finally:
        if connection.in_transaction():
            connection.rollback()
        driver.execute("PRAGMA foreign_keys=ON")
