"""backend_x: decides access for vehicles entering a gate by looking their plate up in a whitelist.

The whitelist is a table in the plugin's own database (created by its migrations, seeded from the
``whitelist`` setting). It listens for ``present_vehicle``/``enter`` and publishes an ``access_accept``
or ``access_reject`` message for the gate, and it is an access service: it answers the access checks
(RPC ``access_service``/``auth``) that name it with the whitelist's access for the plate.
"""

from pathlib import Path

from openmodule_hookspecs import (
    AccessCategory,
    AccessCheckAccess,
    AccessCheckRequest,
    Medium,
    MediumType,
    PluginCore,
    hookimpl,
)
from pydantic import BaseModel

from .messages import AccessDecisionMessage, Gateway, VehicleEnterMessage
from .whitelist import Whitelist, normalise_plate


class BackendXSettings(BaseModel):
    """The ``[plugins.backend_x]`` table."""

    whitelist: list[str] = []


@hookimpl
def config_model() -> type[BaseModel]:
    return BackendXSettings


@hookimpl
def database_migrations() -> Path:
    return Path(__file__).with_name("migrations")


@hookimpl
def register_handlers(core: PluginCore) -> None:
    whitelist = Whitelist(core.database)
    if added := whitelist.add(core.config.whitelist, note="from the configuration"):
        core.log.info("added %d plate(s) from the configuration to the whitelist", added)

    def on_enter(message: VehicleEnterMessage) -> None:
        lpr = message.lpr_front or message.lpr_back
        plate = lpr.plate if lpr is not None else None
        accepted = plate is not None and plate in whitelist
        decision = AccessDecisionMessage(
            gateway=Gateway(gate=message.gate, direction="in"), vehicle_id=message.vehicle_id, plate=plate
        )
        core.publish(decision, "access_accept" if accepted else "access_reject")
        core.log.info("vehicle %s at %s with plate %s: %s", message.vehicle_id, message.gate, plate,
                      "accepted" if accepted else "rejected")

    core.messages.register_handler("present_vehicle", VehicleEnterMessage, on_enter)
    core.log.info("whitelist with %d plate(s)", len(whitelist))


@hookimpl
def check_access(core: PluginCore, request: AccessCheckRequest) -> list[AccessCheckAccess]:
    lpr = request.vehicle.lpr
    if lpr is None or lpr.id not in Whitelist(core.database):
        return []
    plate = normalise_plate(lpr.id)
    return [AccessCheckAccess(
        id=f"backend_x-{plate}", source=core.name, category=AccessCategory.whitelist,
        used_medium=Medium(id=lpr.id, type=MediumType.lpr), access_data={"plate": plate}, accepted=True,
    )]


@hookimpl
def shutdown(core: PluginCore) -> None:
    core.log.info("backend_x stopped")
