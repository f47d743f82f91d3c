"""``Access.is_valid_at`` (the V2 access model) against openmodule 10.0.7's own, on a few hundred random
accesses and instants: bounded and open-ended, daily and weekly recurrences whose windows cross midnight and
the DST changes of their time zone. The conversion of V2 accesses to 18.x ones decides ``accepted`` with it."""

from __future__ import annotations

import json
import random
import subprocess
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from openmodule_hookspecs import Access

from .peer import openmodule10_python

pytestmark = pytest.mark.interop

SCRIPT = Path(__file__).resolve().with_name("peers") / "openmodule10_access_validity.py"
RULES = ["RRULE:FREQ=DAILY", "RRULE:FREQ=WEEKLY;BYDAY=MO,WE,SA", "RRULE:FREQ=DAILY;INTERVAL=3",
         "RRULE:FREQ=MONTHLY;BYMONTHDAY=1,15"]
ZONES = ["Europe/Vienna", "UTC", "America/New_York"]
DST_CHANGES = [datetime(2024, 3, 31, 1), datetime(2024, 10, 27, 1), datetime(2024, 3, 10, 7), datetime(2024, 11, 3, 6)]


def random_instant(rng: random.Random) -> datetime:
    if rng.random() < 0.4:  # close to a DST change
        return rng.choice(DST_CHANGES) + timedelta(minutes=rng.randint(-36 * 60, 36 * 60))
    return datetime(2023, 6, 1) + timedelta(minutes=rng.randint(0, 2 * 365 * 24 * 60))


def random_case(rng: random.Random) -> dict[str, Any]:
    """Most instants are near an occurrence (within an hour of its window), so both outcomes are common."""
    at = random_instant(rng)
    start = at - timedelta(days=rng.randint(-20, 400))
    access: dict[str, Any] = {"category": "booked-visitor", "start": start.isoformat(), "user": "u"}
    if rng.random() < 0.4:
        access["end"] = (start + timedelta(hours=rng.randint(1, 24 * 500))).isoformat()
    if rng.random() < 0.8:
        first = at - timedelta(days=rng.randint(0, 200), minutes=rng.randint(-60, 12 * 60))
        access["recurrence"] = f"DTSTART:{first:%Y%m%dT%H%M%S}Z\n{rng.choice(RULES)}"
        access["duration"] = rng.choice([60, 1800, 3600, 3 * 3600, 10 * 3600, 23 * 3600])
    return {"access": access, "at": at.isoformat(), "timezone": rng.choice(ZONES)}


def test_is_valid_at_agrees_with_openmodule_10():
    rng = random.Random(12)
    cases = [random_case(rng) for _ in range(400)]
    result = subprocess.run([str(openmodule10_python()), str(SCRIPT)], input=json.dumps(cases), text=True,
                            capture_output=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    theirs = json.loads(result.stdout)
    ours = [Access.model_validate(case["access"]).is_valid_at(datetime.fromisoformat(case["at"]), case["timezone"])
            for case in cases]
    differing = [(case, mine, other) for case, mine, other in zip(cases, ours, theirs, strict=True) if mine != other]
    assert differing == []
    assert 40 < sum(ours) < 360  # both outcomes are well represented, with recurrences too
    assert sum(valid for case, valid in zip(cases, ours, strict=True) if "recurrence" in case["access"]) > 20
