"""Changes carry a significance score and its reasons; "minor" is now "style".

Edits were classed minor or substantive. They are now style, rewording or substantive,
with a 0-1 score and the reasons (tracker/compare/significance.py). Stored minor edits become
style; stored substantive ones stay substantive (some of them would be rewording today),
with no score or reasons: `redline db rejudge` recomputes all three from the versions.

Revision ID: 0007
Revises: 0006
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("change") as batch:
        batch.add_column(sa.Column("score", sa.Float(), nullable=True))
        batch.add_column(sa.Column("reasons", sa.JSON(), nullable=True))
    op.execute("UPDATE change SET classification = 'style' WHERE classification = 'minor'")


def downgrade() -> None:
    # Rewording was substantive before; style was minor.
    op.execute(
        "UPDATE change SET classification = 'substantive' WHERE classification = 'rewording'"
    )
    op.execute("UPDATE change SET classification = 'minor' WHERE classification = 'style'")
    with op.batch_alter_table("change") as batch:
        batch.drop_column("reasons")
        batch.drop_column("score")
