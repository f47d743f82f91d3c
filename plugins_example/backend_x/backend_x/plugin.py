"""backend_x: decides access for vehicles entering a gate by looking their plate up in a whitelist.

The whitelist is a table in the plugin's own database (created by its migrations, seeded from the
``whitelist`` setting). It listens for ``present_vehicle``/``enter`` and publishes an ``access_accept``
or ``access_reject`` message for the gate. It is a :class:`~openmodule_hookspecs.Backend`: it answers the
access checks that name it in both protocols, the 18.x ``access_service``/``auth`` with a ``whitelist``
access and the legacy ``backend``/``auth`` with a ``permanent-employee`` one, registers on topic
``backend``, and logs the check-ins and check-outs the controller counts.
"""

from pathlib import Path

from openmodule_hookspecs import (
    Access,
    AccessCategory,
    AccessCheckAccess,
    AccessCheckRequest,
    AccessRequest,
    Backend,
    CountMessage,
    LegacyAccessCategory,
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


class BackendX(Backend):
    @hookimpl
    def config_model(self) -> type[BaseModel]:
        return BackendXSettings

    @hookimpl
    def database_migrations(self) -> Path:
        return Path(__file__).with_name("migrations")

    @hookimpl
    def register_handlers(self, core: PluginCore) -> None:
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

    def check_access_service(self, request: AccessCheckRequest) -> list[AccessCheckAccess]:
        lpr = request.vehicle.lpr
        if lpr is None or lpr.id not in Whitelist(self.core.database):
            return []
        plate = normalise_plate(lpr.id)
        return [AccessCheckAccess(
            id=f"backend_x-{plate}", source=self.core.name, category=AccessCategory.whitelist,
            used_medium=Medium(id=lpr.id, type=MediumType.lpr), access_data={"plate": plate}, accepted=True,
        )]

    def check_access(self, request: AccessRequest) -> list[Access]:
        if request.medium_type is not MediumType.lpr:
            return []
        added_at = Whitelist(self.core.database).added_at(request.medium_id)
        if added_at is None:
            return []
        plate = normalise_plate(request.medium_id)
        return [Access(category=LegacyAccessCategory.permanent_employee, start=added_at, user=f"backend_x-{plate}",
                       infos={"plate": plate})]

    def check_in(self, message: CountMessage) -> None:
        self.log.info("%s checked in at %s with %s %s", message.user, message.gateway.gate, message.medium_type,
                      message.medium_id)

    def check_out(self, message: CountMessage) -> None:
        self.log.info("%s checked out at %s with %s %s", message.user, message.gateway.gate, message.medium_type,
                      message.medium_id)

    @hookimpl
    def shutdown(self, core: PluginCore) -> None:
        core.log.info("backend_x stopped")


plugin = BackendX()
