"""Column types shared by the tables."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy.engine import Dialect
from sqlalchemy.types import DateTime, TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored as naive UTC and always read back timezone-aware (UTC).

    SQLite has no time zones; storing naive UTC everywhere keeps SQLite and
    PostgreSQL identical and comparisons correct.
    """

    impl = DateTime(timezone=False)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column; use an aware datetime")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC)


# Row ids are INTEGER columns: 32-bit on PostgreSQL (SQLite's hold 64 bits). An id above
# this names no row on either database, and PostgreSQL refuses to compare one: callers
# turn it into "not found" before it reaches a query, the same on both.
MAX_ID = 2**31 - 1
_MAX_ID_DIGITS = len(str(MAX_ID))


def parse_id(text: str) -> int | None:
    """The row id a text names (ASCII digits, 1 to MAX_ID), else None.

    str.isdigit() is not enough: it is true for "²", which int() refuses.
    """
    text = text.strip()
    if not text.isascii() or not text.isdigit() or len(text.lstrip("0")) > _MAX_ID_DIGITS:
        return None
    value = int(text)
    return value if 1 <= value <= MAX_ID else None


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso_z(moment: datetime | None) -> str | None:
    """An aware time as ISO 8601 with Z for UTC (2026-11-21T09:00:00Z); None stays None."""
    return moment.isoformat().replace("+00:00", "Z") if moment else None
