"""A smaller store: content hashes as bytes, one alias index where there were two, and
no index on a change's occurred_at.

- A version's content_hash (SHA-256) was 64 characters of hex; it is now its 32 bytes
  (storage/types.py HexDigest; PostgreSQL bytea, SQLite a blob in the VARCHAR column).
- An alias was indexed twice over the same columns: unique on (source_id, kind, value)
  and, for finding an item by a URL whichever source saw it, on (kind, value). One
  unique index on (kind, value, source_id) does both.
- No query reads changes by occurred_at (bench/plans.txt); its index only cost writes
  and space.

Revision ID: 0015
Revises: 0014
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | Sequence[str] | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# SQLite's unique constraint of 0001 has no name: batch mode names it by this convention.
_UNIQUE_NAMES = {"uq": "uq_%(table_name)s_%(column_0_N_name)s"}
_OLD_UNIQUE = "uq_itemalias_source_id_kind_value"


def upgrade() -> None:
    connection = op.get_bind()
    op.drop_index("ix_change_occurred_at", table_name="change")
    op.drop_index("ix_itemalias_kind_value", table_name="itemalias")
    if connection.dialect.name == "sqlite":
        with op.batch_alter_table("itemalias", naming_convention=_UNIQUE_NAMES) as batch:
            batch.drop_constraint(_OLD_UNIQUE, type_="unique")
        # SQLite 3.40 has no unhex(): converted here, a batch of rows at a time.
        after = 0
        while rows := connection.exec_driver_sql(
            "SELECT id, content_hash FROM version WHERE id > ? AND typeof(content_hash) = 'text'"
            " ORDER BY id LIMIT 20000",
            (after,),
        ).all():
            connection.exec_driver_sql(
                "UPDATE version SET content_hash = ? WHERE id = ?",
                [(bytes.fromhex(digest), row_id) for row_id, digest in rows],
            )
            after = rows[-1][0]
    else:
        (unique,) = [
            c["name"]
            for c in sa.inspect(connection).get_unique_constraints("itemalias")
            if c["column_names"] == ["source_id", "kind", "value"]
        ]
        op.drop_constraint(unique, "itemalias", type_="unique")
        op.execute(
            "ALTER TABLE version ALTER COLUMN content_hash TYPE bytea"
            " USING decode(content_hash, 'hex')"
        )
    op.create_index(
        "uq_itemalias_kind_value_source", "itemalias", ["kind", "value", "source_id"], unique=True
    )


def downgrade() -> None:
    connection = op.get_bind()
    op.drop_index("uq_itemalias_kind_value_source", table_name="itemalias")
    if connection.dialect.name == "sqlite":
        op.execute(
            "UPDATE version SET content_hash = lower(hex(content_hash))"
            " WHERE typeof(content_hash) = 'blob'"
        )
        with op.batch_alter_table("itemalias", naming_convention=_UNIQUE_NAMES) as batch:
            batch.create_unique_constraint(_OLD_UNIQUE, ["source_id", "kind", "value"])
    else:
        op.execute(
            "ALTER TABLE version ALTER COLUMN content_hash TYPE varchar"
            " USING encode(content_hash, 'hex')"
        )
        op.create_unique_constraint(None, "itemalias", ["source_id", "kind", "value"])
    op.create_index("ix_itemalias_kind_value", "itemalias", ["kind", "value"])
    op.create_index("ix_change_occurred_at", "change", ["occurred_at"])
