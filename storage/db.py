"""Opening the database: one engine per URL, pooled, SQLite tuned for readers and a writer."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import ArgumentError, DatabaseError, OperationalError

from storage.errors import DatabaseDamaged, DatabaseURLError
from storage.idle import (  # noqa: F401  (named here too)
    DEFAULT_DB_URL,
    SQLITE_BUSY_TIMEOUT_MS,
    database_url,
)
from storage.types import compact_json

# The ORM (sqlmodel) is imported by the first session, not by opening the database: a
# command with nothing to do never needs it (storage/due.py; on SQLite, storage/idle.py).
if TYPE_CHECKING:
    from sqlmodel import Session


def make_engine(url: str, pool: PoolSettings | None = None) -> Engine:
    """An engine for the URL; the schema is storage.schema's business (ensure_schema)."""
    pool = pool or PoolSettings.from_env()
    options: dict[str, Any] = {"pool_size": pool.size, "max_overflow": pool.max_overflow}
    if url.startswith("sqlite"):
        options["connect_args"] = {"check_same_thread": False}
        if ":memory:" in url or url.rstrip("/") == "sqlite:":
            options = {"connect_args": {"check_same_thread": False}}  # one connection only
    else:
        # A daemon runs for months: a connection the server dropped is replaced, not used.
        options["pool_pre_ping"] = True
    options["json_serializer"] = compact_json
    try:
        engine = create_engine(url, **options)
    except (ArgumentError, ImportError) as error:
        raise DatabaseURLError(
            f"not a database URL redline can open: {url!r} ({error}); examples: "
            "sqlite:///./redline.db, postgresql+psycopg://user@host/dbname"
        ) from None
    if engine.dialect.name == "sqlite":
        _check_sqlite_folder(engine.url.database)
        event.listen(engine, "connect", _tune_sqlite)
    return engine


_found_intact: set[str] = set()  # SQLite databases this process has checked already


def ensure_intact(engine: Engine) -> None:
    """Refuse (DatabaseDamaged) a SQLite file that fails PRAGMA quick_check, before a
    command writes to it: each write to a damaged file can spread the damage, while
    reading may still get most of it out. Once per database and process; PostgreSQL
    looks after its own pages."""
    if engine.dialect.name != "sqlite" or str(engine.url) in _found_intact:
        return
    try:
        with engine.connect() as connection:
            problems = connection.exec_driver_sql("PRAGMA quick_check").scalars().all()
    except OperationalError:  # cannot open it (missing folder, locked): not damage
        raise
    except DatabaseError as error:  # too damaged to be read at all (SQLITE_CORRUPT, NOTADB)
        problems = [str(error.orig or error).strip()]
    if list(problems) == ["ok"]:
        _found_intact.add(str(engine.url))
        return
    path = engine.url.database or str(engine.url)
    first = " ".join(str(problems[0]).split())[:200]
    raise DatabaseDamaged(
        f"{path} is damaged (PRAGMA quick_check found {len(problems)} problem(s), first: "
        f"{first}); refusing to write to it. Reading commands still work; restore a backup, "
        f"or save what is left: sqlite3 {path} .recover | sqlite3 recovered.db"
    )


def _check_sqlite_folder(database: str | None) -> None:
    """SQLite creates a missing file but not its folder, and then says only "unable to
    open database file": name the path and say what is missing."""
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    folder = Path(database).absolute().parent
    if not folder.is_dir():
        raise DatabaseURLError(
            f"cannot open the SQLite database {database}: the folder {folder} does not exist "
            "(create it first)"
        )


@dataclass(frozen=True)
class PoolSettings:
    """How many connections one process keeps open (size) and may add at peaks."""

    size: int = 5
    max_overflow: int = 10

    @classmethod
    def from_env(cls, size: int | None = None, max_overflow: int | None = None) -> PoolSettings:
        """Explicit values win, then REDLINE_DB_POOL_SIZE / REDLINE_DB_MAX_OVERFLOW."""
        return cls(
            size=size if size is not None else _env_int("REDLINE_DB_POOL_SIZE", cls.size),
            max_overflow=max_overflow
            if max_overflow is not None
            else _env_int("REDLINE_DB_MAX_OVERFLOW", cls.max_overflow),
        )


def _env_int(name: str, default: int) -> int:
    text = os.environ.get(name)
    if not text:
        return default
    whole = text.isascii() and text.isdigit() and len(text) <= 6
    if not whole or (name.endswith("POOL_SIZE") and int(text) < 1):
        raise DatabaseURLError(f"{name} must be a whole number of connections, not {text!r}")
    return int(text)


def _tune_sqlite(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets `redline serve` read while `redline run` writes; the busy timeout
    # makes a second writer wait instead of failing at once.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    # With WAL, NORMAL syncs at checkpoints, not at every commit (SQLite's recommended
    # setting for WAL): no risk of corruption; a power cut may lose the last commits.
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


@contextmanager
def transaction(engine: Engine) -> Iterator[Session]:
    """A session whose work is committed together on success and rolled back on error.

    On SQLite the transaction takes the write lock at once (BEGIN IMMEDIATE): a
    transaction that read first and wrote later would fail with "database is locked"
    if another writer committed in between, where waiting (busy timeout) is right.
    Readers are never blocked (WAL); read-only requests use plain sessions.
    """
    from sqlmodel import Session

    with Session(engine, expire_on_commit=False) as session, session.begin():
        if engine.dialect.name == "sqlite":
            session.connection().exec_driver_sql("BEGIN IMMEDIATE")
        yield session
