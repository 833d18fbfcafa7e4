"""The databases a benchmark runs on: new ones with redline's schema (SQLite files or
PostgreSQL databases, made with the test suite's backends and dropped after), a named one
emptied for a rebuild, their size and the PostgreSQL server's description."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import tempfile
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine, make_url

from storage import make_engine, upgrade
from tests.databases import POSTGRES_ADMIN_URL, Backend, PostgresBackend, SqliteBackend

PG_URL = POSTGRES_ADMIN_URL  # the PostgreSQL server benchmarks make their databases on


@contextlib.contextmanager
def backend_for(name: str, pg_url: str, label: str) -> Iterator[tuple[Backend, Path]]:
    """The backend ("sqlite" or "postgresql") that makes a benchmark's databases, and a
    temporary folder; its PostgreSQL databases are named redline_LABEL_PID_*. Its databases
    are dropped and the folder removed after the block."""
    with tempfile.TemporaryDirectory(prefix=f"redline-{label}-") as tmp:
        folder = Path(tmp)
        backend: Backend
        if name == "sqlite":
            backend = SqliteBackend(folder)
        else:
            backend = PostgresBackend(pg_url, prefix=f"redline_{label}_{os.getpid()}")
        try:
            yield backend, folder
        finally:
            backend.close()


def migrated_database(backend: Backend, label: str) -> str:
    """A new database of the backend with redline's schema (its migrations); its URL."""
    url = backend.create(label)
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    return url


@contextlib.contextmanager
def scratch_sqlite(label: str) -> Iterator[Engine]:
    """An engine on a new SQLite database with redline's schema, removed after the block."""
    with backend_for("sqlite", PG_URL, label) as (backend, _):
        engine = make_engine(migrated_database(backend, label))
        try:
            yield engine
        finally:
            engine.dispose()


def pg_admin(admin_url: str) -> Engine:
    return create_engine(admin_url, isolation_level="AUTOCOMMIT")


def pg_exists(url: str, admin_url: str) -> bool:
    """Whether the PostgreSQL database at url exists (asked through admin_url)."""
    admin = pg_admin(admin_url)
    try:
        with admin.connect() as connection:
            name = make_url(url).database
            found = connection.execute(
                text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}
            )
            return found.first() is not None
    finally:
        admin.dispose()


def recreate(url: str, admin_url: str) -> None:
    """An empty database at url: delete the SQLite file, or drop and create the PostgreSQL
    database (only one named redline_bench_*) through admin_url."""
    if make_url(url).get_backend_name() == "sqlite":
        path = Path(make_url(url).database or "")
        for extra in ("", "-wal", "-shm"):
            Path(f"{path}{extra}").unlink(missing_ok=True)
        return
    name = make_url(url).database
    assert name is not None and name.startswith("redline_bench_")  # never anyone else's
    admin = pg_admin(admin_url)
    try:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}"')
            connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    finally:
        admin.dispose()


def database_size(engine: Engine) -> int:
    """Bytes: the SQLite database file, or pg_database_size."""
    if engine.dialect.name == "sqlite":
        return Path(engine.url.database or "").stat().st_size
    with engine.connect() as connection:
        return int(connection.execute(text("SELECT pg_database_size(current_database())")).scalar())


def sqlite_files_size(database: Path) -> int:
    """Bytes of a SQLite database's files: the database, its WAL and shared memory."""
    return sum(path.stat().st_size for path in database.parent.glob(database.name + "*"))


def where_the_bytes_go(database: Path, top: int = 6) -> str:
    """The largest tables and indexes of a SQLite database, as one line (dbstat)."""
    with sqlite3.connect(database) as db:
        rows = db.execute(
            "SELECT name, sum(pgsize) FROM dbstat GROUP BY name ORDER BY 2 DESC"
        ).fetchall()
    total = sum(size for _, size in rows)
    return ", ".join(f"{name} {size / total:.0%}" for name, size in rows[:top])


def pg_server_line(url: str) -> str:
    """The PostgreSQL server of the database at url: its version and memory settings."""
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            version = connection.exec_driver_sql("SHOW server_version").scalar()
            buffers = connection.exec_driver_sql("SHOW shared_buffers").scalar()
            work_mem = connection.exec_driver_sql("SHOW work_mem").scalar()
    finally:
        engine.dispose()
    return f"PostgreSQL {version} (local, shared_buffers {buffers}, work_mem {work_mem})"
