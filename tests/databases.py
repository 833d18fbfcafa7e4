"""The databases tests run on: SQLite files, and PostgreSQL databases, one per test at a time.

Every test that uses `db_url` (or `engine`, `cli`) runs once per backend. A test gets
a database of its own holding only the newest schema (`fresh`): on SQLite a copy of one
migrated once per run; on PostgreSQL one emptied by the test before it (its rows
deleted, its sequences back at 1: ~10 ms), or, when none is free, CREATE DATABASE ...
TEMPLATE (150-250 ms here; at 600 tests a run, the difference is a minute of the
suite). A database whose schema a test changed is dropped, never handed on. PostgreSQL
is found at
REDLINE_TEST_POSTGRES (default: postgres@127.0.0.1:5432, database test, as in CI);
without it those tests skip, or fail when REDLINE_REQUIRE_SERVICES is set.
"""

from __future__ import annotations

import itertools
import os
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy.engine import make_url

from tests.tools import unavailable

POSTGRES_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


class Backend(Protocol):
    name: str

    def create(self, label: str) -> str:
        """A new empty database; its URL."""

    def copy(self, url: str, label: str) -> str:
        """A new database holding what the one at url holds (nothing may be connected to it)."""

    def drop(self, url: str) -> None: ...

    def fresh(self, template: str, label: str) -> str:
        """A database holding what the template holds (the newest schema, no rows)."""

    def release(self, url: str) -> None:
        """A database from `fresh` is no longer used: dropped, or kept for the next."""

    def close(self) -> None: ...


@dataclass
class SqliteBackend:
    folder: Path
    name: str = "sqlite"
    _numbers: itertools.count = field(default_factory=itertools.count)

    def create(self, label: str) -> str:
        return f"sqlite:///{self.folder / f'{label}-{next(self._numbers)}.db'}"

    def copy(self, url: str, label: str) -> str:
        target = self.create(label)
        # The backup API copies a consistent database, whatever the WAL holds.
        with (
            sqlite3.connect(_sqlite_path(url)) as old,
            sqlite3.connect(_sqlite_path(target)) as new,
        ):
            old.backup(new)
        return target

    def drop(self, url: str) -> None:
        for suffix in ("", "-wal", "-shm"):
            Path(_sqlite_path(url) + suffix).unlink(missing_ok=True)

    def fresh(self, template: str, label: str) -> str:
        return self.copy(template, label)  # a file copy costs a few milliseconds

    def release(self, url: str) -> None:
        self.drop(url)

    def close(self) -> None:
        pass


@dataclass
class PostgresBackend:
    admin_url: str
    name: str = "postgresql"
    prefix: str = field(default_factory=lambda: f"redline_test_{os.getpid()}")
    _numbers: itertools.count = field(default_factory=itertools.count)
    _made: list[str] = field(default_factory=list)
    # For `fresh`: each template's schema shape, its emptied databases, and the template
    # each database in use came from.
    _shapes: dict[str, str] = field(default_factory=dict)
    _free: dict[str, list[str]] = field(default_factory=dict)
    _origin: dict[str, str] = field(default_factory=dict)

    @classmethod
    def connect(cls) -> PostgresBackend:
        admin_url = os.environ.get("REDLINE_TEST_POSTGRES", POSTGRES_ADMIN_URL)
        try:
            import psycopg

            with psycopg.connect(_libpq(admin_url), connect_timeout=3):
                pass
        except Exception as error:  # no server, no driver, refused: all mean "not here"
            unavailable(f"PostgreSQL is not reachable at {admin_url} ({error})")
        return cls(admin_url)

    def create(self, label: str) -> str:
        name = self._new_name(label)
        self._admin(f'CREATE DATABASE "{name}"')
        return self._url(name)

    def copy(self, url: str, label: str) -> str:
        name = self._new_name(label)
        self._admin(f'CREATE DATABASE "{name}" TEMPLATE "{make_url(url).database}"')
        return self._url(name)

    def drop(self, url: str) -> None:
        name = make_url(url).database
        # FORCE: a connection a test left open (a pool not disposed) must not block cleanup.
        self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if name in self._made:
            self._made.remove(name)

    def fresh(self, template: str, label: str) -> str:
        if template not in self._shapes:
            self._shapes[template] = _schema_shape(template)
        free = self._free.setdefault(template, [])
        url = free.pop() if free else self.copy(template, label)
        self._origin[url] = template
        return url

    def release(self, url: str) -> None:
        """Empty it for the next test, unless the test changed its schema: then drop it."""
        import psycopg

        template = self._origin.pop(url)
        with psycopg.connect(_libpq(url), autocommit=True) as connection:
            # Connections a test left open (a pool not disposed) would hold locks.
            connection.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            try:
                reusable = _shape_of(connection) == self._shapes[template]
            except psycopg.Error:  # no alembic_version: a test took the schema down
                reusable = False
            if reusable:
                _empty(connection)
        if reusable:
            self._free[template].append(url)
        else:
            self.drop(url)

    def close(self) -> None:
        self._free.clear()
        for name in list(self._made):
            self.drop(self._url(name))

    def _new_name(self, label: str) -> str:
        name = f"{self.prefix}_{label}_{next(self._numbers)}"
        self._made.append(name)
        return name

    def _url(self, database: str) -> str:
        return make_url(self.admin_url).set(database=database).render_as_string(False)

    def _admin(self, statement: str) -> None:
        import psycopg

        with psycopg.connect(_libpq(self.admin_url), autocommit=True) as connection:
            connection.execute(statement)


def _sqlite_path(url: str) -> str:
    return url.removeprefix("sqlite:///")


# Tables, their columns and their indexes, and the schema revision: a database whose
# shape is the template's holds the newest schema once its rows are deleted.
SHAPE_QUERY = """
SELECT md5(string_agg(c.relname || ':' || c.relkind::text || ':' || coalesce(a.columns, ''), ','
                      ORDER BY c.relname))
       || ':' || (SELECT string_agg(version_num, ',') FROM alembic_version)
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'public'
LEFT JOIN LATERAL (
    SELECT string_agg(attname || ' ' || atttypid::regtype::text, ',' ORDER BY attnum) AS columns
    FROM pg_attribute WHERE attrelid = c.oid AND attnum > 0 AND NOT attisdropped
) a ON true
"""


def _schema_shape(url: str) -> str:
    import psycopg

    with psycopg.connect(_libpq(url), autocommit=True) as connection:
        return _shape_of(connection)


def _shape_of(connection: Any) -> str:
    return str(connection.execute(SHAPE_QUERY).fetchone()[0])


def _empty(connection: Any) -> None:
    """Every row gone (but the schema revision's) and every sequence back at its start,
    in one transaction; foreign keys are not checked while it runs (superuser only)."""
    tables = [
        row[0]
        for row in connection.execute(
            "SELECT tablename FROM pg_tables"
            " WHERE schemaname = 'public' AND tablename <> 'alembic_version'"
        )
    ]
    sequences = [row[0] for row in connection.execute("SELECT sequencename FROM pg_sequences")]
    with connection.transaction():
        connection.execute("SET LOCAL session_replication_role = replica")
        for table in tables:
            connection.execute(f'DELETE FROM "{table}"')
        for sequence in sequences:
            connection.execute("SELECT setval(%s, 1, false)", (sequence,))


def _libpq(url: str) -> str:
    """A SQLAlchemy URL as psycopg's connection string."""
    return make_url(url).set(drivername="postgresql").render_as_string(False)
