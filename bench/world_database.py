"""The world (bench/world.py) in a database: loaded in bulk (executemany on SQLite, COPY on
PostgreSQL) into a schema made by the Alembic migrations (storage.upgrade), and kept between
runs (bench/.data/ for SQLite, the PostgreSQL database redline_bench_queries) to be reused
when complete. bench_queries.py and bench_serve.py read it.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from psycopg import sql as pgsql
from sqlalchemy import Table, func, insert, select
from sqlalchemy.engine import Engine, make_url

from bench.harness.databases import pg_exists, recreate
from bench.harness.paths import DATA
from bench.world import (
    BATCH,
    FULL,
    GENERATOR,
    TABLES,
    Row,
    Scale,
    alias_rows,
    check_rows,
    event_batches,
    item_rows,
    plan_world,
    sighting_rows,
    source_rows,
)
from storage import make_engine, schema_state, upgrade

PG_DATABASE = "redline_bench_queries"


# --- loading ------------------------------------------------------------------------------


def full_rows(table: Table, rows: list[Row]) -> list[tuple[Any, ...]]:
    """Each row as a tuple in the table's column order; a column the generator does not know
    (added by a later migration) gets its model default, or NULL; unknown names are dropped."""
    defaults = {
        column.name: column.default.arg
        if column.default is not None and column.default.is_scalar
        else None
        for column in table.columns
    }
    return [tuple(row.get(name, default) for name, default in defaults.items()) for row in rows]


class Loader(Protocol):
    def write(self, table: Table, rows: list[Row]) -> None: ...

    def close(self) -> None: ...


class SQLiteLoader:
    """SQLAlchemy Core executemany, a transaction per batch."""

    def __init__(self, engine: Engine) -> None:
        self.connection = engine.connect()
        # A throwaway database being filled: no fsync, and a large page cache for the indexes.
        self.connection.exec_driver_sql("PRAGMA synchronous=OFF")
        self.connection.exec_driver_sql("PRAGMA cache_size=-1000000")
        self.connection.commit()

    def write(self, table: Table, rows: list[Row]) -> None:
        names = [column.name for column in table.columns]
        self.connection.execute(
            insert(table), [dict(zip(names, row, strict=True)) for row in full_rows(table, rows)]
        )
        self.connection.commit()

    def close(self) -> None:
        self.connection.exec_driver_sql("ANALYZE")
        self.connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        self.connection.commit()
        self.connection.close()


class PostgresLoader:
    """COPY through psycopg (2.2x faster than Core executemany: 9 s against 20 s for 100,000
    versions and changes), values converted by each column's SQLAlchemy type exactly as an
    insert would (aware UTC to naive, JSON)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.connection = engine.connect()
        self.connection.exec_driver_sql("SET synchronous_commit = off")
        self.connection.commit()

    def write(self, table: Table, rows: list[Row]) -> None:
        dialect = self.engine.dialect
        processors = [column.type._cached_bind_processor(dialect) for column in table.columns]
        names = [pgsql.Identifier(column.name) for column in table.columns]
        statement = pgsql.SQL("COPY {} ({}) FROM STDIN").format(
            pgsql.Identifier(table.name), pgsql.SQL(", ").join(names)
        )
        # begin(), so that the commit reaches the driver: the COPY itself bypasses SQLAlchemy.
        with self.connection.begin():
            driver = self.connection.connection.driver_connection
            assert driver is not None
            with driver.cursor() as cursor, cursor.copy(statement) as copy:
                for row in full_rows(table, rows):
                    copy.write_row(
                        [
                            value if p is None else p(value)
                            for p, value in zip(processors, row, strict=True)
                        ]
                    )

    def close(self) -> None:
        self.connection.close()
        # VACUUM cannot run in a transaction; it also sets the visibility map, as autovacuum
        # would have on a live database, so index-only scans are possible.
        with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")


def load(loader: Loader, table: Table, rows: Iterable[Row]) -> int:
    batch: list[Row] = []
    written = 0
    for row in rows:
        batch.append(row)
        if len(batch) >= BATCH:
            loader.write(table, batch)
            written += len(batch)
            batch = []
    if batch:
        loader.write(table, batch)
        written += len(batch)
    return written


