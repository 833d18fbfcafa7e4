"""Imported snapshots: a check can name the archived snapshot it replayed, once per source.

Revision ID: 0004
Revises: 0003
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A column and a unique index: neither makes SQLite copy the (large) check table.
    op.add_column("check", sa.Column("snapshot", sa.String(), nullable=True))
    op.create_index("uq_check_source_snapshot", "check", ["source_id", "snapshot"], unique=True)


def downgrade() -> None:
    op.drop_index("uq_check_source_snapshot", table_name="check")
    with op.batch_alter_table("check") as batch:
        batch.drop_column("snapshot")
