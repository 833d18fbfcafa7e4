"""Opening the database: one engine per URL, SQLite tuned for a reader and a writer."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlmodel import Session, SQLModel, create_engine

from storage import models  # noqa: F401  (registers the tables on SQLModel.metadata)

DEFAULT_DB_URL = "sqlite:///./redline.db"
SQLITE_BUSY_TIMEOUT_MS = 10_000


def database_url(explicit: str | None = None) -> str:
    """--db wins, then REDLINE_DB, then ./redline.db."""
    return explicit or os.environ.get("REDLINE_DB") or DEFAULT_DB_URL


def make_engine(url: str) -> Engine:
    """An engine with the schema in place."""
    connect_args: dict[str, Any] = {}
    if url.startswith("sqlite"):
        connect_args["check_same_thread"] = False
    engine = create_engine(url, connect_args=connect_args)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _tune_sqlite)
    # Schema migrations (Alembic) arrive with the PostgreSQL issue; until then
    # create_all makes a fresh database and leaves an existing one alone.
    SQLModel.metadata.create_all(engine)
    return engine


def _tune_sqlite(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets `redline serve` read while `redline run` writes; the busy timeout
    # makes a second writer wait instead of failing at once.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


@contextmanager
def transaction(engine: Engine) -> Iterator[Session]:
    """A session whose work is committed together on success and rolled back on error."""
    with Session(engine, expire_on_commit=False) as session, session.begin():
        yield session
