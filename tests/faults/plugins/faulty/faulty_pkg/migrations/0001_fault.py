"""the injected fault, in a migration

Revision ID: 0001_fault
Revises:
"""
import sqlalchemy as sa
from alembic import op
from faulty_pkg.fault import inject

revision = "0001_fault"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("pokes", sa.Column("id", sa.Integer, primary_key=True))
    inject("migration")


def downgrade() -> None:
    op.drop_table("pokes")
