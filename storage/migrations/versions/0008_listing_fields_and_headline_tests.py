"""Sources remember which fields their listing shows for some items only; changes name
the variants of a headline test.

A front page that shows a summary in its lead slot only makes the summary "partial":
an item shown without it is unknown there, not emptied (tracker/record/partial.py). A headline
that alternates A → B → A is one "headline_test" change naming A and B
(tracker/compare/headline_tests.py).

Revision ID: 0008
Revises: 0007
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("source", sa.Column("partial_fields", sa.JSON(), nullable=True))
    op.add_column("change", sa.Column("variants", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("change") as batch:
        batch.drop_column("variants")
    with op.batch_alter_table("source") as batch:
        batch.drop_column("partial_fields")
