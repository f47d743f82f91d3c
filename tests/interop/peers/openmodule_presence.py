"""openmodule 18.5.0's ``PresenceListener`` driven by scripts of ``presence`` messages from stdin (one JSON
document); what its callbacks saw and the state it ended in go to stdout (one JSON document). Run ONLY with
the interpreter of ``.venv-openmodule`` (openmodule is GPLv2: nothing in the project or the test process
imports it).

Input: a list of scripts ``{"gate": <the listener's gate or null>, "timeout": <deduplication timeout in
seconds>, "clock": <unix seconds>, "steps": [...]}`` with steps ``["message", <presence message>]`` and
``["advance", <seconds>]``. The listener's clock (its ``utcnow``) starts at ``clock`` and moves only with
``advance`` steps, so that every time it takes from the clock is the same in each run.

With the argument ``models``, the input is a list of ``[model class name, data]`` instead, and the output
for each the body openmodule's model makes of the data (``json_bytes``), or ``null`` if it is invalid.
Output: for each script ``{"calls": [...], "errors": [...], "state": {...}}`` (see
``tests/interop/test_presence_listener_interop.py``, which computes the same for ours).
"""

from __future__ import annotations

import json
import logging
import sys
import types
from datetime import UTC, datetime, timedelta

from openmodule.config import settings

settings.configure(types.SimpleNamespace(NAME="om_presence_peer_1", VERSION="test", RESOURCE="test", DEBUG=False,
                                         TESTING=True, LOG_LEVEL=logging.CRITICAL))

import openmodule.models.presence  # noqa: E402
import openmodule.models.vehicle  # noqa: E402
import openmodule.utils.presence  # noqa: E402
from openmodule.dispatcher import MessageDispatcher  # noqa: E402
from openmodule.utils.presence import PresenceListener  # noqa: E402

EVENTS = ["enter", "change", "leave", "forward", "backward"]


class Clock:
    def __init__(self, start):
        self.now = datetime.fromtimestamp(start, UTC).replace(tzinfo=None)

    def __call__(self):
        return self.now


def describe(vehicle):
    return [vehicle.model_dump(mode="json"), str(vehicle)]


def state(listener):
    return {
        "present": {gate: describe(vehicle) for gate, vehicle in sorted(listener.present_vehicles.items())},
        "areas": dict(sorted(listener.area_name_of_present.items())),
        "drop": sorted([vehicle_id, entry.drop_always] for vehicle_id, entry in listener.drop_list.items()),
        "never_drop": sorted(listener.never_drop_list),
        "left": {gate: [[entry.plate, entry.present_area_name, sorted(entry.drop_list)] for entry in entries]
                 for gate, entries in sorted(listener.last_vehicle_data.items())},
    }


def run(script):
    clock = openmodule.utils.presence.utcnow = Clock(script["clock"])
    dispatcher = MessageDispatcher(name="presence", raise_handler_errors=True)
    listener = PresenceListener(dispatcher, gate=script["gate"],
                                deduplication_timeout=timedelta(seconds=script["timeout"]))
    calls, errors = [], []
    for event in EVENTS:
        getattr(listener, f"on_{event}").append(
            lambda vehicle, gateway, event=event: calls.append([event, describe(vehicle), str(gateway)]))
    for number, (step, argument) in enumerate(script["steps"]):
        if step == "advance":
            clock.now += timedelta(seconds=argument)
            continue
        try:
            dispatcher.dispatch("presence", argument)
        except Exception as error:
            errors.append([number, type(error).__name__])
    return {"calls": calls, "errors": errors, "state": state(listener)}


def encode(class_name, data):
    model_class = getattr(openmodule.models.presence, class_name, None) or getattr(openmodule.models.vehicle,
                                                                                  class_name)
    try:
        return model_class.model_validate(data).json_bytes().decode()
    except ValueError:  # pydantic's ValidationError is one
        return None


def main() -> None:
    logging.disable(logging.CRITICAL)
    if sys.argv[1:] == ["models"]:
        json.dump([encode(class_name, data) for class_name, data in json.load(sys.stdin)], sys.stdout)
    else:
        json.dump([run(script) for script in json.load(sys.stdin)], sys.stdout)


if __name__ == "__main__":
    main()
