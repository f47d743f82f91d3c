"""the whitelist table

Revision ID: 0001_whitelist
Revises:
Create Date: 2026-11-28
"""
import sqlalchemy as sa
from alembic import op

revision = "0001_whitelist"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "whitelist",
        sa.Column("plate", sa.String(32), primary_key=True),
        sa.Column("added_at", sa.DateTime(), nullable=False),
        sa.Column("note", sa.String(200), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("whitelist")
