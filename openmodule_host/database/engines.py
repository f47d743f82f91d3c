"""One engine per plugin: an SQLite file of its own, or a PostgreSQL schema of its own.

SQLite: ``<data dir>/<NAME>.sqlite3`` in WAL mode with foreign keys on and ``synchronous=FULL`` (a
committed transaction survives a killed process and a power loss). pysqlite's own transaction handling
does not cover DDL, so the driver's is switched off and every transaction starts with an explicit
``BEGIN``: a migration that fails halfway rolls back completely. The host creates the data dir mode 0700
and the file mode 0600 (SQLite gives its ``-wal`` and ``-shm`` files the mode of the database file), and
every connection has an authorizer that refuses ``ATTACH`` (and so ``VACUUM INTO``, which attaches its
target) and the ``load_extension()`` SQL function: a plugin's session reaches no file but its own.

PostgreSQL: schema ``<name>`` (created if missing) owned by a LOGIN role ``omh_<name>`` of the plugin's
own (``NOINHERIT NOCREATEDB NOCREATEROLE``, a member of no other role), which the host, logged in as the
``DATABASE_URL`` user, creates if missing and gives a new random password each time it prepares the
schema (nothing is stored; each start rotates it). The plugin's engine logs in as that role, not as the
``DATABASE_URL`` user: ``RESET ROLE`` or ``SET ROLE`` in its session cannot reach another schema, since
its session user has no rights but its own. Where the server does not let the ``DATABASE_URL`` user
create or alter roles, the plugin logs in as that user with ``search_path`` set to its schema, and a
WARNING says so: then only ``search_path`` separates plugins.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError
from ..masking import mask_secrets
from ..names import check_name
from .scram import scram_verifier
from .urls import is_postgres, role_name, schema_name, sqlite_url

if TYPE_CHECKING:
    from sqlalchemy import Connection, Engine
    from sqlalchemy.engine import URL

# SQLAlchemy is imported in the functions that open engines: a host whose plugins never touch a database
# does not load it (about 20 MiB with its ORM); targets and their descriptions need none of it.

__all__ = ["DatabaseTarget", "create_plugin_engine", "prepare_postgres_schema", "target_for"]

log = logging.getLogger("openmodule_host.database")


@dataclass(frozen=True)
class DatabaseTarget:
    """Where one plugin's data lives and how its engine logs in: ``location`` is the SQLite file, or the
    ``DATABASE_URL`` until :func:`prepare_postgres_schema` returns the role's own (user ``role``, its new
    password)."""

    location: URL | Path
    schema: str | None = None
    role: str | None = None

    @property
    def url(self) -> URL:
        """The engine's URL; an SQLite file's is made when asked for (it needs SQLAlchemy)."""
        if isinstance(self.location, Path):
            return sqlite_url(self.location)
        return self.location

    @property
    def description(self) -> str:
        if self.schema is None:
            database = self.location if isinstance(self.location, Path) else self.location.database
            return f"SQLite file {database}"
        # Masked again: SQLAlchemy hides the password it parsed, which is not all of one with a raw "@" in it.
        return mask_secrets(f"PostgreSQL schema {self.schema} on {self.url.render_as_string(hide_password=True)}")


def target_for(name: str, data_dir: Path, database_url: URL | None) -> DatabaseTarget:
    """The plugin ``name``'s target; raises :class:`ValueError` for a NAME that is not one safe path
    component (config validation refuses those first; this is the last line)."""
    try:
        check_name(name)
    except ValueError as error:
        raise ValueError(f"NAME {name!r}: {error}") from None
    if database_url is None:
        path = data_dir / f"{name}.sqlite3"
        if not path.resolve().is_relative_to(data_dir.resolve()):
            raise ValueError(f"the database file of NAME {name!r} would be outside the data dir {data_dir}")
        return DatabaseTarget(path)
    schema = schema_name(name)
    return DatabaseTarget(database_url, schema=schema, role=role_name(schema))


def _create_private_file(path: Path) -> None:
    """The data dir (0700) and an empty database file (0600) if missing, before SQLite opens it."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


def _authorize(action: int, argument: str | None, function: str | None, *_: Any) -> int:
    """SQLite's authorizer for a plugin's connections: no other database file, no extension."""
    import sqlite3  # loaded by then (the connection is SQLite's); not at the host's start

    if action == sqlite3.SQLITE_ATTACH and argument != "":  # "": the private temporary copy plain VACUUM uses
        return sqlite3.SQLITE_DENY
    if action == sqlite3.SQLITE_FUNCTION and function == "load_extension":
        return sqlite3.SQLITE_DENY
    return sqlite3.SQLITE_OK


