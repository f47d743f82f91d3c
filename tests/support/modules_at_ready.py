"""``python -m tests.support.modules_at_ready PLUGINS [SETTING=VALUE ...]``: start a host as the
``openmodule-host`` command does (its module imported, the config loaded from overrides and the
environment, the installed plugins selected by name) and, once it is ready, print a JSON object
``{"loaded": [...]}``: which of :data:`WATCHED` are in ``sys.modules``. Then it stops the host.

Run in a fresh interpreter, so that nothing the test process imported counts.
"""

from __future__ import annotations

import json
import sys

#: the heavy modules a host loads only when something uses them.
WATCHED = ("sqlalchemy", "alembic", "sentry_sdk", "prometheus_client", "requests", "urllib3", "yaml",
           "editdistance", "pydantic_settings", "asyncio",
           # the entry points and pydantic's plugin scan are read without it (openmodule_host.distributions)
           "importlib.metadata",
           # the child process supervision: only for plugins in a child process
           "openmodule_host.isolation.process")


def main(argv: list[str]) -> None:
    import openmodule_host.cli  # noqa: F401  (the command's own imports count)
    from openmodule_host import Host, discover, load_host_config, select_instances

    names, settings = argv[0].split(","), dict(item.split("=", 1) for item in argv[1:])
    config = load_host_config(None, overrides={"log_level": "WARNING", "dsgvo": False, **settings})
    candidates = select_instances(discover(), config.plugins, names)
    with Host(config, candidates, strict=True, report=lambda _: None):
        print(json.dumps({"loaded": [name for name in WATCHED if name in sys.modules]}), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
