"""Privacy for the whole host: delivering ``anonymize`` requests and openmodule's DSGVO config step."""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from openmodule_hookspecs import AnonymizeMessage

if TYPE_CHECKING:
    from .plugin import HostedPlugin

__all__ = ["PRIVACY_TOPIC", "copy_dsgvo_files", "subscribe_anonymize"]

PRIVACY_TOPIC = "privacy"

log = logging.getLogger("openmodule_host.privacy")


def subscribe_anonymize(plugin: HostedPlugin) -> None:
    """Deliver ``privacy``/``anonymize`` messages to the plugin's ``anonymize`` hook, on its worker."""
    manager, core = plugin.manager, plugin.core
    if manager is None or core is None or "anonymize" not in plugin.hookimpls:
        return
    core.messages.register_handler(
        PRIVACY_TOPIC, AnonymizeMessage, lambda message: manager.hook.anonymize(core=core, message=message)
    )


def copy_dsgvo_files(pairs: Iterable[tuple[str, str]]) -> list[str]:
    """openmodule's DSGVO step, once per host: copy each existing source to its target atomically
    (a temporary file in the target's folder, then a rename), when the target's folder exists.
    Returns the targets written."""
    written = []
    for source, target in pairs:
        source_path, target_path = Path(source), Path(target)
        if not source_path.is_file() or not target_path.parent.is_dir():
            continue
        temporary = target_path.with_name(f".{target_path.name}.tmp")
        shutil.copyfile(source_path, temporary)
        os.replace(temporary, target_path)
        written.append(str(target_path))
        log.info("DSGVO: copied %s to %s", source_path, target_path)
    return written
