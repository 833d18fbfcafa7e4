"""The databases tests run on: SQLite files, and PostgreSQL databases made per test.

Every test that uses `db_url` (or `engine`, `cli`) runs once per backend. A test gets
its own database, copied from one migrated once per run: a file copy on SQLite,
CREATE DATABASE ... TEMPLATE on PostgreSQL (about 40 ms). PostgreSQL is found at
REDLINE_TEST_POSTGRES (default: postgres@127.0.0.1:5432, database test, as in CI);
without it those tests skip, or fail when REDLINE_REQUIRE_SERVICES is set.
"""

from __future__ import annotations

import itertools
import os
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import NoReturn, Protocol

import pytest
from sqlalchemy.engine import make_url

POSTGRES_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


class Backend(Protocol):
    name: str

    def create(self, label: str) -> str:
        """A new empty database; its URL."""

    def copy(self, url: str, label: str) -> str:
        """A new database holding what the one at url holds (nothing may be connected to it)."""

    def drop(self, url: str) -> None: ...

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

    def close(self) -> None:
        pass


@dataclass
class PostgresBackend:
    admin_url: str
    name: str = "postgresql"
    prefix: str = field(default_factory=lambda: f"redline_test_{os.getpid()}")
    _numbers: itertools.count = field(default_factory=itertools.count)
    _made: list[str] = field(default_factory=list)

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

    def close(self) -> None:
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


def unavailable(reason: str) -> NoReturn:
    """Skip, or fail when CI says the service must be there."""
    if os.environ.get("REDLINE_REQUIRE_SERVICES"):
        pytest.fail(f"{reason} (REDLINE_REQUIRE_SERVICES is set, so this is a failure)")
    pytest.skip(reason)


def _sqlite_path(url: str) -> str:
    return url.removeprefix("sqlite:///")


def _libpq(url: str) -> str:
    """A SQLAlchemy URL as psycopg's connection string."""
    return make_url(url).set(drivername="postgresql").render_as_string(False)
