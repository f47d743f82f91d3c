"""The PresenceListener follows the vehicles as openmodule 18.5.0's does, message by message.

Hundreds of random scripts of ``presence`` messages (enter, change, leave, forward, backward; two gates, two
present areas, vehicles with and without media, plates that are the same in the legacy charset, leave
times by alias, by name or missing, some invalid messages) go through openmodule's own ``PresenceListener``
(in its interpreter, ``peers/openmodule_presence.py``) and ours: the callbacks each one calls (event, the
vehicle it gets, the gateway), in order, and the state it ends in (present vehicles and their areas, the
drop lists, the left vehicles kept for de-duplication) must be the same. Each listener's clock is a fake
one that moves only with the script (seconds past the de-duplication timeout, minutes, an hour), so the
timeouts are crossed at the same message in both and the times it takes from the clock are comparable.
"""

from __future__ import annotations

import json
import random
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import openmodule_hookspecs
import pytest
from pydantic import BaseModel, ValidationError

from openmodule_host.utils import PresenceListener, presence_listener

from .peer import openmodule_python

pytestmark = pytest.mark.interop

PEER = Path(__file__).with_name("peers") / "openmodule_presence.py"
EVENTS = ["enter", "change", "leave", "forward", "backward"]
TYPES = ["enter", "enter", "change", "change", "leave", "forward", "backward"]
GATES = ["entry1", "entry1", "entry1", "exit1"]
AREAS = ["entry1-cam1", "entry1-cam2"]
#: the same plate in the legacy charset (O and Q are 0, umlauts their base letter, separators dropped), and others
PLATES = ["G ARIVO1", "GARIV01", "g-arivq1", "W12345", "ÖBB 7"]
#: de-duplication timeouts: running, expired (kept), expired and forgotten at once (after 10 minutes more)
TIMEOUTS = [10, 10, 0, 60]
#: how far the clock moves between two messages: rarely; mostly across the de-duplication timeout, sometimes
#: past the 10 minutes a left vehicle is kept, or the hour a dropped vehicle stays dropped
ADVANCES = [3, 6, 11, 25, 700, 3700]


class LocalDispatcher:
    """Delivers messages straight to the handlers, as openmodule's single-threaded ``MessageDispatcher``
    does: every registration on the topic whose type (the class's default) matches, in order; an invalid
    message is skipped, a handler's exception is raised (so that it shows in the comparison)."""

    def __init__(self) -> None:
        self.registrations: list[tuple[str, type[BaseModel], Any]] = []

    def register_handler(self, topic: str, message_class: type[BaseModel], handler: Any) -> None:
        self.registrations.append((topic, message_class, handler))

    def dispatch(self, topic: str, message: dict[str, Any]) -> None:
        for registered_topic, message_class, handler in self.registrations:
            if registered_topic != topic or message.get("type") != message_class.model_fields["type"].default:
                continue
            try:
                model = message_class.model_validate(message)
            except ValidationError:
                continue
            handler(model)


class Clock:
    def __init__(self, start: float) -> None:
        self.now = datetime.fromtimestamp(start, UTC).replace(tzinfo=None)

    def __call__(self) -> datetime:
        return self.now


def describe(vehicle: Any) -> list[Any]:
    return [vehicle.model_dump(mode="json"), str(vehicle)]


def state(listener: PresenceListener) -> dict[str, Any]:
    return {
        "present": {gate: describe(vehicle) for gate, vehicle in sorted(listener.present_vehicles.items())},
        "areas": dict(sorted(listener.area_name_of_present.items())),
        "drop": sorted([vehicle_id, entry.always] for vehicle_id, entry in listener.drop_list.items()),
        "never_drop": sorted(listener.never_drop_list),
        "left": {gate: [[entry.plate, entry.present_area_name, sorted(entry.drop)] for entry in entries]
                 for gate, entries in sorted(listener.last_vehicle_data.items())},
    }


