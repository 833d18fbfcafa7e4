"""Items belong to a site; sources sight them.

Each source gets its site (its URL's host without "www."): the sources of one site share
their items' aliases, so the same article in two feeds is one item. Every item gets a
sighting by the source that recorded it, carrying what was per item until now: whether
that source listed it, and when it left. Items that two sources of a site recorded
apart are merged by `redline db upgrade` after this (tracker.identity.sites), each merge logged.

Revision ID: 0006
Revises: 0005
"""

from collections.abc import Sequence
from urllib.parse import urlsplit

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _site(url: str) -> str:
    # As tracker.identity.sites.site_of did when this was written (a migration keeps its copy).
    try:
        host = (urlsplit(url).hostname or "").rstrip(".")
    except ValueError:
        return url
    return host.removeprefix("www.") or url


def upgrade() -> None:
    op.add_column("source", sa.Column("site", sa.String(), nullable=True))
    op.create_index("ix_source_site", "source", ["site"])
    connection = op.get_bind()
    for source_id, url in connection.execute(sa.text("SELECT id, url FROM source")).all():
        connection.execute(
            sa.text("UPDATE source SET site = :site WHERE id = :id"),
            {"site": _site(url), "id": source_id},
        )
    op.create_table(
        "itemsighting",
        sa.Column("item_id", sa.Integer(), sa.ForeignKey("item.id"), primary_key=True),
        sa.Column("source_id", sa.Integer(), sa.ForeignKey("source.id"), primary_key=True),
        sa.Column("first_seen_at", sa.DateTime(), nullable=False),
        sa.Column("listed", sa.Boolean(), nullable=False),
        sa.Column("removed_at", sa.DateTime(), nullable=True),
    )
    op.create_index("ix_itemsighting_source_id", "itemsighting", ["source_id", "item_id"])
    op.execute(
        "INSERT INTO itemsighting (item_id, source_id, first_seen_at, listed, removed_at) "
        "SELECT id, source_id, first_seen_at, listed, removed_at FROM item"
    )


def downgrade() -> None:
    op.drop_index("ix_itemsighting_source_id", table_name="itemsighting")
    op.drop_table("itemsighting")
    op.drop_index("ix_source_site", table_name="source")
    with op.batch_alter_table("source") as batch:
        batch.drop_column("site")
