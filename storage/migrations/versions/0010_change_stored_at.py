"""Changes keep when they were written, by the clock: a feed's Last-Modified follows it.

A change's recorded_at is the time of the check that found it, and an import's checks
are at its snapshots' times: after importing 2022's edits today, the feed's
Last-Modified said 2022, and a reader asking If-Modified-Since this morning was told
nothing was new. stored_at is when the row was written (or judged again); rows written
before this revision have none, and their recorded_at stands in.

Revision ID: 0010
Revises: 0009
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("change", sa.Column("stored_at", sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("change") as batch:
        batch.drop_column("stored_at")
