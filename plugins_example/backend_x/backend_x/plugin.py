"""backend_x: decides access for vehicles entering a gate by looking their plate up in a whitelist.

It listens for ``present_vehicle``/``enter`` and publishes an ``access_accept`` or ``access_reject``
message for the gate. Later versions add the ``access_service``/``auth`` RPC and a database table.
"""

from openmodule_hookspecs import PluginCore, hookimpl
from pydantic import BaseModel

from .messages import AccessDecisionMessage, Gateway, VehicleEnterMessage
from .whitelist import Whitelist


class BackendXSettings(BaseModel):
    """The ``[plugins.backend_x]`` table."""

    whitelist: list[str] = []


@hookimpl
def config_model() -> type[BaseModel]:
    return BackendXSettings


@hookimpl
def register_handlers(core: PluginCore) -> None:
    whitelist = Whitelist(core.config.whitelist)

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
def shutdown(core: PluginCore) -> None:
    core.log.info("backend_x stopped")
