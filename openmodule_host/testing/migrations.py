"""Testing one plugin's Alembic migrations (openmodule-test's ``AlembicMigrationTestMixin``) on a fresh database,
a real SQLite file or a fresh schema on a real PostgreSQL server, in the environment the host migrates with.

Upgrade every revision from empty one by one, compare the schema with the plugin's models (Alembic's
autogenerate comparison must find no difference), downgrade as far as the revisions allow, stop at an old
revision to insert rows and go on with them; :func:`truncate_all_tables` empties a database between tests.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import Connection, Engine, MetaData, Table, create_engine, select, text

from ..database import (
    DatabaseTarget,
    MigrationError,
    create_plugin_engine,
    current_revision,
    normalise_url,
    prepare_postgres_schema,
    target_for,
)
from ..database.migrations import _config as host_alembic_config

if TYPE_CHECKING:
    from alembic.config import Config

__all__ = ["MigrationTester", "truncate_all_tables"]

#: openmodule-test's default: the version table survives a truncation.
KEEP = ("alembic_version",)


class HasEngine(Protocol):
    """A plugin's ``core.database`` (a :class:`~openmodule_host.database.PluginDatabase`)."""

    @property
    def engine(self) -> Engine: ...


def truncate_all_tables(database: Engine | HasEngine, keep: Iterable[str] = KEEP) -> None:
    """Delete every row of every table of a plugin's database (``core.database`` or an engine), children
    before parents, except the tables in ``keep`` (openmodule-test's ``truncate_all_tables``)."""
    engine = database if isinstance(database, Engine) else database.engine
    kept = set(keep)
    metadata = MetaData()
    metadata.reflect(bind=engine)
    with engine.begin() as connection:
        for table in reversed(metadata.sorted_tables):
            if table.name not in kept:
                connection.execute(table.delete())