def run_ours(script: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    clock = Clock(script["clock"])
    monkeypatch.setattr(presence_listener, "utcnow", clock)
    dispatcher = LocalDispatcher()
    listener = PresenceListener(dispatcher, gate=script["gate"],
                                deduplication_timeout=timedelta(seconds=script["timeout"]))
    calls: list[Any] = []
    errors: list[Any] = []
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


def iso(unix: float) -> str:
    return datetime.fromtimestamp(unix, UTC).replace(tzinfo=None).isoformat()


def medium(rng: random.Random) -> tuple[dict[str, Any], dict[str, Any]]:
    """``medium`` and ``all_ids`` of a vehicle: nothing (often), a plate, a QR code, a card, a PIN, or a mix."""
    media: dict[str, Any] = {}
    if rng.random() < 0.5:
        media["lpr"] = {"id": rng.choice(PLATES), "type": "lpr",
                        "country": {"code": rng.choice(["A", "D"]), "state": "G", "confidence": 0.9},
                        "confidence": 0.8, "alternatives": [{"confidence": 0.5, "plate": "X1"}]}
    for kind in ("qr", "nfc", "pin"):
        if rng.random() < 0.12:
            media[kind] = {"id": f"{kind}-{rng.randint(1, 2)}", "type": kind}
    if "qr" in media and rng.random() < 0.5:
        media["qr"]["binary"] = "YWJj"
    return media, {kind: [value] for kind, value in media.items()}


def message(rng: random.Random, now: float, vehicles: list[int]) -> dict[str, Any]:
    kind = rng.choice(TYPES)
    vehicle_id = rng.choice(vehicles)
    media, all_ids = medium(rng)
    body: dict[str, Any] = {
        "timestamp": now, "name": "om_tracking_1", "type": kind, "vehicle_id": vehicle_id, "source": "entry1",
        "present-area-name": rng.choice(AREAS), "last_update": iso(now - 0.5),
        "gateway": {"gate": rng.choice(GATES), "direction": rng.choice(["in", "out", ""])},
        "medium": media, "all_ids": all_ids, "enter_direction": rng.choice(["forward", "backward", "unknown"]),
    }
    if rng.random() < 0.3:
        body["enter_time"] = iso(vehicle_id / 1e9 + rng.choice([0.25, -7200]))  # else derived from the id
    if rng.random() < 0.1:
        body["make_model"] = {"make": "VW", "make_confidence": 0.7}
    if rng.random() < 0.1:
        body["present_area_name"] = body.pop("present-area-name")  # by name
    if kind == "leave":
        roll = rng.random()
        if roll < 0.4:
            body["leave-time"] = iso(now - 1)
        elif roll < 0.6:
            body["leave_time"] = iso(now - 2)
        body["num-presents"] = rng.randint(0, 2)
        # else: the envelope timestamp is the leave time
    elif kind in ("forward", "backward"):
        if rng.random() < 0.95:  # else invalid: forward and backward need a leave time
            body["leave-time"] = iso(now - 1)
        body["unsure"] = rng.random() < 0.2
    elif kind == "change" and rng.random() < 0.3:
        body["change_vehicle_id"] = rng.random() < 0.5
    if rng.random() < 0.02:
        body["vehicle_id"] = "not a number"
    if rng.random() < 0.02:
        del body["gateway"]
    return body


def script(rng: random.Random, start: float) -> dict[str, Any]:
    now = start
    # nanosecond ids: vehicles first seen lately, and vehicles seen two hours ago (never kept "never drop")
    vehicles = [int((start - rng.randint(1, 60)) * 10**9) - number for number in range(4)]
    vehicles += [int((start - 7200) * 10**9) - number for number in range(2)]
    steps: list[Any] = []
    for _ in range(rng.randint(5, 40)):
        if rng.random() < 0.15:
            advance = rng.choice(ADVANCES)
            now += advance
            steps.append(["advance", advance])
        now += rng.random()
        steps.append(["message", message(rng, now, rng.sample(vehicles, 3))])
    return {"gate": rng.choice([None, None, "entry1"]), "timeout": rng.choice(TIMEOUTS), "clock": start,
            "steps": steps}


@pytest.fixture(scope="module")
def scripts() -> list[dict[str, Any]]:
    rng = random.Random(1112)
    return [script(rng, 1717236000.0 + 86400 * number) for number in range(400)]


def run_openmodule(scripts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    result = subprocess.run([str(openmodule_python()), str(PEER)], input=json.dumps(scripts), capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout)


def test_the_listener_follows_the_vehicles_as_openmodules_does(scripts, monkeypatch):
    theirs = run_openmodule(scripts)
    ours = [run_ours(case, monkeypatch) for case in scripts]
    differences = [(number, case, mine, reference) for number, (case, mine, reference)
                   in enumerate(zip(scripts, ours, theirs, strict=True)) if mine != reference]
    assert differences == []
    # the scripts do reach every part of the listener
    calls = [call for result in ours for call in result["calls"]]
    assert len(calls) > 2000
    assert {call[0] for call in calls} == set(EVENTS)
    assert all(result["errors"] == [] for result in ours)
    assert sum(len(result["state"]["drop"]) for result in ours) > 50  # duplicates were dropped
    assert sum(sum(len(entry[2]) for entry in entries) for result in ours
               for entries in result["state"]["left"].values()) > 10  # ... also after the other camera's leave
    # faked leaves: their leave time is the clock's, in whole seconds (the messages' have fractions)
    assert sum(call[0] == "leave" and "." not in call[1][0]["leave_time"] for call in calls) > 50



MODELS = ["PresenceEnterMessage", "PresenceChangeMessage", "PresenceLeaveMessage", "PresenceForwardMessage",
          "PresenceBackwardMessage", "PresenceBaseData", "PresenceRPCResponse", "Vehicle"]


def test_the_models_read_and_write_presence_messages_as_openmodules_do(scripts):
    """Every message of the scripts (and the same data as the other models, as get-present answers and as
    vehicles), read by each side's model and written back: the same body byte for byte, or invalid in both."""
    bodies = [step[1] for case in scripts[:60] for step in case["steps"] if step[0] == "message"]
    cases = [[name, body] for body in bodies for name in MODELS[:5]]
    cases += [["PresenceBaseData", body] for body in bodies]
    cases += [["PresenceRPCResponse", {"presents": bodies[index:index + 2]}] for index in range(0, len(bodies), 7)]
    cases += [["Vehicle", {**body, "id": body["vehicle_id"], **body["medium"]}] for body in bodies]
    result = subprocess.run([str(openmodule_python()), str(PEER), "models"], input=json.dumps(cases),
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    theirs = json.loads(result.stdout)

    def ours(name: str, data: dict[str, Any]) -> str | None:
        try:
            return getattr(openmodule_hookspecs, name).model_validate(data).json_bytes().decode()
        except ValidationError:
            return None

    differences = [(case, mine, reference) for case, reference in zip(cases, theirs, strict=True)
                   if (mine := ours(*case)) != reference]
    assert differences == []
    assert sum(body is None for body in theirs) > 100  # (types that are not the message's own: a leave without
    assert sum(body is not None for body in theirs) > 1000  # leave-time is invalid as a forward, ...)
