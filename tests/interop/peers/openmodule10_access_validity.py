"""Evaluate V2 accesses with openmodule 10.0.7's own ``Access.is_valid_at`` (run ONLY with the interpreter of
``.venv-openmodule10``; openmodule is GPLv2 and never imported by the project or the test process).

stdin: a JSON list of ``{"access": {...}, "at": "<naive UTC ISO>", "timezone": "Europe/Vienna"}``.
stdout: a JSON list of booleans, one per case, in order.
"""

import json
import sys
from datetime import datetime

from openmodule.models.backend import Access


def main() -> int:
    cases = json.load(sys.stdin)
    answers = [Access.parse_obj(case["access"]).is_valid_at(datetime.fromisoformat(case["at"]), case["timezone"])
               for case in cases]
    json.dump(answers, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
