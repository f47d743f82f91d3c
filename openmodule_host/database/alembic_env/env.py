"""The Alembic environment every plugin's migrations run in (the plugin ships only its revisions).

The connection (to the plugin's SQLite file, or with ``search_path``/``ROLE`` set to its schema) comes
from the host through ``config.attributes``; each revision runs in its own transaction, so a failing
revision leaves the database at the previous one. openmodule's custom operations (``op.pre_upgrade()``, ...)
are registered by importing ``alembic_ops``; on SQLite the host runs the migrations with foreign keys off.
"""

from alembic import context

import openmodule_host.database.alembic_ops  # noqa: F401  (registers op.pre_upgrade() and the others)

config = context.config
connection = config.attributes["connection"]

context.configure(
    connection=connection,
    target_metadata=config.attributes.get("metadata"),
    version_table_schema=config.attributes.get("schema"),
    transaction_per_migration=True,
    render_as_batch=connection.dialect.name == "sqlite",
)

with context.begin_transaction():
    context.run_migrations()
