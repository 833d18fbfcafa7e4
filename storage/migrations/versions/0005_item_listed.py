"""Items know whether a listing showed them: only those can leave a listing.

An item page's item never leaves a day index it was never on (a source fed both, as a
manifest import of an Offstream folder is, marked item pages "removed").

Revision ID: 0005
Revises: 0004
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "item", sa.Column("listed", sa.Boolean(), nullable=False, server_default=sa.false())
    )
    # Until now every item of a source learned to be a listing was a listed one.
    op.execute(
        "UPDATE item SET listed = TRUE "
        "WHERE source_id IN (SELECT id FROM source WHERE listing = TRUE)"
    )


def downgrade() -> None:
    with op.batch_alter_table("item") as batch:
        batch.drop_column("listed")
