"""A plugin's child process (``python -m openmodule_host.child``), started by :class:`~.isolation.PluginProcess`.

It reads one JSON line from stdin: ``{"config": <HostConfig fields>, "plugin": {"name", "target", "version",
"distribution", "instance_of"}, "plugin_flags": {key: [flag, value]}, "status": {"fd", "interval"}}`` (the
flags: the parent's command line settings for the plugin, and ``ISOLATION`` "thread"), on PostgreSQL also
``"database": {"url", "schema", "role"}``: the plugin's schema and login role as the parent prepared them, used
as they are (the config has no ``database_url``: the child never sees the ``DATABASE_URL`` user's password,
unless the server refused to create the role and the plugin logs in as that user). It runs a host with that
one plugin (``strict``: a plugin that fails to start ends the process with status 1, its reason on stdout; a
wrong setting with status 2 and a ``config error: "<the error as a JSON string>"`` line). While the plugin
runs, it reports the plugin's status on the pipe ``fd`` every ``interval`` seconds (see :mod:`.isolation.status`). It
stops on SIGTERM or SIGINT, and when its stdin closes (the parent is gone).
"""

from __future__ import annotations

import json
import logging
import sys
import threading
from functools import partial
from typing import Any

from .config import HostConfig, with_plugin_flags
from .database import DatabaseTarget
from .distributions import load_target
from .errors import ConfigError, HostError
from .health import plugin_status, plugin_values
from .host import Host
from .isolation.process import CONFIG_ERROR_PREFIX
from .isolation.status import MAX_MESSAGE, ChildReport, StatusReporter
from .loader import PluginCandidate
from .observability import configure_logging
from .stop_signals import stop_on_signals

__all__ = ["main"]


def _candidate(plugin: dict[str, Any]) -> PluginCandidate:
    return PluginCandidate(name=plugin["name"], distribution=plugin["distribution"], version=plugin["version"],
                           target=plugin["target"], load=partial(load_target, plugin["target"]),
                           instance_of=plugin["instance_of"])


def _stop_when_stdin_closes(host: Host) -> None:
    def watch() -> None:
        while sys.stdin.readline():
            pass
        host.request_stop()

    threading.Thread(target=watch, name="omh-parent-watch", daemon=True).start()


def _report(host: Host, plugin: str) -> ChildReport | None:
    """The plugin's state as this host's health sees it, and its figures; None unless it runs."""
    hosted = host.plugins[plugin]
    status = plugin_status(hosted, host.config.stall_after)
    if status.state not in ("running", "degraded"):
        return None
    values = plugin_values(hosted)
    del values["plugin_restarts"]  # the parent's own figure
    message = status.message[:MAX_MESSAGE] if status.message is not None else None
    return ChildReport.model_validate({"state": status.state, "message": message, **values})


def _databases(spec: dict[str, Any]) -> dict[str, DatabaseTarget]:
    """The plugin's prepared PostgreSQL target, if the parent sent one."""
    database = spec.get("database")
    if database is None:
        return {}
    from sqlalchemy.engine import make_url  # a plugin without a PostgreSQL schema never loads SQLAlchemy

    return {spec["plugin"]["name"]: DatabaseTarget(make_url(database["url"]), database["schema"], database["role"])}


def main() -> int:
    spec = json.loads(sys.stdin.readline())
    config = with_plugin_flags(HostConfig.model_validate(spec["config"]), spec.get("plugin_flags", {}))
    configure_logging(config.log_level, config.log_format)
    host = Host(config, [_candidate(spec["plugin"])], strict=True, report=lambda line: print(line, flush=True),
                databases=_databases(spec))
    stop_on_signals(host.request_stop, None)  # (its parent sent it: no line of its own)
    try:
        with host:
            _stop_when_stdin_closes(host)
            status = spec["status"]
            reporter = StatusReporter(status["fd"], status["interval"], lambda: _report(host, spec["plugin"]["name"]),
                                      logging.getLogger("openmodule_host"))
            reporter.start()
            while not host.wait(0.5):
                pass
            reporter.stop()
    except ConfigError as error:  # the parent stops with this error, as it would for a plugin in a thread
        print(CONFIG_ERROR_PREFIX + json.dumps(str(error)), flush=True)
        return 2
    except HostError as error:
        print(error, flush=True)  # "plugin 'name' failed: <reason>"
        return 1
    return host.exit_status  # 70 when its watchdog stopped it: the parent restarts it as after a crash


if __name__ == "__main__":
    sys.exit(main())
