"""A database per plugin: an SQLite file by default, a PostgreSQL schema at scale, Alembic migrations."""

from .engines import DatabaseTarget, create_plugin_engine, prepare_postgres_schema, target_for
from .migrations import MigrationError, MigrationResult, current_revision, history, upgrade, upgrade_in_child
from .session import PluginDatabase
from .urls import is_postgres, normalise_url, role_name, schema_name

__all__ = [
    "DatabaseTarget",
    "MigrationError",
    "MigrationResult",
    "PluginDatabase",
    "create_plugin_engine",
    "current_revision",
    "history",
    "is_postgres",
    "normalise_url",
    "prepare_postgres_schema",
    "role_name",
    "schema_name",
    "target_for",
    "upgrade",
    "upgrade_in_child",
]
