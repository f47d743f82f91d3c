"""The VehicleListener follows the vehicles as openmodule 18.5.0's does, message by message.

Hundreds of random scripts of ``present_vehicle`` messages (enter, change, leave, forward, backward, passing,
empty enter/leave, triggered, init; consistent and inconsistent, some invalid) and locks go through
openmodule's own ``VehicleListener`` (in its interpreter, ``peers/openmodule_vehicles.py``) and ours; the
callbacks each one calls (filter type, message, the present vehicle they get), the presence triggers it
asks for and the state it ends in must be the same.
"""

from __future__ import annotations

import json
import random
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from openmodule_host.utils import FilterType, VehicleListener

from .peer import openmodule_python

pytestmark = pytest.mark.interop

PEER = Path(__file__).with_name("peers") / "openmodule_vehicles.py"
GATES = ["entry1", "exit1"]
TYPES = ["enter", "change", "leave", "forward", "backward", "passing", "empty_enter", "empty_leave", "triggered",
         "init"]


class LocalDispatcher:
    """Delivers messages straight to the handlers, as openmodule's single-threaded ``MessageDispatcher``
    does: every registration on the topic whose type (the class's default) and filter match, in order."""

    def __init__(self) -> None:
        self.registrations: list[tuple[str, type[BaseModel], Any, Any]] = []

    def register_handler(self, topic: str, message_class: type[BaseModel], handler: Any, filter_: Any = None) -> None:
        self.registrations.append((topic, message_class, handler, filter_))

    def dispatch(self, topic: str, message: dict[str, Any]) -> None:
        for registered_topic, message_class, handler, filter_ in self.registrations:
            if registered_topic != topic or message.get("type") != message_class.model_fields["type"].default:
                continue
            if filter_ is not None and not filter_(message):
                continue
            try:
                model = message_class.model_validate(message)
            except ValidationError:
                continue
            handler(model)


class Triggers:
    def __init__(self) -> None:
        self.gates: list[str] = []

    def rpc(self, channel: str, type: str, request: Any, response_class: Any, *args: Any, **kwargs: Any) -> Any:
        self.gates.append(request.gate)
        return response_class()


def describe(vehicle: Any) -> list[Any] | None:
    if vehicle is None:
        return None
    lprs = [lpr.plate if lpr else None for lpr in (vehicle.lpr_front, vehicle.lpr_back)]
    return [vehicle.vehicle_id, vehicle.gate, lprs, str(vehicle.enter_direction), vehicle.locked,
            vehicle.leave_time is not None]


def run_ours(script: dict[str, Any]) -> dict[str, Any]:
    dispatcher, triggers = LocalDispatcher(), Triggers()
    listener = VehicleListener(dispatcher, triggers, gate=script["gate"])
    calls: list[Any] = []
    for gate, filter_type in script["listen"]:
        listener.add_listener(gate, FilterType(filter_type), lambda vehicle, message, kind=filter_type: calls.append(
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


def lpr(rng: random.Random) -> dict[str, Any] | None:
    if rng.random() < 0.3:
        return None
    # mostly one plate, so that changes often keep it (and change only its country)
    return {"plate": rng.choice(["GARIVO1", "GARIVO1", "GARIVO1", "W12345", "ABC1"]), "country": rng.choice(["A", "D"]),
            "from_behind": rng.random() < 0.2}


def message(rng: random.Random, now: float) -> dict[str, Any]:
    kind = rng.choice(TYPES)
    body: dict[str, Any] = {"timestamp": now, "name": "om_presence_1", "type": kind, "gate": rng.choice(GATES)}
    vehicle_id = rng.choice(["1", "2", "3", "4"])
    direction = rng.choice(["forward", "backward", "unsure"])
    if kind == "init":
        if rng.random() < 0.6:
            body["vehicle_id"] = vehicle_id
        return body
    body["vehicle_id"] = vehicle_id
    if kind == "passing":
        body.update(lpr=lpr(rng) or {"plate": "P1"}, enter_direction=direction, leave_direction=direction)
        return body
    body["enter_time"] = now - 5
    if kind in ("leave", "forward", "backward", "empty_leave"):
        body["leave_time"] = rng.choice([now, now - 3600])  # an hour ago: forgotten at the next leave
    if kind in ("empty_enter", "empty_leave"):
        return body
    body.update(lpr_front=lpr(rng), lpr_back=lpr(rng) if rng.random() < 0.3 else None)
    if kind != "triggered" or rng.random() < 0.5:
        body["enter_direction"] = direction
    return {key: value for key, value in body.items() if value is not None}


def script(rng: random.Random) -> dict[str, Any]:
    gate = rng.choice([None, None, "entry1"])
    listen = [[g, f] for g in GATES for f in FilterType if rng.random() < 0.7]
    listened = sorted({g for g, _ in listen})
    steps: list[Any] = []
    now = time.time()  # vehicles that left are forgotten after 5 minutes of the real clock
    for _ in range(rng.randint(5, 30)):
        now += 1
        roll = rng.random()
        if roll < 0.05 and listened:
            steps.append(["lock_present", rng.choice(listened)])
        elif roll < 0.1:
            steps.append(["lock_id", rng.choice(["1", "2", "3", "4"])])
        else:
            steps.append(["message", message(rng, now)])
    return {"gate": gate, "listen": listen, "steps": steps}


@pytest.fixture(scope="module")
def scripts() -> list[dict[str, Any]]:
    rng = random.Random(1128)
    return [script(rng) for _ in range(300)]


def run_openmodule(scripts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    result = subprocess.run([str(openmodule_python()), str(PEER)], input=json.dumps(scripts), capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout)


def test_the_listener_follows_the_vehicles_as_openmodules_does(scripts):
    differences = []
    for number, (case, theirs) in enumerate(zip(scripts, run_openmodule(scripts), strict=True)):
        if (ours := run_ours(case)) != theirs:
            differences.append((number, case, ours, theirs))
    assert differences == []
    results = [run_ours(case) for case in scripts]
    assert sum(len(result["calls"]) for result in results) > 1000  # the scripts do make the callbacks fire
    kinds = {call[0] for result in results for call in result["calls"]}
    assert kinds == set(FilterType)  # every filter type fired somewhere
    assert sum(len(result["triggers"]) for result in results) > 10
