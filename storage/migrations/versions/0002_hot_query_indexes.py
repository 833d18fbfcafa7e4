"""Indexes for the hot queries: per-source pages newest first, items by any URL.

Per-source changes, checks and items are read newest first (highest id); an index on
(source_id, id) hands PostgreSQL and SQLite those rows in order, where one on
source_id alone made them collect and sort every row of the source. Aliases are
looked up by URL across sources (`redline history URL`, /api/items?url=).

Revision ID: 0002
Revises: 0001
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (index, table, columns before, columns after)
_WIDENED = [
    ("ix_change_source_id", "change", ["source_id"], ["source_id", "id"]),
    ("ix_check_source_id", "check", ["source_id"], ["source_id", "id"]),
    ("ix_item_source_id", "item", ["source_id"], ["source_id", "id"]),
]


def upgrade() -> None:
    for name, table, _, columns in _WIDENED:
        op.drop_index(name, table_name=table)
        op.create_index(name, table, columns)
    op.create_index("ix_itemalias_kind_value", "itemalias", ["kind", "value"])


def downgrade() -> None:
    op.drop_index("ix_itemalias_kind_value", table_name="itemalias")
    for name, table, columns, _ in _WIDENED:
        op.drop_index(name, table_name=table)
        op.create_index(name, table, columns)
