"""One engine per plugin: an SQLite file of its own, or a PostgreSQL schema of its own.

SQLite: ``<data dir>/<NAME>.sqlite3`` in WAL mode with foreign keys on and ``synchronous=FULL`` (a
committed transaction survives a killed process and a power loss). pysqlite's own transaction handling
does not cover DDL, so the driver's is switched off and every transaction starts with an explicit
``BEGIN``: a migration that fails halfway rolls back completely.

PostgreSQL: schema ``<name>`` (created if missing) and, where the server allows it, a role
``omh_<name>`` that owns that schema and nothing else; each connection sets ``search_path`` to the
schema and ``ROLE`` to that role, so one plugin's session can neither see nor touch another's tables.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError

from .urls import is_postgres, role_name, schema_name, sqlite_url

__all__ = ["DatabaseTarget", "create_plugin_engine", "prepare_postgres_schema", "target_for"]

log = logging.getLogger("openmodule_host.database")


@dataclass(frozen=True)
class DatabaseTarget:
    """Where one plugin's data lives."""

    url: URL
    schema: str | None = None
    role: str | None = None

    @property
    def description(self) -> str:
        if self.schema is None:
            return f"SQLite file {self.url.database}"
        return f"PostgreSQL schema {self.schema} on {self.url.render_as_string(hide_password=True)}"


def target_for(name: str, data_dir: Path, database_url: URL | None) -> DatabaseTarget:
    if database_url is None:
        return DatabaseTarget(sqlite_url(data_dir / f"{name}.sqlite3"))
    schema = schema_name(name)
    return DatabaseTarget(database_url, schema=schema, role=role_name(schema))


def _sqlite_engine(target: DatabaseTarget) -> Engine:
    Path(str(target.url.database)).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(target.url, connect_args={"check_same_thread": False, "timeout": 30})

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves (see the module docstring)
        cursor = dbapi_connection.cursor()
        for pragma in ("journal_mode=WAL", "foreign_keys=ON", "synchronous=FULL"):
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN")

    return engine


def prepare_postgres_schema(target: DatabaseTarget) -> DatabaseTarget:
    """Create the plugin's schema (and role, when the server lets us) if missing; returns the target to
    use (without a role when roles cannot be created: then only ``search_path`` separates plugins)."""
    assert target.schema is not None and target.role is not None
    admin = create_engine(target.url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{target.schema}"'))
            try:
                exists = connection.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :role"),
                                            {"role": target.role}).first()
                if not exists:
                    connection.execute(text(f'CREATE ROLE "{target.role}" NOLOGIN'))
                connection.execute(text(f'GRANT "{target.role}" TO CURRENT_USER'))
                connection.execute(text(f'ALTER SCHEMA "{target.schema}" OWNER TO "{target.role}"'))
                connection.execute(text(f'REVOKE ALL ON SCHEMA "{target.schema}" FROM PUBLIC'))
            except DBAPIError as error:
                log.warning("cannot create role %s (%s): schema %s is separated by search_path only",
                            target.role, error.orig, target.schema)
                return DatabaseTarget(target.url, schema=target.schema)
    finally:
        admin.dispose()
    return target


def _postgres_engine(target: DatabaseTarget) -> Engine:
    engine = create_engine(target.url, pool_pre_ping=True)
    statements = [f'SET search_path TO "{target.schema}"']
    if target.role is not None:
        statements.insert(0, f'SET ROLE "{target.role}"')

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        autocommit = dbapi_connection.autocommit
        dbapi_connection.autocommit = True  # SET outside a transaction: it must outlive rollbacks
        with dbapi_connection.cursor() as cursor:
            for statement in statements:
                cursor.execute(statement)
        dbapi_connection.autocommit = autocommit

    return engine


def create_plugin_engine(target: DatabaseTarget) -> Engine:
    if is_postgres(target.url):
        return _postgres_engine(target)
    return _sqlite_engine(target)
