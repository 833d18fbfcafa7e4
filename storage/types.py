"""Column types shared by the tables."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.engine import Dialect
from sqlalchemy.types import DateTime, LargeBinary, String, TypeDecorator, TypeEngine

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def to_microseconds(value: datetime) -> int:
    """An aware time as whole microseconds since 1970-01-01 UTC (exact, no float)."""
    return (value - EPOCH) // _MICROSECOND


def from_microseconds(value: int) -> datetime:
    return EPOCH + timedelta(microseconds=value)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp, always given and read back timezone-aware (UTC).

    PostgreSQL keeps it as a naive UTC `timestamp` (8 bytes). SQLite, which has no time
    type, keeps it as an integer count of microseconds since 1970 UTC: 8 bytes where
    SQLAlchemy's text form takes 26, and the same order (migration 0014 converted the
    older text). The column is still declared DATETIME, whose affinity stores integers
    as integers. Either way, comparisons and ordering in SQL are correct.
    """

    impl = DateTime(timezone=False)
    cache_ok = True

    def bind_processor(self, dialect: Dialect) -> Callable[[Any], Any] | None:
        if dialect.name == "sqlite":
            return _bind_microseconds
        return super().bind_processor(dialect)

    def result_processor(self, dialect: Dialect, coltype: Any) -> Callable[[Any], Any] | None:
        if dialect.name == "sqlite":
            return stored_time
        return super().result_processor(dialect, coltype)

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else _naive_utc(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC)

    def process_literal_param(self, value: datetime | None, dialect: Dialect) -> str:
        if value is None:
            return "NULL"
        if dialect.name == "sqlite":
            return str(_bind_microseconds(value))
        return f"'{_naive_utc(value).isoformat(sep=' ')}'"


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("naive datetime given to a UTC column; use an aware datetime")
    return value


def _naive_utc(value: datetime) -> datetime:
    return _aware(value).astimezone(UTC).replace(tzinfo=None)


def _bind_microseconds(value: datetime | None) -> int | None:
    return None if value is None else to_microseconds(_aware(value))


def stored_time(value: Any) -> datetime | None:
    """A time as a database hands it back, aware (UTC): SQLite's integer microseconds, text
    (written before migration 0014, or by hand: naive means UTC), or a datetime."""
    if value is None:
        return None
    if isinstance(value, int):
        return from_microseconds(value)
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


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


class HexDigest(TypeDecorator[str]):
    """A hash given and read back as hex text, kept as its bytes: 32 bytes for a SHA-256
    where the hex took 64. PostgreSQL's column is bytea; SQLite's stays declared VARCHAR
    (migration 0015 converted the hex in place), which keeps a blob as a blob."""

    impl = String
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String())
        return dialect.type_descriptor(LargeBinary())

    def bind_processor(self, dialect: Dialect) -> Callable[[Any], Any] | None:
        return _digest_bytes

    def result_processor(self, dialect: Dialect, coltype: Any) -> Callable[[Any], Any] | None:
        return _digest_hex


def _digest_bytes(value: str | None) -> bytes | None:
    return None if value is None else bytes.fromhex(value)


def _digest_hex(value: Any) -> str | None:
    if value is None or isinstance(value, str):  # hex written before 0015
        return value
    return bytes(value).hex()


def compact_json(value: Any) -> str:
    """JSON as the JSON columns store it: no spaces after separators, and other scripts'
    letters as themselves ("ü", not "\\u00fc", a third of the bytes). A text holding a
    lone surrogate, which no database can store as UTF-8, is escaped as before."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            return json.dumps(value, separators=(",", ":"))
    return text