class MigrationTester:
    """One plugin's revisions (the folder its ``database_migrations`` hook returns) on one fresh database.

    Make it with :meth:`sqlite` or :meth:`postgresql` (or the ``om_migrations`` fixture), use it, then
    :meth:`close` it (a context manager too): that disposes the engine and drops a PostgreSQL schema and role.
    ``metadata`` is the plugin's models' ``MetaData`` (``Base.metadata``), for :meth:`schema_diff`.
    """

    def __init__(self, migrations: str | os.PathLike[str], target: DatabaseTarget, *,
                 metadata: MetaData | None = None, cleanup: Callable[[], None] | None = None) -> None:
        self.migrations = Path(migrations)
        if not self.migrations.is_dir():
            raise FileNotFoundError(f"no migrations folder {self.migrations}")
        self.target = target
        self.metadata = metadata
        self._cleanup = cleanup
        self.engine = create_plugin_engine(target)

    @classmethod
    def sqlite(cls, migrations: str | os.PathLike[str], folder: str | os.PathLike[str], *, name: str = "plugin",
               metadata: MetaData | None = None) -> MigrationTester:
        """On the SQLite file ``<folder>/<name>.sqlite3``, as the host keeps it."""
        return cls(migrations, target_for(name, Path(folder), None), metadata=metadata)

    @classmethod
    def postgresql(cls, migrations: str | os.PathLike[str], database_url: str, *, name: str | None = None,
                   metadata: MetaData | None = None) -> MigrationTester:
        """In a fresh schema and login role on the server of ``database_url`` (a unique ``name`` by default),
        made as the host makes a plugin's; both are dropped by :meth:`close`."""
        name = name or f"migration_test_{uuid.uuid4().hex[:8]}"
        url = normalise_url(database_url)
        target = prepare_postgres_schema(target_for(name, Path("."), url))

        def drop() -> None:
            admin = create_engine(url, isolation_level="AUTOCOMMIT")
            try:
                with admin.connect() as connection:
                    connection.execute(text(f'DROP SCHEMA IF EXISTS "{target.schema}" CASCADE'))
                    if target.role is not None:
                        connection.execute(text(f'DROP OWNED BY "{target.role}" CASCADE'))
                        connection.execute(text(f'DROP ROLE IF EXISTS "{target.role}"'))
            finally:
                admin.dispose()

        return cls(migrations, target, metadata=metadata, cleanup=drop)

    # -- revisions ----------------------------------------------------------------------------------

    @property
    def revisions(self) -> list[str]:
        """Every revision, the oldest first."""
        from alembic.script import ScriptDirectory

        script = ScriptDirectory.from_config(host_alembic_config(self.migrations, self.engine, self.target))
        return [revision.revision for revision in reversed(list(script.walk_revisions()))]

    def current(self) -> str | None:
        """The database's revision (``None``: empty)."""
        return current_revision(self.engine, self.target)

    def _run(self, step: Callable[[Config], None]) -> None:
        from ..database.alembic_ops import sqlite_foreign_keys_off

        with self.engine.connect() as connection, sqlite_foreign_keys_off(connection):
            step(host_alembic_config(self.migrations, self.engine, self.target, connection))
            connection.commit()

    def upgrade(self, revision: str = "head") -> None:
        """Upgrade to ``revision`` (an id, ``head`` or ``+1``) as the host does; :class:`MigrationError`
        naming the revision that failed."""
        from alembic import command

        before = self.current()
        try:
            self._run(lambda config: command.upgrade(config, revision))
        except Exception as error:
            reached = self.current()
            raise MigrationError(f"upgrade from {before} to {revision} failed: {type(error).__name__}: {error}; "
                                 f"the database stays at {reached}", revision=reached) from error

    def downgrade(self, revision: str = "base") -> None:
        """Downgrade to ``revision`` (an id, ``base`` or ``-1``); :class:`MigrationError` when it fails."""
        from alembic import command

        before = self.current()
        try:
            self._run(lambda config: command.downgrade(config, revision))
        except Exception as error:
            reached = self.current()
            raise MigrationError(f"downgrade from {before} to {revision} failed: {type(error).__name__}: {error}; "
                                 f"the database stays at {reached}", revision=reached) from error

    def upgrade_each(self) -> list[str]:
        """Upgrade one revision at a time from the current one to head; the revisions run, in order."""
        done = []
        pending = self.revisions
        current = self.current()
        if current is not None:
            pending = pending[pending.index(current) + 1:]
        for revision in pending:
            self.upgrade(revision)
            done.append(revision)
        return done

    def downgrade_each(self) -> list[str]:
        """Downgrade one revision at a time towards empty, as far as the revisions support it: the walk ends
        at the first revision whose ``downgrade()`` raises ``NotImplementedError`` (the database stays at it).
        Returns the revisions downgraded (undone), the newest first; another error raises."""
        done: list[str] = []
        while (current := self.current()) is not None:
            try:
                self.downgrade("-1")
            except MigrationError as error:
                if isinstance(error.__cause__, NotImplementedError):
                    break
                raise
            done.append(current)
        return done

    # -- schema -------------------------------------------------------------------------------------

    def schema_diff(self) -> list[Any]:
        """How the database's schema differs from the models (Alembic's autogenerate comparison, types
        included): ``[]`` when they match. The version table is not part of the comparison."""
        if self.metadata is None:
            raise ValueError("schema_diff needs the models: MigrationTester(..., metadata=Base.metadata)")
        from alembic.autogenerate import produce_migrations
        from alembic.operations.ops import UpgradeOps
        from alembic.runtime.migration import MigrationContext

        from ..database.alembic_ops import PostUpgradeOp, PreUpgradeOp

        with self.engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={
                "compare_type": True, "version_table_schema": self.target.schema,
                "include_name": lambda name, kind, _parent: not (kind == "table" and name == "alembic_version"),
            })
            script = produce_migrations(context, self.metadata)
        # what autogenerate would write, without the op.pre_upgrade()/op.post_upgrade() frame the host adds
        assert script.upgrade_ops is not None
        changes = [op for op in script.upgrade_ops.ops if not isinstance(op, PreUpgradeOp | PostUpgradeOp)]
        return list(UpgradeOps(ops=changes).as_diffs())

    def assert_schema_matches_models(self) -> None:
        """Fail listing the differences when the migrated schema is not what the models say."""
        differences = self.schema_diff()
        if differences:
            listed = "\n".join(f"  {difference!r}" for difference in differences)
            raise AssertionError(f"the schema at revision {self.current()} differs from the models "
                                 f"(a revision is missing or wrong):\n{listed}")

    # -- data ---------------------------------------------------------------------------------------

    def _table(self, connection: Connection, name: str) -> Table:
        return Table(name, MetaData(), autoload_with=connection)

    def insert(self, table: str, *rows: Mapping[str, Any]) -> None:
        """Insert ``rows`` into ``table`` as it is at the current revision (reflected, not the models)."""
        with self.engine.begin() as connection:
            connection.execute(self._table(connection, table).insert(), [dict(row) for row in rows])

    def rows(self, table: str) -> list[dict[str, Any]]:
        """Every row of ``table`` at the current revision, as dicts, in the order of its first column."""
        with self.engine.connect() as connection:
            reflected = self._table(connection, table)
            query = select(reflected).order_by(*list(reflected.columns)[:1])
            return [dict(row._mapping) for row in connection.execute(query)]

    def truncate_all_tables(self, keep: Iterable[str] = KEEP) -> None:
        truncate_all_tables(self.engine, keep)

    # -- end ----------------------------------------------------------------------------------------

    def close(self) -> None:
        self.engine.dispose()
        if self._cleanup is not None:
            self._cleanup()

    def __enter__(self) -> MigrationTester:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()
