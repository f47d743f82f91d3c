"""``openmodule-host db upgrade|current|history --plugin NAME``: a plugin's migrations, for operators."""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path
from typing import TextIO

from ..config import HostConfig, build_plugin_config
from ..errors import ConfigError
from ..instances import select_instances
from ..loader import discover, make_plugin_manager
from .engines import create_plugin_engine, prepare_postgres_schema, target_for
from .migrations import MigrationError, current_revision, history, upgrade
from .urls import normalise_url

__all__ = ["run_database_command"]


def run_database_command(action: str, plugin: str, config: HostConfig, out: TextIO) -> int:
    """Run ``action`` for ``plugin``; returns the exit status (1 when an upgrade failed).

    The command prints its own lines; Alembic's INFO lines ("Context impl ...", "Will assume
    non-transactional DDL", "Running upgrade ...") are shown only at ``--log-level DEBUG``."""
    if config.log_level != "DEBUG":
        logging.getLogger("alembic").setLevel(logging.WARNING)
    (candidate,) = select_instances(discover(), config.plugins, [plugin])
    manager = make_plugin_manager(candidate)
    settings = build_plugin_config(candidate.name, candidate.version, config.plugins.get(candidate.name, {}),
                                   config, manager.hook.config_model())
    versions = manager.hook.database_migrations()
    if versions is None:
        raise ConfigError(f"plugin {plugin!r} ships no migrations (it has no database_migrations hook)")
    target = target_for(settings.NAME, Path(config.data_dir),
                        normalise_url(config.database_url) if config.database_url else None)
    out.write(f"plugin {plugin} (NAME {settings.NAME}): {target.description}\n")
    if action == "upgrade":
        try:  # the plugin's migrations run as its own role, as at the host's start (a new password too)
            result = upgrade(Path(versions), prepare_postgres_schema(target) if target.schema else target)
        except MigrationError as error:
            out.write(f"upgrade failed: {error}\n")
            return 1
        if result.before == result.after:
            out.write(f"already at the newest revision, {result.after or '(empty)'}: nothing to do\n")
        else:
            out.write(f"upgraded from {result.before or '(empty)'} to {result.after or '(empty)'}\n")
        return 0
    # Reading the revision runs no plugin code against the database: the DATABASE_URL user does it, and
    # the role's password stays as it is (a host that runs the plugin keeps logging in).
    engine = create_plugin_engine(replace(target, role=None))
    try:
        if action == "current":
            out.write(f"current revision: {current_revision(engine, target) or '(empty)'}\n")
        else:
            for revision, description, is_current in history(Path(versions), engine, target):
                out.write(f"{revision}  {description.strip()}{'  (current)' if is_current else ''}\n")
    finally:
        engine.dispose()
    return 0
