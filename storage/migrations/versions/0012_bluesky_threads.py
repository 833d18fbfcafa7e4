"""Bluesky threads: a reply on Bluesky names its thread's first post and the post it
answers each by URI and content id (a "strong ref"), so a thread's post keeps its cid
beside its id (the at:// URI). Mastodon's posts leave it empty.

Revision ID: 0012
Revises: 0011
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | Sequence[str] | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("threadpost", sa.Column("post_cid", sa.String(), nullable=True))


def downgrade() -> None:
    op.drop_column("threadpost", "post_cid")
