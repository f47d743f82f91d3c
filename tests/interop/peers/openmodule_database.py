"""openmodule 18.5.0's ``Database``: migrate a service's database folder and write rows, as the service would.
Run ONLY with the interpreter of ``.venv-openmodule`` (openmodule is GPLv2: nothing in the project or the test
process imports it).

Input (one JSON document on stdin)::

    {"service": "<dir holding the service's database/ folder>", "folder": "<DATABASE_FOLDER>", "name": "<NAME>",
     "accesses": [{"id": ..., "plate": ..., "data": <any JSON>, "valid_from": "<ISO naive UTC>"}, ...],
     "plates": [{"access_id": ..., "plate": ...}, ...]}

It opens ``Database(folder, name, alembic_path=<service>/database)`` (which migrates to the newest revision
of that folder in a child process, as every openmodule service does at start), inserts the rows through
openmodule's column types, and prints what it then reads back through them::

    {"revision": "<alembic_version>", "accesses": {id: [plate, data, valid_from ISO]}, "plates": [[access_id, plate]]}
"""

from __future__ import annotations

import json
import os
import sys
from datetime import datetime

import sqlalchemy as sa
from openmodule.database.custom_types import JSONEncodedDict, TZDateTime
from openmodule.database.database import Database

ACCESSES = sa.table("accesses", sa.column("id"), sa.column("plate"), sa.column("data", JSONEncodedDict()),
                    sa.column("valid_from", TZDateTime()))
PLATES = sa.table("access_plates", sa.column("access_id"), sa.column("plate"))


def main() -> None:
    request = json.load(sys.stdin)
    database = Database(request["folder"], request["name"],
                        alembic_path=os.path.join(request["service"], "database"))
    with database() as session:
        for access in request["accesses"]:
            session.execute(ACCESSES.insert().values(
                id=access["id"], plate=access["plate"], data=access["data"],
                valid_from=datetime.fromisoformat(access["valid_from"])))
        for plate in request["plates"]:
            session.execute(PLATES.insert().values(**plate))
    with database() as session:
        answer = {
            "revision": session.execute(sa.text("SELECT version_num FROM alembic_version")).scalar_one(),
            "accesses": {row.id: [row.plate, row.data, row.valid_from.isoformat()]
                         for row in session.execute(sa.select(ACCESSES))},
            "plates": [list(row) for row in session.execute(sa.select(PLATES).order_by(PLATES.c.plate))],
        }
    database.shutdown()
    print(json.dumps(answer), flush=True)


if __name__ == "__main__":
    main()
