"""``core.database``: a plugin's own database, used as openmodule's ``Database``:
``with core.database() as session:`` or ``with core.database as session:``."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from types import TracebackType
from typing import TYPE_CHECKING, Any

from .engines import DatabaseTarget, create_plugin_engine, prepare_postgres_schema

if TYPE_CHECKING:
    from sqlalchemy import Engine
    from sqlalchemy.orm import Session, sessionmaker

__all__ = ["DatabaseSession", "PluginDatabase"]


class DatabaseSession:
    """``core.database(expire_on_commit=False)``: a context manager whose block gets a new ``Session``, which
    commits when the block ends normally and rolls back when it raises."""

    def __init__(self, database: PluginDatabase, expire_on_commit: bool) -> None:
        self._database = database
        self._expire_on_commit = expire_on_commit

    def __enter__(self) -> Session:
        return self._database._open(self._expire_on_commit)

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self._database._close(failed=exc_type is not None)


class PluginDatabase:
    """Opens lazily: a plugin that never touches its database gets no file and no schema."""

    def __init__(self, target: DatabaseTarget, prepared: bool = False) -> None:
        self._target = target
        self._prepared = prepared
        self._engine: Engine | None = None
        self._sessions: sessionmaker[Session] | None = None
        self._lock = threading.Lock()
        self._local = threading.local()  # .sessions: the calling thread's open sessions, innermost last

    @property
    def target(self) -> DatabaseTarget:
        return self._target

    @property
    def engine(self) -> Engine:
        """The plugin's SQLAlchemy engine, for advanced use (Core queries, ``MetaData.create_all``)."""
        with self._lock:
            if self._engine is None:
                from sqlalchemy.orm import sessionmaker  # SQLAlchemy loads when a plugin first uses its database

                if self._target.schema is not None and not self._prepared:
                    self._target = prepare_postgres_schema(self._target)
                    self._prepared = True
                self._engine = create_plugin_engine(self._target)
                self._sessions = sessionmaker(self._engine, expire_on_commit=False)
            return self._engine

    def __call__(self, expire_on_commit: bool = False) -> DatabaseSession:
        """``with core.database() as session:``; ``expire_on_commit`` as SQLAlchemy's (openmodule defaults
        to True; False keeps the objects readable after the block)."""
        return DatabaseSession(self, expire_on_commit)

    def __enter__(self) -> Session:
        """``with core.database as session:`` (openmodule's other spelling), the same as ``core.database()``."""
        return self._open(expire_on_commit=False)

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self._close(failed=exc_type is not None)

    def flush(self, objects: Iterable[Any] | None = None) -> None:
        """Flush the innermost session this thread has open (openmodule's ``Database.flush``)."""
        sessions = self._thread_sessions()
        if not sessions:
            raise RuntimeError("core.database.flush() outside a `with core.database` block of this thread")
        sessions[-1].flush(None if objects is None else list(objects))

    def _thread_sessions(self) -> list[Session]:
        sessions: list[Session] | None = getattr(self._local, "sessions", None)
        if sessions is None:
            sessions = self._local.sessions = []
        return sessions

    def _open(self, expire_on_commit: bool) -> Session:
        self.engine  # noqa: B018  (opens the engine and the session factory on first use)
        assert self._sessions is not None
        session = self._sessions(expire_on_commit=expire_on_commit)
        self._thread_sessions().append(session)
        return session

    def _close(self, failed: bool) -> None:
        session = self._thread_sessions().pop()
        try:
            if failed:
                session.rollback()
            else:
                session.commit()
        finally:
            session.close()

    def is_open(self) -> bool:
        return self._engine is not None

    def shutdown(self) -> None:
        with self._lock:
            if self._engine is not None:
                self._engine.dispose()
                self._engine = None
                self._sessions = None
