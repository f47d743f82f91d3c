"""openmodule's ``update_query`` / ``delete_query``: bulk changes through a legacy ``Query``.

The session is not synchronised with the change (``synchronize_session=False``, which SQLite needs for
such queries); instead every object of the session is expired, so the next access reloads it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Query, Session

__all__ = ["delete_query", "update_query"]


def update_query(db: Session, query: Query[Any], values: dict[Any, Any]) -> int:
    """``query.update(values)``; returns the number of rows updated."""
    count: int = query.update(values, synchronize_session=False)
    db.expire_all()
    return count


def delete_query(db: Session, query: Query[Any]) -> int:
    """``query.delete()``; returns the number of rows deleted."""
    count: int = query.delete(synchronize_session=False)
    db.expire_all()
    return count
