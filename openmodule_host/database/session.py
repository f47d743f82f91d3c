"""``core.database``: a plugin's own database, as openmodule's ``with core.database() as session:``."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from .engines import DatabaseTarget, create_plugin_engine, prepare_postgres_schema

__all__ = ["PluginDatabase"]


class PluginDatabase:
    """Opens lazily: a plugin that never touches its database gets no file and no schema."""

    def __init__(self, target: DatabaseTarget, prepared: bool = False) -> None:
        self._target = target
        self._prepared = prepared
        self._engine: Engine | None = None
        self._sessions: sessionmaker[Session] | None = None
        self._lock = threading.Lock()

    @property
    def target(self) -> DatabaseTarget:
        return self._target

    @property
    def engine(self) -> Engine:
        """The plugin's SQLAlchemy engine, for advanced use (Core queries, ``MetaData.create_all``)."""
        with self._lock:
            if self._engine is None:
                if self._target.schema is not None and not self._prepared:
                    self._target = prepare_postgres_schema(self._target)
                    self._prepared = True
                self._engine = create_plugin_engine(self._target)
                self._sessions = sessionmaker(self._engine, expire_on_commit=False)
            return self._engine

    @contextmanager
    def __call__(self) -> Iterator[Session]:
        """A session that commits when the block ends normally and rolls back when it raises."""
        engine = self.engine
        assert self._sessions is not None and engine is not None
        with self._sessions() as session:
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    def is_open(self) -> bool:
        return self._engine is not None

    def shutdown(self) -> None:
        with self._lock:
            if self._engine is not None:
                self._engine.dispose()
                self._engine = None
                self._sessions = None
