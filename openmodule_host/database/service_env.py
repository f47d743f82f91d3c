"""``run_env_py(bases)``: the body of a service's own ``alembic/env.py``, as openmodule's is.

The host never runs a plugin's ``env.py``: it runs the revisions in its own environment. The ``env.py`` of
an openmodule service's database folder stays for its developers, who generate revisions with the Alembic
command line (``alembic revision --autogenerate -m "..."`` in the folder with ``alembic.ini``): after its
import line changes to ``from openmodule_host.database import run_env_py`` it generates them as
openmodule's does, framed by ``op.pre_upgrade()``/``op.post_upgrade()`` and
``op.pre_downgrade()``/``op.post_downgrade()``, with ``CustomType`` columns imported from their module.
"""

from __future__ import annotations

from collections.abc import Iterable
from logging.config import fileConfig
from typing import Any

from sqlalchemy import Connection, DateTime, MetaData, engine_from_config, pool

from .custom_types import TZDateTime, render_custom_type

__all__ = ["run_env_py"]


def _metadata(bases: Any) -> MetaData:
    """One ``MetaData`` with every table of ``bases`` (a declarative base or a list of them); a plain
    ``DateTime`` column is refused, as openmodule's development checks do: use ``TZDateTime``."""
    metadata = MetaData()
    for base in bases if isinstance(bases, Iterable) else [bases]:
        for table in base.metadata.tables.values():
            for column in table.columns:
                if isinstance(column.type, DateTime) and not isinstance(column.type, TZDateTime):
                    raise ValueError(f"column {table.name}.{column.name} is a plain DateTime: use TZDateTime "
                                     f"(from openmodule_host.database import TZDateTime)")
            table.to_metadata(metadata)
    return metadata


def run_env_py(bases: Any) -> None:
    """Run the Alembic command of the current ``alembic`` invocation against the database of
    ``alembic.ini``'s ``sqlalchemy.url`` with the tables of ``bases``. SQLite's foreign keys are off while
    revisions run, as in the host."""
    from alembic import context

    from .alembic_ops import sqlite_foreign_keys_off

    config = context.config
    if config.config_file_name is not None and config.attributes.get("configure_logging", True):
        fileConfig(config.config_file_name)
    metadata = _metadata(bases)

    def drop_empty_autogenerate(_context: Any, _revision: Any, directives: list[Any]) -> None:
        if getattr(config.cmd_opts, "autogenerate", False) and directives[0].upgrade_ops.is_empty():
            directives[:] = []

    def run(connection: Connection) -> None:
        with sqlite_foreign_keys_off(connection):
            context.configure(connection=connection, target_metadata=metadata, render_as_batch=True,
                              render_item=render_custom_type, process_revision_directives=drop_empty_autogenerate,
                              transaction_per_migration=True)
            with context.begin_transaction():
                context.run_migrations()
            connection.commit()

    connectable = config.attributes.get("connection")
    if isinstance(connectable, Connection):
        run(connectable)
        return
    engine = connectable or engine_from_config(config.get_section(config.config_ini_section, {}),
                                               prefix="sqlalchemy.", poolclass=pool.NullPool)
    with engine.connect() as connection:
        run(connection)
