"""Items know whether a listing showed them; stored item URLs lose their credentials.

An item page's item never leaves a day index it was never on (a source fed both, as a
manifest import of an Offstream folder is, marked item pages "removed"). Items found on
a source behind a password (user:password@ in its URL) were stored with it in their
URLs when their links were relative; only the source keeps it now.

Revision ID: 0005
Revises: 0004
"""

import re
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# As tracker.normalise.redact_url did when this was written (a migration keeps its copy).
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/?#\s]*@")


def upgrade() -> None:
    op.add_column(
        "item", sa.Column("listed", sa.Boolean(), nullable=False, server_default=sa.false())
    )
    # Until now every item of a source learned to be a listing was a listed one.
    op.execute(
        "UPDATE item SET listed = TRUE "
        "WHERE source_id IN (SELECT id FROM source WHERE listing = TRUE)"
    )
    connection = op.get_bind()
    for table in ("item", "version"):
        rows = connection.execute(
            sa.text(f"SELECT id, url FROM {table} WHERE url LIKE '%://%@%'")
        ).all()
        for row_id, url in rows:
            shown = _USERINFO.sub(r"\1", url)
            if shown != url:
                connection.execute(
                    sa.text(f"UPDATE {table} SET url = :url WHERE id = :id"),
                    {"url": shown, "id": row_id},
                )


def downgrade() -> None:
    with op.batch_alter_table("item") as batch:
        batch.drop_column("listed")
