"""The accesses in the service's database: set, find by plate, expire."""

from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from datetime import datetime

from openmodule_hookspecs import (
    AccessCategory,
    AccessCheckAccess,
    AccessCheckRejectReason,
    Medium,
    MediumType,
    utcnow,
)
from sqlalchemy.orm import Session

from openmodule_host.database import delete_query
from openmodule_host.utils import get_lpr_id_search

from .models import AccessData, AccessModel, is_valid

Sessions = Callable[[], AbstractContextManager[Session]]


class AccessStore:
    """The ``accesses`` table of one service (``source`` is its NAME)."""

    def __init__(self, database: Sessions, source: str) -> None:
        self.database = database
        self.source = source

    def set(self, accesses: Mapping[str, AccessData | None]) -> int:
        """Insert, replace (by id) or, for ``None``, delete accesses; returns how many changed."""
        changed = 0
        with self.database() as session:
            for access_id, data in accesses.items():
                row = session.get(AccessModel, access_id)
                if data is None:
                    if row is not None:
                        session.delete(row)
                        changed += 1
                    continue
                row = row or AccessModel(id=access_id)
                row.plate, row.lpr_search = data.plate, get_lpr_id_search(data.plate)
                row.category, row.infos = data.category.value, data.infos
                row.valid_from, row.valid_to = data.valid_from, data.valid_to
                session.add(row)
                changed += 1
        return changed

    def count(self) -> int:
        with self.database() as session:
            return session.query(AccessModel).count()

    def find(self, plate: str, now: datetime | None = None) -> list[AccessCheckAccess]:
        """Every access for ``plate`` (as the legacy charset folds it): accepted when valid ``now``, else
        rejected for ``wrong_time``."""
        now = now or utcnow()
        with self.database() as session:
            rows = session.query(AccessModel).filter(AccessModel.lpr_search == get_lpr_id_search(plate)).all()
            return [self._access(row, plate, now) for row in rows]

    def _access(self, row: AccessModel, plate: str, now: datetime) -> AccessCheckAccess:
        valid = is_valid(row, now)
        return AccessCheckAccess(
            id=row.id, source=self.source, category=AccessCategory(row.category),
            used_medium=Medium(id=plate, type=MediumType.lpr), access_data={"plate": row.plate, **(row.infos or {})},
            valid_from=row.valid_from, valid_to=row.valid_to, accepted=valid,
            reject_reason=None if valid else AccessCheckRejectReason.wrong_time,
        )

    def delete_expired(self, now: datetime | None = None) -> int:
        """Delete the accesses whose ``valid_to`` passed; returns how many."""
        now = now or utcnow()
        with self.database() as session:
            return delete_query(session, session.query(AccessModel).filter(AccessModel.valid_to < now))
