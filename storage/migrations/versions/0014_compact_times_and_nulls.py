"""A smaller store: SQLite times as integers, JSON nulls as SQL NULL.

SQLite has no time type; SQLAlchemy kept each time as 26 characters of text
("2025-01-06 06:00:00.000000"). storage/types.py now keeps it there as an integer count
of microseconds since 1970 UTC (8 bytes, the same order); this converts the text every
time column holds. The columns stay declared DATETIME, whose affinity keeps integers as
integers. PostgreSQL's timestamps are already 8 bytes and are left alone.

An unknown value of a JSON column (a version's tags, a change's reasons) was stored as
the JSON text 'null'; it is now SQL NULL on both databases (read back as None, as before).

Revision ID: 0014
Revises: 0013
"""

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from alembic import op

revision: str = "0014"
down_revision: str | Sequence[str] | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Every time column at revision 0013 (a migration keeps its own list: the models move on).
TIMES = {
    "source": (
        "created_at",
        "next_check_at",
        "last_checked_at",
        "lease_until",
        "retired_at",
        "quiet_since",
    ),
    "subscription": ("created_at",),
    "version_archive": ("created_at", "next_attempt_at", "archived_at"),
    "check": ("started_at", "finished_at"),
    "delivery": ("created_at", "next_attempt_at", "sent_at", "claimed_until"),
    "item": ("first_seen_at", "last_seen_at", "removed_at"),
    "threadpost": ("posted_at",),
    "itemmatch": ("matched_at",),
    "itemsighting": ("first_seen_at", "removed_at"),
    "version": ("observed_at", "last_observed_at", "reported_at"),
    "change": ("occurred_at", "recorded_at", "stored_at"),
}
# The nullable JSON columns, whose None was the text 'null'.
JSON_NULLABLE = {
    "source": ("partial_fields",),
    "delivery": ("event",),
    "version": ("tags", "sources"),
    "change": ("reasons", "diff", "variants"),
}

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _micros(text: str) -> int:
    moment = datetime.fromisoformat(text)
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return (moment - _EPOCH) // timedelta(microseconds=1)


def _each(columns: dict[str, tuple[str, ...]]) -> list[tuple[str, str]]:
    return [(table, name) for table, names in columns.items() for name in names]


def upgrade() -> None:
    connection = op.get_bind()
    for table, name in _each(JSON_NULLABLE):
        op.execute(f'UPDATE "{table}" SET "{name}" = NULL WHERE CAST("{name}" AS TEXT) = \'null\'')
    if connection.dialect.name != "sqlite":
        return
    for table, name in _each(TIMES):
        # SQLAlchemy's own form, in SQL: the seconds, then the six digits after '.'.
        op.execute(
            f'UPDATE "{table}" SET "{name}" = '
            f"CAST(strftime('%s', \"{name}\") AS INTEGER) * 1000000"
            f' + CAST(substr("{name}", 21, 6) AS INTEGER)'
            f' WHERE typeof("{name}") = \'text\' AND length("{name}") = 26'
            f" AND substr(\"{name}\", 20, 1) = '.'"
        )
        # Any other form a hand or another tool wrote, one row at a time.
        others = connection.exec_driver_sql(
            f'SELECT rowid, "{name}" FROM "{table}" WHERE typeof("{name}") = \'text\''
        ).all()
        for rowid, text in others:
            connection.exec_driver_sql(
                f'UPDATE "{table}" SET "{name}" = ? WHERE rowid = ?', (_micros(text), rowid)
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for table, name in _each(TIMES):
            op.execute(
                f'UPDATE "{table}" SET "{name}" = '
                f"strftime('%Y-%m-%d %H:%M:%S', \"{name}\" / 1000000, 'unixepoch')"
                f" || printf('.%06d', \"{name}\" % 1000000)"
                f" WHERE typeof(\"{name}\") = 'integer'"
            )
    for table, name in _each(JSON_NULLABLE):
        op.execute(f'UPDATE "{table}" SET "{name}" = \'null\' WHERE "{name}" IS NULL')
