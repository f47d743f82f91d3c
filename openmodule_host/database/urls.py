"""Database URLs as users write them, and the names derived from a plugin's NAME."""

from __future__ import annotations

import re
from pathlib import Path

from sqlalchemy.engine import URL, make_url

from ..errors import ConfigError

__all__ = ["is_postgres", "normalise_url", "role_name", "schema_name", "sqlite_url"]

_NOT_IDENTIFIER = re.compile(r"[^a-z0-9_]")


def normalise_url(url: str) -> URL:
    """``postgresql://user@host:5432/db`` works as written: the psycopg (3) driver is the one installed."""
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
    return URL.create("sqlite", database=str(path))


def schema_name(name: str) -> str:
    """The PostgreSQL schema of the plugin whose NAME is ``name``: lower case, [a-z0-9_], <= 63 bytes."""
    schema = _NOT_IDENTIFIER.sub("_", name.lower())[:63]
    if not schema or schema[0].isdigit():
        schema = f"p_{schema}"[:63]
    return schema


def role_name(schema: str) -> str:
    """The role a plugin's connections use on PostgreSQL: it may only use its own schema."""
    return f"omh_{schema}"[:63]
