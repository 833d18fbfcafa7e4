"""Notifications: subscriptions (a target and a filter), the outbox of deliveries, the
posts that thread an item's notifications on Mastodon, and when a source went quiet
(for health alerts).

A delivery is written in the transaction that records its change, and sent by the
daemon afterwards (tracker/notify/).

Revision ID: 0011
Revises: 0010
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "subscription",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(), nullable=True),
        sa.Column("target", sa.String(), nullable=False),
        sa.Column("secret", sa.String(), nullable=True),
        sa.Column("filters", sa.JSON(), nullable=False),
        sa.Column("per_minute", sa.Integer(), nullable=True),
        sa.Column("from_config", sa.Boolean(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.create_table(
        "delivery",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(), nullable=False),
        sa.Column("subscription_id", sa.Integer(), nullable=False),
        sa.Column("change_id", sa.Integer(), nullable=True),
        sa.Column("item_id", sa.Integer(), nullable=True),
        sa.Column("event", sa.JSON(), nullable=True),
        sa.Column("state", sa.String(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(), nullable=False),
        sa.Column("sent_at", sa.DateTime(), nullable=True),
        sa.Column("last_error", sa.String(), nullable=True),
        sa.Column("claimed_by", sa.String(), nullable=True),
        sa.Column("claimed_until", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["subscription_id"], ["subscription.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key"),
    )
    op.create_index("ix_delivery_state_id", "delivery", ["state", "id"])
    op.create_index("ix_delivery_subscription_id", "delivery", ["subscription_id"])
    op.create_table(
        "threadpost",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subscription_id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("post_id", sa.String(), nullable=False),
        sa.Column("delivery_key", sa.String(), nullable=False),
        sa.Column("posted_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["subscription_id"], ["subscription.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_thread_post_thread", "threadpost", ["subscription_id", "item_id", "id"])
    op.add_column("source", sa.Column("quiet_since", sa.DateTime(), nullable=True))
    op.add_column("source", sa.Column("quiet_reason", sa.String(), nullable=True))


def downgrade() -> None:
    # Not in a batch: on SQLite that would copy the source table, which others refer to.
    op.drop_column("source", "quiet_reason")
    op.drop_column("source", "quiet_since")
    op.drop_index("ix_thread_post_thread", table_name="threadpost")
    op.drop_table("threadpost")
    op.drop_index("ix_delivery_subscription_id", table_name="delivery")
    op.drop_index("ix_delivery_state_id", table_name="delivery")
    op.drop_table("delivery")
    op.drop_table("subscription")
