"""om_access_demo's hooks: what the openmodule access service's ``main()`` did.

``init_openmodule(config, database=True)`` became the ``database_migrations`` hook (the host migrates
``core.database`` before ``register_handlers``); the ``AccessService`` subclass's ``rpc_check_access``
became the ``check_access`` hook (the host serves ``access_service``/``auth`` for requests naming this
NAME, as ``AccessService.register_rpcs`` did); the main loop's cleanup job became ``core.every``.
"""

from pathlib import Path

from openmodule_hookspecs import (
    AccessCheckAccess,
    AccessCheckRequest,
    HealthMetricType,
    PluginCore,
    RPCRequest,
    hookimpl,
)
from pydantic import BaseModel

from .accesses import AccessStore
from .models import SetAccessesRequest, SetAccessesResponse


class AccessDemoSettings(BaseModel):
    """An instance's table (``[plugins.om_access_demo]``)."""

    cleanup_seconds: float = 3600.0  # how often expired accesses are deleted


@hookimpl
def config_model() -> type[BaseModel]:
    return AccessDemoSettings


@hookimpl
def database_migrations() -> Path:
    """openmodule's layout: the Alembic revisions in ``database/versions``."""
    return Path(__file__).parent / "database" / "versions"


@hookimpl
def register_handlers(core: PluginCore) -> None:
    store = AccessStore(core.database, core.name)
    core.health.add_metric("accesses", HealthMetricType.gauge, "Accesses", "accesses in the database")
    core.health.metric_set("accesses", store.count())

    def rpc_set(request: SetAccessesRequest, _message: RPCRequest) -> SetAccessesResponse:
        changed = store.set(request.accesses)
        total = store.count()
        core.health.metric_set("accesses", total)
        return SetAccessesResponse(changed=changed, total=total)

    def cleanup() -> None:
        if deleted := store.delete_expired():
            core.log.info("deleted %d expired access(es)", deleted)
            core.health.metric_set("accesses", store.count())

    core.rpc_server.register_handler("access_demo", "set", SetAccessesRequest, SetAccessesResponse, rpc_set,
                                     key="name")
    core.every(core.config.cleanup_seconds, cleanup)


@hookimpl
def check_access(core: PluginCore, request: AccessCheckRequest) -> list[AccessCheckAccess]:
    lpr = request.vehicle.lpr
    return AccessStore(core.database, core.name).find(lpr.id) if lpr is not None else []
