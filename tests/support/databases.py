"""The two database backends the database tests run against: SQLite files and the real PostgreSQL."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, create_engine, text

from openmodule_host.database import normalise_url, role_name, schema_name

POSTGRES_URL = os.environ.get("OMH_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
MIGRATIONS = Path(__file__).parent / "fixtures" / "migrations"


@dataclass
class Backend:
    """Settings that point a host at one backend, unique plugin NAMEs, and a look behind the host's back."""

    kind: str
    data_dir: Path
    names: list[str] = field(default_factory=list)

    @property
    def settings(self) -> dict[str, Any]:
        if self.kind == "postgresql":
            return {"database_url": POSTGRES_URL, "data_dir": str(self.data_dir)}
        return {"data_dir": str(self.data_dir)}

    def name(self, prefix: str) -> str:
        name = f"{prefix}_{uuid.uuid4().hex[:8]}"
        self.names.append(name)
        return name

    @contextmanager
    def admin_connection(self, name: str) -> Iterator[Connection]:
        """A connection with full rights on the plugin ``name``'s data (its file, or the server)."""
        if self.kind == "postgresql":
            engine = create_engine(normalise_url(POSTGRES_URL))
        else:
            engine = create_engine(f"sqlite:///{self.data_dir / f'{name}.sqlite3'}")
        try:
            with engine.connect() as connection:
                yield connection
        finally:
            engine.dispose()

    def table(self, name: str, table: str) -> str:
        """The table's name as an admin connection has to write it."""
        return f'"{schema_name(name)}".{table}' if self.kind == "postgresql" else table

    def cleanup(self) -> None:
        """Drop each plugin's schema and login role (the DATABASE_URL user may: the host made it a member of
        each role it created)."""
        if self.kind != "postgresql" or not self.names:
            return
        engine = create_engine(normalise_url(POSTGRES_URL), isolation_level="AUTOCOMMIT")
        with engine.connect() as connection:
            for name in self.names:
                schema = schema_name(name)
                role = role_name(schema)
                connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
                if connection.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": role}).first():
                    connection.execute(text(f'DROP OWNED BY "{role}" CASCADE'))
                    connection.execute(text(f'DROP ROLE "{role}"'))
        engine.dispose()
