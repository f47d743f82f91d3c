"""A database per plugin: an SQLite file by default, a PostgreSQL schema at scale, Alembic migrations.

openmodule's database names are here too: the column types ``TZDateTime``, ``JSONEncodedDict`` and their
base ``CustomType``, the helpers ``update_query`` and ``delete_query``, ``run_env_py`` for a service's own
``env.py``, and (in the migration environment)
the operations ``op.pre_upgrade()``, ``op.post_upgrade()``, ``op.pre_downgrade()``, ``op.post_downgrade()``.
"""

from .custom_types import CustomType, JSONEncodedDict, TZDateTime
from .engines import DatabaseTarget, create_plugin_engine, prepare_postgres_schema, target_for
from .helpers import delete_query, update_query
from .migrations import (
    MigrationError,
    MigrationResult,
    current_revision,
    history,
    upgrade,
    upgrade_in_child,
    versions_folder,
)
from .service_env import run_env_py
from .session import DatabaseSession, PluginDatabase
from .urls import is_postgres, normalise_url, role_name, schema_name

__all__ = [
    "CustomType",
    "DatabaseSession",
    "DatabaseTarget",
    "JSONEncodedDict",
    "MigrationError",
    "MigrationResult",
    "PluginDatabase",
    "TZDateTime",
    "create_plugin_engine",
    "current_revision",
    "delete_query",
    "history",
    "is_postgres",
    "normalise_url",
    "prepare_postgres_schema",
    "role_name",
    "run_env_py",
    "schema_name",
    "target_for",
    "update_query",
    "upgrade",
    "upgrade_in_child",
    "versions_folder",
]