def build(engine: Engine, scale: Scale) -> dict[str, float]:
    """Create the schema (migrations) and fill it; seconds taken by each step."""
    steps: dict[str, float] = {}
    start = time.perf_counter()
    upgrade(engine)
    world = plan_world(scale)
    steps["plan"] = time.perf_counter() - start
    loader: Loader = (
        SQLiteLoader(engine) if engine.dialect.name == "sqlite" else PostgresLoader(engine)
    )
    for table, rows in (
        (TABLES[0], source_rows(world)),
        (TABLES[1], check_rows(world)),
        (TABLES[2], item_rows(world)),
        (TABLES[3], alias_rows(world)),
        (TABLES[6], sighting_rows(world)),
    ):
        t0 = time.perf_counter()
        count = load(loader, table, rows)
        steps[table.name] = time.perf_counter() - t0
        print(f"  {table.name}: {count:,} rows in {steps[table.name]:.1f} s", flush=True)
    t0 = time.perf_counter()
    done = 0
    for versions, changes in event_batches(world):
        loader.write(TABLES[4], versions)
        loader.write(TABLES[5], changes)
        done += len(versions)
        if done % 200_000 < BATCH:
            print(f"  versions and changes: {done:,} in {time.perf_counter() - t0:.1f} s")
    steps["version+change"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    loader.close()
    steps["analyze"] = time.perf_counter() - t0
    steps["total"] = time.perf_counter() - start
    return steps


# --- databases ----------------------------------------------------------------------------


@dataclass
class Database:
    backend: str
    url: str
    meta: Path  # what was built and how long it took; written last, so it marks a full load
    admin_url: str = ""  # PostgreSQL: a database of the same server, to create ours from

    def read_meta(self) -> dict[str, Any] | None:
        try:
            return json.loads(self.meta.read_text())
        except (OSError, ValueError):
            return None


def database(backend: str, scale: Scale, pg_url: str) -> Database:
    suffix = "" if scale.versions == FULL else f"_{scale.versions}"
    meta = DATA / f"queries-{backend}-{scale.versions}.json"
    if backend == "sqlite":
        return Database(backend, f"sqlite:///{DATA / f'queries-{scale.versions}.db'}", meta)
    url = make_url(pg_url).set(database=PG_DATABASE + suffix)
    return Database(backend, url.render_as_string(hide_password=False), meta, pg_url)


def table_counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as connection:
        return {
            table.name: int(connection.execute(select(func.count()).select_from(table)).scalar())
            for table in TABLES
        }


def is_complete(db: Database, scale: Scale) -> bool:
    meta = db.read_meta()
    if meta is None or meta.get("generator") != GENERATOR or meta.get("versions") != scale.versions:
        return False
    if db.backend == "postgresql" and not pg_exists(db.url, db.admin_url):
        return False
    if db.backend == "sqlite" and not Path(make_url(db.url).database or "").exists():
        return False
    engine = make_engine(db.url)
    try:
        state = schema_state(engine)
        if not state.known:
            return False
        if not state.up_to_date:
            # Newer migrations since it was built: upgrade it, as a live database would be.
            print(f"{db.backend}: upgrading the cached database {state.current} -> {state.head}")
            upgrade(engine)
        return table_counts(engine) == meta["counts"]
    finally:
        engine.dispose()


def chosen_databases(
    parser: argparse.ArgumentParser, args: argparse.Namespace
) -> tuple[Scale, dict[str, Database]]:
    """The databases --backend and --versions name (--write only on the full run of both)."""
    if args.write and (args.versions != FULL or args.backend != "both"):
        parser.error(f"--write needs the full run: --versions {FULL} --backend both")
    scale = Scale(args.versions)
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    return scale, {backend: database(backend, scale, args.pg_url) for backend in backends}


def ensure_data(db: Database, scale: Scale, rebuild: bool) -> dict[str, Any]:
    DATA.mkdir(parents=True, exist_ok=True)
    if not rebuild and is_complete(db, scale):
        meta = db.read_meta()
        assert meta is not None
        print(f"{db.backend}: reusing the database built {meta['built']}")
        return meta
    print(f"{db.backend}: generating {scale.versions:,} versions into {db.url}", flush=True)
    db.meta.unlink(missing_ok=True)
    recreate(db.url, db.admin_url)
    engine = make_engine(db.url)
    try:
        steps = build(engine, scale)
        counts = table_counts(engine)
    finally:
        engine.dispose()
    if counts["version"] != scale.versions or counts["change"] != scale.versions:
        raise SystemExit(f"{db.backend}: the load is incomplete: {counts}")
    meta = {
        "generator": GENERATOR,
        "versions": scale.versions,
        "built": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "seconds": {name: round(seconds, 1) for name, seconds in steps.items()},
        "counts": counts,
    }
    db.meta.write_text(json.dumps(meta, indent=2) + "\n")
    print(f"{db.backend}: generated in {steps['total']:.0f} s: {counts}", flush=True)
    return meta
