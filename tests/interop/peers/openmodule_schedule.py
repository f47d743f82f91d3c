"""openmodule 18.5.0's scheduler (``openmodule.utils.schedule``), run on cases from stdin (one JSON document),
answers on stdout (one JSON document). Run ONLY with the interpreter of ``.venv-openmodule`` (openmodule is
GPLv2: nothing in the project or the test process imports it).

Input: ``[{"interval": 1, "unit": "day", "at": "02:00", "tz": "Europe/Vienna"}, ...]`` (``unit`` is a
``Job`` attribute: ``day``, ``days``, ``hour``, ``monday``, ...).
Output: each job's ``next_run`` (naive local time, ISO format), case by case.
"""

from __future__ import annotations

import json
import sys

from openmodule.utils.schedule import Scheduler


def main() -> None:
    scheduler = Scheduler()
    answers = []
    for case in json.load(sys.stdin):
        job = getattr(scheduler.every(case["interval"]), case["unit"]).at(case["at"], case["tz"]).do(lambda: None)
        answers.append(job.next_run.isoformat())
    json.dump(answers, sys.stdout)


if __name__ == "__main__":
    main()
