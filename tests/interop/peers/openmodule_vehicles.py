"""openmodule 18.5.0's ``VehicleListener`` driven by a script of steps from stdin (one JSON document); what its
callbacks saw goes to stdout (one JSON document). Run ONLY with the interpreter of ``.venv-openmodule``
(openmodule is GPLv2: nothing in the project or the test process imports it).

Input: a list of scripts ``{"gate": <the listener's gate or null>, "listen": [[gate, filter_type], ...],
"steps": [...]}`` with steps ``["message", {present_vehicle message}]``, ``["lock_present", gate]``,
``["lock_id", vehicle_id]``.
Output: for each script ``{"calls": [...], "triggers": [gate, ...], "present": {...}, "previous": [...]}`` (see
``tests/interop/test_vehicle_listener_interop.py``).
"""

from __future__ import annotations

import json
import logging
import sys
import types

from openmodule.config import settings

settings.configure(types.SimpleNamespace(NAME="om_vehicles_1", VERSION="test", RESOURCE="test", DEBUG=False,
                                         TESTING=True, LOG_LEVEL=logging.CRITICAL))

from openmodule.dispatcher import MessageDispatcher  # noqa: E402
from openmodule.models.vehicle_listener import PresenceTriggerResponse  # noqa: E402
from openmodule.utils.vehicle_listener import VehicleListener  # noqa: E402


def describe(vehicle):
    if vehicle is None:
        return None
    lprs = [lpr.plate if lpr else None for lpr in (vehicle.lpr_front, vehicle.lpr_back)]
    return [vehicle.vehicle_id, vehicle.gate, lprs, str(vehicle.enter_direction), vehicle.locked,
            vehicle.leave_time is not None]


class Triggers:
    def __init__(self):
        self.gates = []

    def rpc(self, channel, type_, request, response_class, *args, **kwargs):
        self.gates.append(request.gate)
        return PresenceTriggerResponse()


def run(script):
    dispatcher = MessageDispatcher(name="vehicles")
    triggers = Triggers()
    listener = VehicleListener(dispatcher, triggers, gate=script["gate"])
    calls = []
    for gate, filter_type in script["listen"]:
        listener.add_listener(gate, filter_type, lambda vehicle, message, kind=filter_type: calls.append(
            [kind, message.type, getattr(message, "vehicle_id", None), describe(vehicle)]))
    for step, argument in script["steps"]:
        if step == "message":
            dispatcher.dispatch("present_vehicle", argument)
        elif step == "lock_present":
            listener.lock_present_vehicle(argument)
        elif step == "lock_id":
            listener.lock_vehicle_id(argument)
    return {"calls": calls, "triggers": triggers.gates,
            "present": {gate: describe(vehicle) for gate, vehicle in listener.present_vehicles.items()},
            "previous": sorted(listener.previous_present_vehicles)}


def main() -> None:
    logging.disable(logging.CRITICAL)
    json.dump([run(script) for script in json.load(sys.stdin)], sys.stdout)


if __name__ == "__main__":
    main()
