"""Plate normalisation and the whitelist, kept in the plugin's database."""

from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from datetime import datetime

from openmodule_hookspecs import utcnow
from sqlalchemy.orm import Session

from .models import WhitelistEntry

_SEPARATORS = str.maketrans("", "", " -.")

Sessions = Callable[[], AbstractContextManager[Session]]


def normalise_plate(plate: str) -> str:
    """Upper-case, without spaces, dashes and dots: 'g-arivo 1' and 'GARIVO1' are the same plate."""
    return plate.upper().translate(_SEPARATORS)


class Whitelist:
    """The plates that get access, in the ``whitelist`` table."""

    def __init__(self, sessions: Sessions) -> None:
        self._sessions = sessions

    def add(self, plates: Iterable[str], note: str | None = None) -> int:
        """Add plates that are not there yet; returns how many were added."""
        added = 0
        with self._sessions() as session:
            for plate in {normalise_plate(plate) for plate in plates}:
                if session.get(WhitelistEntry, plate) is None:
                    session.add(WhitelistEntry(plate=plate, added_at=utcnow(), note=note))
                    added += 1
        return added

    def added_at(self, plate: str) -> datetime | None:
        """When the plate was added (naive UTC), or None if it is not in the whitelist."""
        with self._sessions() as session:
            entry = session.get(WhitelistEntry, normalise_plate(plate))
            return entry.added_at if entry is not None else None

    def __contains__(self, plate: object) -> bool:
        if not isinstance(plate, str):
            return False
        with self._sessions() as session:
            return session.get(WhitelistEntry, normalise_plate(plate)) is not None

    def __len__(self) -> int:
        with self._sessions() as session:
            return session.query(WhitelistEntry).count()
