"""om_access_demo's table and RPC models (the service's ``models.py``: the import lines changed, and the
columns are declared SQLAlchemy 2's typed way, ``Mapped[...] = mapped_column(...)``, so mypy knows a row's
values; the table is the same)."""

from datetime import datetime
from typing import Any

from openmodule_hookspecs import AccessCategory, Datetime, OpenModuleModel
from sqlalchemy import String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from openmodule_host.database import JSONEncodedDict, TZDateTime


class Base(DeclarativeBase):
    pass


class AccessModel(Base):
    """One access: a plate, valid between ``valid_from`` and ``valid_to`` (naive UTC; None is open)."""

    __tablename__ = "accesses"

    id: Mapped[str] = mapped_column(String, primary_key=True)
    plate: Mapped[str] = mapped_column(String, nullable=False)
    lpr_search: Mapped[str] = mapped_column(String, nullable=False, index=True)  # get_lpr_id_search(plate)
    category: Mapped[str] = mapped_column(String, nullable=False, default=AccessCategory.permanent.value)
    valid_from: Mapped[datetime | None] = mapped_column(TZDateTime, nullable=True)
    valid_to: Mapped[datetime | None] = mapped_column(TZDateTime, nullable=True)
    #: since revision 2: shown with the access
    infos: Mapped[dict[str, Any] | None] = mapped_column(JSONEncodedDict, nullable=True)


class AccessData(OpenModuleModel):
    plate: str
    category: AccessCategory = AccessCategory.permanent
    valid_from: Datetime | None = None
    valid_to: Datetime | None = None
    infos: dict[str, Any] | None = None


class SetAccessesRequest(OpenModuleModel):
    """RPC ``access_demo``/``set`` for the service ``name``: each id's access, ``None`` deletes it."""

    name: str
    accesses: dict[str, AccessData | None]


class SetAccessesResponse(OpenModuleModel):
    changed: int
    total: int


def is_valid(access: AccessModel, now: datetime) -> bool:
    """Whether ``access`` is valid at ``now`` (naive UTC)."""
    started = access.valid_from is None or access.valid_from <= now
    return started and (access.valid_to is None or now <= access.valid_to)
