"""Per-source scheduling: a cron line, whether it is a listing, and retirement.

Revision ID: 0003
Revises: 0002
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("source", sa.Column("cron", sa.String(), nullable=True))
    op.add_column("source", sa.Column("listing", sa.Boolean(), nullable=True))
    op.add_column("source", sa.Column("retired_at", sa.DateTime(), nullable=True))
    op.add_column("source", sa.Column("retired_reason", sa.String(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("source") as batch:
        for column in ("retired_reason", "retired_at", "listing", "cron"):
            batch.drop_column(column)
