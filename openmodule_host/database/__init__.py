"""A database per plugin: an SQLite file by default, a PostgreSQL schema at scale, Alembic migrations.

openmodule's database names are here too: the column types ``TZDateTime``, ``JSONEncodedDict`` and their
base ``CustomType``, the helpers ``update_query`` and ``delete_query``, ``run_env_py`` for a service's own
``env.py``, and (in the migration environment)
the operations ``op.pre_upgrade()``, ``op.post_upgrade()``, ``op.pre_downgrade()``, ``op.post_downgrade()``.
"""

from typing import TYPE_CHECKING

from .._lazy import lazy_attributes
from .engines import DatabaseTarget, create_plugin_engine, prepare_postgres_schema, target_for
from .migrations import (
    MigrationError,
    MigrationResult,
    current_revision,
    history,
    upgrade,
    upgrade_in_child,
    versions_folder,
)
from .session import DatabaseSession, PluginDatabase
from .urls import is_postgres, normalise_url, role_name, schema_name

if TYPE_CHECKING:
    from .custom_types import CustomType, JSONEncodedDict, TZDateTime
    from .helpers import delete_query, update_query
    from .service_env import run_env_py

# The column types, the query helpers and ``run_env_py`` import SQLAlchemy (its ORM) when first used, so
# that a host whose plugins have no database never loads it.
__getattr__, __dir__ = lazy_attributes(__name__, {
    "CustomType": ".custom_types",
    "JSONEncodedDict": ".custom_types",
    "TZDateTime": ".custom_types",
    "delete_query": ".helpers",
    "update_query": ".helpers",
    "run_env_py": ".service_env",
})
del TYPE_CHECKING, lazy_attributes  # not names of this package

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