def _sqlite_engine(target: DatabaseTarget) -> Engine:
    from sqlalchemy import create_engine, event

    _create_private_file(Path(str(target.url.database)))
    engine = create_engine(target.url, connect_args={"check_same_thread": False, "timeout": 30})

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves (see the module docstring)
        cursor = dbapi_connection.cursor()
        for pragma in ("journal_mode=WAL", "foreign_keys=ON", "synchronous=FULL"):
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()
        dbapi_connection.set_authorizer(_authorize)

    @event.listens_for(engine, "begin")
    def _begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN")

    return engine


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _login_role(connection: Connection, role: str, password: str) -> None:
    """Create ``role`` (or reset the one there) as a plugin's login role with ``password``, a member of
    no other role; refuses a role that is privileged or is the ``DATABASE_URL`` user itself."""
    from sqlalchemy import text

    found = connection.execute(
        text("SELECT rolsuper OR rolreplication OR rolbypassrls OR rolname = current_user FROM pg_roles "
             "WHERE rolname = :role"), {"role": role},
    ).first()
    if found is not None and found[0]:
        raise ConfigError(f"role {role} exists and is a superuser, a replication or bypassrls role or the "
                          f"DATABASE_URL user: the host will not hand it to a plugin; drop it or choose another NAME")
    verb = "CREATE" if found is None else "ALTER"
    connection.exec_driver_sql(f"{verb} ROLE {_quote(role)} LOGIN NOINHERIT NOCREATEDB NOCREATEROLE "
                               f"PASSWORD '{scram_verifier(password)}'")  # base64, '$' and ':': nothing to escape
    granted = connection.execute(
        text("SELECT g.rolname FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid "
             "JOIN pg_roles r ON r.oid = m.member WHERE r.rolname = :role"), {"role": role},
    ).scalars().all()
    for other in granted:
        connection.execute(text(f"REVOKE {_quote(other)} FROM {_quote(role)}"))
        log.warning("role %s was a member of %s: revoked (a plugin's role is a member of no other role)",
                    role, other)
    connection.execute(text(f"GRANT {_quote(role)} TO CURRENT_USER"))  # to own its schema, and to clean up


def prepare_postgres_schema(target: DatabaseTarget) -> DatabaseTarget:
    """Create the plugin's schema and login role if missing, give the role a new password and the schema;
    returns the target to use: the role's own URL, or when the server does not let the ``DATABASE_URL``
    user create roles, the ``DATABASE_URL`` without a role (then only ``search_path`` separates plugins)."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.exc import DBAPIError

    assert target.schema is not None and target.role is not None
    password = secrets.token_urlsafe(32)
    admin = create_engine(target.url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f"CREATE SCHEMA IF NOT EXISTS {_quote(target.schema)}"))
            try:
                _login_role(connection, target.role, password)
                connection.execute(text(f"ALTER SCHEMA {_quote(target.schema)} OWNER TO {_quote(target.role)}"))
                connection.execute(text(f"REVOKE ALL ON SCHEMA {_quote(target.schema)} FROM PUBLIC"))
            except DBAPIError as error:
                log.warning("cannot create or alter role %s (%s): schema %s is separated by search_path only, "
                            "its plugin logs in as the DATABASE_URL user and could reach other plugins' schemas",
                            target.role, error.orig, target.schema)
                return DatabaseTarget(target.url, schema=target.schema)
    finally:
        admin.dispose()
    return DatabaseTarget(target.url.set(username=target.role, password=password), target.schema, target.role)


def _postgres_engine(target: DatabaseTarget) -> Engine:
    from sqlalchemy import create_engine, event

    if target.role is not None and target.url.username != target.role:
        raise ValueError(f"schema {target.schema} is not prepared: its engine must log in as {target.role}")
    engine = create_engine(target.url, pool_pre_ping=True)

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        autocommit = dbapi_connection.autocommit
        dbapi_connection.autocommit = True  # SET outside a transaction: it must outlive rollbacks
        with dbapi_connection.cursor() as cursor:
            cursor.execute(f"SET search_path TO {_quote(str(target.schema))}")
        dbapi_connection.autocommit = autocommit

    return engine


def create_plugin_engine(target: DatabaseTarget) -> Engine:
    if is_postgres(target.url):
        return _postgres_engine(target)
    return _sqlite_engine(target)
