"""``core.scheduler``'s ``.at()`` jobs run when openmodule 18.5.0's scheduler would run them, case by case.

Random daily, every-n-days, weekly and hourly jobs at random times in several time zones go to openmodule's
own scheduler in its interpreter (``peers/openmodule_schedule.py``) and to a plugin's scheduler; their next
runs must be equal. Both compute from the clock when they are made, a moment apart: a case whose time is
within two minutes of now is left out (one of the two could be past it).
"""

from __future__ import annotations

import datetime
import json
import logging
import random
import subprocess
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from openmodule_host.isolation import Mailbox
from openmodule_host.scheduling import PluginScheduler
from openmodule_host.stats import PluginStats

from .peer import openmodule_python

pytestmark = pytest.mark.interop

PEER = Path(__file__).with_name("peers") / "openmodule_schedule.py"
ZONES = ["Europe/Vienna", "Europe/London", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe", "UTC"]
UNITS = ["day", "days", "monday", "wednesday", "sunday", "hour", "hours"]


def random_case(rng: random.Random) -> dict[str, Any]:
    unit = rng.choice(UNITS)
    interval = rng.randint(2, 5) if unit in ("days", "hours") else 1
    if unit.startswith("hour"):
        at = f"{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}"
    else:
        at = f"{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}" + rng.choice(["", f":{rng.randint(0, 59):02d}"])
    return {"interval": interval, "unit": unit, "at": at, "tz": rng.choice(ZONES)}


def near_now(case: dict[str, Any]) -> bool:
    """The case's time of day (or of the hour) is within two minutes of now in its zone."""
    now = datetime.datetime.now(ZoneInfo(case["tz"]))
    parts = [int(part) for part in case["at"].split(":")]
    if case["unit"].startswith("hour"):
        seconds, now_seconds, period = parts[0] * 60 + parts[1], now.minute * 60 + now.second, 3600
    else:
        seconds = parts[0] * 3600 + parts[1] * 60 + (parts[2] if len(parts) > 2 else 0)
        now_seconds, period = now.hour * 3600 + now.minute * 60 + now.second, 86400
    distance = abs(seconds - now_seconds)
    return min(distance, period - distance) < 120


def ours(case: dict[str, Any]) -> str:
    log = logging.getLogger("test_schedule_interop")
    # the case's zone as the plugin's TIMEZONE: .at() without a zone means it
    scheduler = PluginScheduler("p", case["tz"], Mailbox("p", 10, log), PluginStats(), log)
    job = getattr(scheduler.every(case["interval"]), case["unit"]).at(case["at"]).do(lambda: None)
    return job.next_run.isoformat()


def test_next_runs_of_at_jobs_match_openmodules():
    rng = random.Random(11)
    cases = [case for case in (random_case(rng) for _ in range(400)) if not near_now(case)]
    result = subprocess.run([str(openmodule_python()), str(PEER)], input=json.dumps(cases), capture_output=True,
                            text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr

    theirs = json.loads(result.stdout)
    mismatches = [(case, mine, their) for case, mine, their in zip(cases, map(ours, cases), theirs, strict=True)
                  if mine != their]
    assert len(cases) > 300
    assert mismatches == []
