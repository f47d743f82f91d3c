"""The wire models backend_x reads and writes (shapes from openmodule 18.5.0's presence interface)."""

from openmodule_hookspecs import Datetime, OpenModuleModel, ZMQMessage


class LprData(OpenModuleModel):
    source: str = "internal"
    plate: str
    country: str = "UNKNOWN"
    state: str = ""
    rows: int = 1
    from_behind: bool = False
    track_id: int = 0


class VehicleEnterMessage(ZMQMessage):
    """Topic ``present_vehicle``, type ``enter``: a vehicle arrived at a gate."""

    type: str = "enter"
    vehicle_id: str
    gate: str
    lpr_front: LprData | None = None
    lpr_back: LprData | None = None
    enter_direction: str = "unsure"
    enter_time: Datetime | None = None


class Gateway(OpenModuleModel):
    gate: str = ""
    direction: str = ""


class AccessDecisionMessage(ZMQMessage):
    """Topics ``access_accept`` / ``access_reject``: the backend's decision for a vehicle at a gate."""

    type: str = "decision"
    gateway: Gateway
    vehicle_id: str
    plate: str | None = None
