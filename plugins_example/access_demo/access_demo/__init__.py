"""om_access_demo: an access service with its accesses in its own database (example plugin).

Ported from an openmodule 18.5.0 access service (``AccessService``, SQLite + Alembic): the models and
migrations changed only their import lines; see docs/porting-from-openmodule.md.
"""

from .accesses import AccessStore
from .models import AccessData, AccessModel, SetAccessesRequest, SetAccessesResponse

__all__ = ["AccessData", "AccessModel", "AccessStore", "SetAccessesRequest", "SetAccessesResponse"]
