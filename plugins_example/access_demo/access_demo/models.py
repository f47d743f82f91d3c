"""om_access_demo's table and RPC models (the service's ``models.py``; only the import lines changed)."""

from datetime import datetime

from openmodule_hookspecs import AccessCategory, Datetime, OpenModuleModel
from sqlalchemy import Column, String
from sqlalchemy.orm import declarative_base

from openmodule_host.database import JSONEncodedDict, TZDateTime

Base = declarative_base()


class AccessModel(Base):
    """One access: a plate, valid between ``valid_from`` and ``valid_to`` (naive UTC; None is open)."""

    __tablename__ = "accesses"

    id = Column(String, primary_key=True)
    plate = Column(String, nullable=False)
    lpr_search = Column(String, nullable=False, index=True)  # get_lpr_id_search(plate)
    category = Column(String, nullable=False, default=AccessCategory.permanent.value)
    valid_from = Column(TZDateTime, nullable=True)
    valid_to = Column(TZDateTime, nullable=True)
    infos = Column(JSONEncodedDict, nullable=True)  # since revision 2: shown with the access


class AccessData(OpenModuleModel):
    plate: str
    category: AccessCategory = AccessCategory.permanent
    valid_from: Datetime | None = None
    valid_to: Datetime | None = None
    infos: dict | None = None


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
