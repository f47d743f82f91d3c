"""A plugin that writes the settings it was given (``core.config``) as JSON, for the tests of where each setting
comes from; installed for a test's subprocess by :func:`config_site` (entry point ``cfg_dump``)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from openmodule_hookspecs import PluginCore, hookimpl
from pydantic import BaseModel

#: the standard keys written (``ISOLATION`` is left out: inside its child process a plugin runs as ``thread``).
STANDARD_KEYS = (
    "NAME", "VERSION", "RESOURCE", "DEBUG", "TESTING", "LOG_LEVEL", "COMPUTE_ID", "PARENT", "TIMEZONE", "CURRENCY",
    "LANGUAGE", "LOCALE_DIR", "DEV_DEVICE", "DAEMON", "DIST_FOLDER", "DATABOX_UPLOAD_DIR", "REQUIRED",
    "PUBLISH_RATE", "PUBLISH_BURST", "PUBLISH_WAIT", "DATABASE_FOLDER", "BROKER_SUB", "BROKER_PUB",
)
ENTRY_POINT = "cfg_dump"
#: the environment variable naming the file the plugin writes.
DUMP_VARIABLE = "OMH_CONFIG_DUMP"


class DumpSettings(BaseModel):
    greeting: str = "Hello"
    retries: int = 3


#: set (to anything): its ``config_model`` raises.
RAISE_VARIABLE = "OMH_CONFIG_MODEL_RAISES"


@hookimpl
def config_model() -> type[BaseModel]:
    if os.environ.get(RAISE_VARIABLE):
        raise RuntimeError("the settings model cannot be built")
    return DumpSettings


@hookimpl
def register_handlers(core: PluginCore) -> None:
    values = {key: getattr(core.config, key) for key in STANDARD_KEYS}
    values.update(greeting=core.config.greeting, retries=core.config.retries)
    Path(os.environ[DUMP_VARIABLE]).write_text(json.dumps(values), encoding="utf-8")


def config_site(folder: Path) -> dict[str, str]:
    """A distribution in ``folder`` whose entry point ``cfg_dump`` is this module; the returned environment
    puts it (and the project, for this module) on a subprocess's path."""
    dist_info = folder / "omh_config_test-1.0.dist-info"
    dist_info.mkdir(parents=True)
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: omh-config-test\nVersion: 1.0\n")
    (dist_info / "entry_points.txt").write_text(f"[openmodule.plugins]\n{ENTRY_POINT} = {__name__}\n")
    project = Path(__file__).resolve().parents[2]
    return {"PYTHONPATH": os.pathsep.join((str(folder), str(project)))}
