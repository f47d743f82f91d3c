"""Database URLs as users write them, and the names derived from a plugin's NAME."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import ConfigError
from ..names import check_name

if TYPE_CHECKING:
    from sqlalchemy.engine import URL

__all__ = ["is_postgres", "normalise_url", "role_name", "schema_name", "sqlite_url"]

_NOT_IDENTIFIER = re.compile(r"[^a-z0-9_]")
_MAX_IDENTIFIER = 63  # PostgreSQL's NAMEDATALEN - 1 (bytes; these names are ASCII)
_RESERVED_SCHEMAS = ("public", "information_schema")


def normalise_url(url: str) -> URL:
    """``postgresql://user@host:5432/db`` works as written: the psycopg (3) driver is the one installed."""
    from sqlalchemy.engine import make_url  # only a host with a DATABASE_URL loads SQLAlchemy for it

    try:
        parsed = make_url(url)
    except Exception as error:
        raise ConfigError(f"invalid DATABASE_URL: {error}") from None
    if parsed.drivername in ("postgresql", "postgres", "postgresql+psycopg2"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.drivername != "postgresql+psycopg":
        raise ConfigError(
            f"DATABASE_URL must point at PostgreSQL (postgresql://user@host:5432/db), got {parsed.drivername!r}; "
            "leave it unset for one SQLite file per plugin"
        )
    return parsed


def is_postgres(url: URL) -> bool:
    return url.get_backend_name() == "postgresql"


def sqlite_url(path: Path) -> URL:
    from sqlalchemy.engine import URL

    return URL.create("sqlite", database=str(path))


def _fit(identifier: str, source: str) -> str:
    """``identifier``, or when it is too long its head and a hash of ``source``: two names never share one
    by truncation (plain truncation would give two 63-character schemas that differ only in their last
    letters one role)."""
    if len(identifier) <= _MAX_IDENTIFIER:
        return identifier
    digest = hashlib.sha256(source.encode()).hexdigest()[:8]
    return f"{identifier[:_MAX_IDENTIFIER - 9]}_{digest}"


def schema_name(name: str) -> str:
    """The PostgreSQL schema of the plugin whose NAME is ``name``: lower case, [a-z0-9_], <= 63 bytes;
    ``p_`` in front of one that would start with a digit or be a system schema (``pg_*``, ``public``,
    ``information_schema``). Raises :class:`ValueError` for a NAME that breaks the rule (:mod:`..names`)."""
    schema = _NOT_IDENTIFIER.sub("_", check_name(name).lower())
    if schema[0].isdigit() or schema.startswith("pg_") or schema in _RESERVED_SCHEMAS:
        schema = f"p_{schema}"
    return _fit(schema, name)


def role_name(schema: str) -> str:
    """The role a plugin logs in as on PostgreSQL: it owns the plugin's schema and may use nothing else."""
    return _fit(f"omh_{schema}", schema)
