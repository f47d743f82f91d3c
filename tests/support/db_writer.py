"""Run a host whose one plugin commits numbered rows as fast as it can, printing each committed number.

    python -m tests.support.db_writer NAME '{"data_dir": ...}'     (killed by the durability test)
"""

from __future__ import annotations

import json
import sys
import threading
from pathlib import Path

from openmodule_hookspecs import PluginCore, hookimpl
from sqlalchemy import text

from openmodule_host import Host, HostConfig, PluginCandidate
from openmodule_host.testing import PrivateBroker
from tests.support.databases import MIGRATIONS


def _line(text: str) -> None:
    """One write per line: print() writes the text and the newline separately, and two threads print."""
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


class Writer:
    @hookimpl
    def database_migrations(self) -> Path:
        return MIGRATIONS / "notes"

    @hookimpl
    def register_handlers(self, core: PluginCore) -> None:
        threading.Thread(target=self.write, args=(core,), daemon=True).start()

    @staticmethod
    def write(core: PluginCore) -> None:
        number = 0
        while True:
            number += 1
            with core.database() as session:
                session.execute(text("INSERT INTO notes (id, text) VALUES (:id, 'committed')"), {"id": number})
            _line(f"committed {number}")  # only after the commit returned


def main() -> None:
    name, settings = sys.argv[1], json.loads(sys.argv[2])
    broker = PrivateBroker()
    config = HostConfig(broker="external", broker_sub=broker.sub_address, broker_pub=broker.pub_address,
                        dsgvo=False, **settings)
    host = Host(config, [PluginCandidate.from_object(name, Writer())], report=_line)
    host.start()
    threading.Event().wait()


if __name__ == "__main__":
    main()
