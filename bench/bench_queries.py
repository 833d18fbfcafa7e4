"""Hot queries of storage/ on a database of 1,000,000 versions, SQLite and PostgreSQL.

Run by hand from the repository root (never as a test):

    .venv/bin/python bench/bench_queries.py --write             # both backends, update RESULTS.md
    .venv/bin/python bench/bench_queries.py --backend sqlite    # one backend, print only
    .venv/bin/python bench/bench_queries.py --versions 20000    # smoke test on a small database
    .venv/bin/python bench/bench_queries.py --rebuild           # regenerate the database(s) first

The database is bench/world.py's, generated deterministically (seeded random): ~2,000
sources of very unequal size, ~250,000 items, 1,000,000 versions (most items have 1-3, some
dozens, a few hundreds), one change per version, 200,000 checks and 1-2 URL aliases per
item, with ids in time order as redline writes them. bench/world_database.py loads it into
a schema made by the Alembic migrations (storage.upgrade) and keeps it between runs
(bench/.data/ for SQLite, the PostgreSQL database redline_bench_queries), reused when
complete.

Each query is a function of storage/queries.py (or of source_queries.py, change_pages.py or
item_pages.py beside it) called through a sqlmodel Session (so ORM objects are built, as in
the app): 3 warm-ups, then --runs timed calls. The SQL of one call is
captured and explained (EXPLAIN QUERY PLAN on SQLite, EXPLAIN ANALYZE on PostgreSQL); the
full plans go to bench/plans.txt, a one-line summary to the table.
"""

from __future__ import annotations

import argparse
import os
import random
import sqlite3
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import event, func, select  # noqa: E402
from sqlalchemy.engine import Connection, Engine  # noqa: E402
from sqlmodel import Session  # noqa: E402

from bench.harness.databases import PG_URL, database_size, pg_server_line  # noqa: E402
from bench.harness.paths import ROOT  # noqa: E402
from bench.harness.results import RESULTS, load_line, machine_lines, write_section  # noqa: E402
from bench.harness.timing import gc_paused, p99  # noqa: E402
from bench.query_plans import PREPARED_STATS, explain  # noqa: E402
from bench.world import FULL, GENERATOR, NOW, SEED, TABLES  # noqa: E402
from bench.world_database import Database, chosen_databases, ensure_data  # noqa: E402
from storage import (  # noqa: E402
    Change,
    Check,
    Item,
    ItemAlias,
    change_pages,
    item_pages,
    make_engine,
    queries,
    source_queries,
)

SECTION = f"## Hot queries on {FULL:,} versions"
COMMAND = ".venv/bin/python bench/bench_queries.py --write"
PLANS = ROOT / "bench" / "plans.txt"
WARMUPS = 3
SLOW_MS = 10.0


# --- the hot queries ----------------------------------------------------------------------


Call = Callable[[Session, int], Any]  # (session, run number) -> the function's result


@dataclass
class Case:
    name: str
    call: Call


def per_source(connection: Connection, model: Any, *where: Any) -> list[tuple[int, int]]:
    """(source id, rows) of the model's table, most rows first."""
    query = select(model.source_id, func.count()).where(*where).group_by(model.source_id)
    rows = connection.execute(query.order_by(func.count().desc(), model.source_id)).all()
    return [(int(source), int(count)) for source, count in rows]


def pick(engine: Engine, runs: int) -> dict[str, Any]:
    """The ids and URLs the queries are asked about (looked up once, not timed)."""
    rng = random.Random(SEED + 10)
    with Session(engine) as session:
        connection = session.connection()
        items = int(connection.execute(select(func.max(Item.id))).scalar())
        last_change = change_pages.last_change_id(session)
        heavy = connection.execute(
            select(Item.id, Item.version_count).order_by(Item.version_count.desc(), Item.id)
        ).first()
        assert heavy is not None
        edits = per_source(connection, Change, Change.kind == "edited")
        checks = dict(per_source(connection, Check))
        item_counts = dict(per_source(connection, Item))
        wanted = WARMUPS + runs + 1
        alias_ids = rng.sample(range(1, items + 1), wanted)
        urls = dict(
            connection.execute(
                select(ItemAlias.id, ItemAlias.value).where(ItemAlias.id.in_(alias_ids))
            ).all()
        )
    # The biggest source, and a small one: three quarters down the sources by edit count
    # (per-source pages read few rows either way with the right index, many without it).
    big, small = edits[0][0], edits[min(len(edits) - 1, len(edits) * 3 // 4)][0]
    most_checked = max(checks, key=lambda source: (checks[source], -source))
    return {
        "heavy_item": heavy[0],
        "heavy_versions": heavy[1],
        "random_items": [rng.randint(1, items) for _ in range(wanted)],
        "urls": [urls[i] for i in alias_ids],
        "last_change": last_change,
        "sources": {
            "biggest": (big, dict(edits)[big], checks.get(big, 0), item_counts.get(big, 0)),
            "small": (small, dict(edits)[small], checks.get(small, 0), item_counts.get(small, 0)),
        },
        "most_checked": (most_checked, checks[most_checked]),
    }


def cases(picked: dict[str, Any]) -> list[Case]:
    heavy = picked["heavy_item"]
    randoms = picked["random_items"]
    urls = picked["urls"]
    last = picked["last_change"]
    middle = last // 2
    edited = ["edited"]
    many = f"item with most versions ({picked['heavy_versions']})"
    found = [
        Case(f"versions_of, {many}", lambda s, i: queries.versions_of(s, heavy)),
        Case("versions_of, random item", lambda s, i: queries.versions_of(s, randoms[i])),
        Case(f"changes_of, {many}", lambda s, i: queries.changes_of(s, heavy)),
        Case("changes_of, random item", lambda s, i: queries.changes_of(s, randoms[i])),
        Case(
            "change_page edited, first page", lambda s, i: change_pages.change_page(s, edited, 50)
        ),
        Case(
            "change_page edited, before= middle id",
            lambda s, i: change_pages.change_page(s, edited, 50, before=middle),
        ),
    ]
    for size, (source, source_edits, _, _) in picked["sources"].items():
        found.append(
            Case(
                f"change_page edited, {size} source ({source_edits:,} edits)",
                lambda s, i, source=source: change_pages.change_page(
                    s, edited, 50, source_id=source
                ),
            )
        )
    found += [
        Case(
            "change_page_state edited, first page",
            lambda s, i: change_pages.change_page_state(s, edited, 50),
        ),
        Case(
            "change_page_state edited, before= middle id",
            lambda s, i: change_pages.change_page_state(s, edited, 50, before=middle),
        ),
    ]
    for size, (source, source_edits, _, _) in picked["sources"].items():
        found.append(
            Case(
                f"change_page_state edited, {size} source ({source_edits:,} edits)",
                lambda s, i, source=source: change_pages.change_page_state(
                    s, edited, 50, source_id=source
                ),
            )
        )
    most_checked, most_checks = picked["most_checked"]
    small, _, small_checks, small_items = picked["sources"]["small"]
    big, _, _, big_items = picked["sources"]["biggest"]
    found += [
        Case(
            "changes_after, 1,000 before the end",
            lambda s, i: change_pages.changes_after(s, after=last - 1000, limit=200),
        ),
        Case(
            "changes_after, middle id",
            lambda s, i: change_pages.changes_after(s, after=middle, limit=200),
        ),
        Case("due_sources(now)", lambda s, i: source_queries.due_sources(s, NOW)),
        Case(
            "items_by_alias url, random URL, any source",
            lambda s, i: queries.items_by_alias(s, "url", [urls[i]]),
        ),
        Case(
            f"check_page, source with most checks ({most_checks:,})",
            lambda s, i: source_queries.check_page(s, most_checked, 50),
        ),
        Case(
            f"check_page, small source ({small_checks:,} checks)",
            lambda s, i: source_queries.check_page(s, small, 50),
        ),
        Case("item_page, first page", lambda s, i: item_pages.item_page(s, 50)),
        Case(
            f"item_page, biggest source ({big_items:,} items)",
            lambda s, i: item_pages.item_page(s, 50, source_id=big),
        ),
        Case(
            f"item_page, small source ({small_items:,} items)",
            lambda s, i: item_pages.item_page(s, 50, source_id=small),
        ),
    ]
    return found


@dataclass
class Result:
    case: str
    backend: str
    samples_ms: list[float]
    sql_ms: float
    rows: int
    statements: list[tuple[str, Any]]
    plans: list[str]  # full text of each statement's plan
    summary: str
    notes: list[str]

    @property
    def median(self) -> float:
        return statistics.median(self.samples_ms)

    @property
    def p99(self) -> float:
        return p99(self.samples_ms)


def row_count(result: Any) -> int:
    if isinstance(result, tuple):  # change_page_state: (count, newest id, latest time)
        return int(result[0])
    return len(result)


def time_case(engine: Engine, case: Case, runs: int) -> tuple[list[float], int, list[Any]]:
    """Timings (ms), rows of the last call, and on PostgreSQL pg_prepared_statements after."""
    with Session(engine) as session:
        for i in range(WARMUPS):
            case.call(session, i)
            session.expunge_all()
        samples = []
        rows = 0
        with gc_paused():
            for i in range(WARMUPS, WARMUPS + runs):
                # Objects from the last call would be found in the identity map: start empty.
                session.expunge_all()
                t0 = time.perf_counter_ns()
                rows = row_count(case.call(session, i))
                samples.append((time.perf_counter_ns() - t0) / 1e6)
        prepared: list[Any] = []
        if engine.dialect.name == "postgresql":
            # psycopg prepares a statement after 5 executions; PostgreSQL may then plan it
            # once for any parameters (a generic plan), unlike EXPLAIN with the values.
            prepared = session.connection().exec_driver_sql(PREPARED_STATS).all()
    return samples, rows, prepared


def time_sql(engine: Engine, statements: list[tuple[str, Any]], runs: int) -> float:
    """Median ms of the captured SQL alone (driver rows, no ORM objects): what the database
    and the driver cost, so the rest of a call's time is SQLAlchemy building objects."""
    samples = []
    with engine.connect() as connection:
        for run in range(WARMUPS + runs):
            t0 = time.perf_counter_ns()
            for statement, parameters in statements:
                connection.exec_driver_sql(statement, parameters).fetchall()
            if run >= WARMUPS:
                samples.append((time.perf_counter_ns() - t0) / 1e6)
        connection.rollback()
    return statistics.median(samples)


def capture(engine: Engine, case: Case) -> list[tuple[str, Any]]:
    """The SQL and parameters one call sends."""
    captured: list[tuple[str, Any]] = []

    def listener(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        captured.append((statement, parameters))

    with Session(engine) as session:
        session.connection()  # connect (and any dialect set-up) before listening
        event.listen(engine, "before_cursor_execute", listener)
        try:
            case.call(session, 0)
        finally:
            event.remove(engine, "before_cursor_execute", listener)
    return captured


def run_backend(db: Database, runs: int) -> tuple[list[Result], dict[str, Any]]:
    engine = make_engine(db.url)
    try:
        picked = pick(engine, runs)
        results = []
        for case in cases(picked):
            # Fresh connections: cases sending the same SQL (biggest and small source) must
            # not share a prepared statement, whose plan choice depends on its past calls.
            engine.dispose()
            samples, rows, prepared = time_case(engine, case, runs)
            statements = [
                (s, p) for s, p in capture(engine, case) if s.lstrip().upper().startswith("SELECT")
            ]
            sql_ms = time_sql(engine, statements, runs)
            plans, summary, notes = explain(engine, statements, prepared)
            if statistics.median(samples) > SLOW_MS:
                notes.append(
                    f"⚠ slow: median above {SLOW_MS:.0f} ms ({sql_ms:.1f} ms of it the SQL "
                    f"alone; the rest is SQLAlchemy building {rows:,} ORM objects)"
                )
            result = Result(
                case.name, db.backend, samples, sql_ms, rows, statements, plans, summary, notes
            )
            results.append(result)
            print(
                f"{db.backend:10} {case.name:60} {result.median:8.2f} ms  p99 {result.p99:8.2f}"
                f"  SQL {sql_ms:6.2f}"
                f"  {rows:5} rows  {summary}  {' '.join(notes)}",
                flush=True,
            )
        info = {"size": database_size(engine), "picked": picked}
    finally:
        engine.dispose()
    return results, info


# --- report -------------------------------------------------------------------------------


def versions_line(pg_server: str | None) -> str:
    parts = [f"SQLite {sqlite3.sqlite_version} (Python's sqlite3; WAL, default page cache)"]
    if pg_server:
        parts.append(pg_server)
    parts += [
        f"psycopg {metadata.version('psycopg')}",
        f"SQLAlchemy {metadata.version('sqlalchemy')}",
        f"SQLModel {metadata.version('sqlmodel')}",
    ]
    return "- Databases and libraries: " + ", ".join(parts)


def cell(text: str) -> str:
    return text.replace("|", "\\|")


def section(
    versions: int,
    results: list[Result],
    metas: dict[str, dict[str, Any]],
    infos: dict[str, dict[str, Any]],
    pg_server: str | None,
    runs: int,
    load: tuple[float, float, float],
) -> str:
    counts = next(iter(metas.values()))["counts"]
    data = ", ".join(f"{t.name} {counts[t.name]:,}" for t in TABLES)
    sizes = ", ".join(f"{b} {info['size'] / 2**30:.2f} GiB" for b, info in infos.items())
    built = "; ".join(
        f"{b} {meta['seconds']['total']:.0f} s (built {meta['built']}: "
        + ", ".join(f"{k} {v:.0f} s" for k, v in meta["seconds"].items() if k != "total")
        + ")"
        for b, meta in metas.items()
    )
    lines = [
        f"## Hot queries on {versions:,} versions",  # SECTION, on the full run
        "",
        *machine_lines(),
        versions_line(pg_server),
        f"- Rows: {data} (seeded, generator {GENERATOR}); database size: {sizes}",
        f"- Generation: {built}",
        load_line(load, "when timing started")
        + " (other work was running on the machine: read medians, not single calls)",
        f"- Command: `{COMMAND}` (add `--rebuild` to regenerate the databases)",
        "",
        "Each row times one query function of `storage/` through a sqlmodel Session (ORM "
        f"objects built, as the app does): {WARMUPS} warm-ups, then {runs} calls; p99 is the "
        "nearest-rank 99th percentile (the slowest call below 100 calls). The random item and "
        "URL change on every call. The plan is that of the SQL the call sent: `EXPLAIN QUERY "
        "PLAN` on SQLite, `EXPLAIN ANALYZE` on PostgreSQL (rows read = rows the scans of big "
        "tables returned or filtered out); full plans in [plans.txt](plans.txt). "
        "SQL only is the median of the same SQL run through the driver, rows fetched but no "
        "ORM objects built (one call's parameters). ⚠ marks a "
        f"full scan of a big table, more than 10,000 rows read, or a median above {SLOW_MS:.0f} "
        "ms.",
        "",
        "On PostgreSQL, psycopg prepares a statement on its 6th execution on a connection, and "
        "after 5 more PostgreSQL may switch to one generic plan for any parameter values; the "
        "notes say how many timed calls ran a generic plan, and the plan column shows the "
        "generic plan first when it differs from the plan for the actual values. Each query "
        "starts on fresh connections.",
        "",
        "| query | backend | median ms | p99 ms | SQL only ms | rows | plan | notes |",
        "| --- | --- | ---: | ---: | ---: | ---: | --- | --- |",
    ]
    for result in results:
        lines.append(
            f"| {cell(result.case)} | {result.backend} | {result.median:.2f} | {result.p99:.2f} "
            f"| {result.sql_ms:.2f} | {result.rows} | {cell(result.summary)} "
            f"| {cell('; '.join(result.notes))} |"
        )
    flagged = [r for r in results if any(n.startswith("⚠") for n in r.notes)]
    lines += ["", "Flagged:" if flagged else "Nothing flagged.", ""]
    for result in flagged:
        warnings = [n for n in result.notes if n.startswith("⚠")]
        lines.append(f"- {result.case} ({result.backend}): {'; '.join(warnings)}")
    return "\n".join(lines) + "\n"


def plans_text(results: list[Result]) -> str:
    out = [
        f"Plans of the hot queries on {FULL:,} versions, written by bench/bench_queries.py "
        "(see RESULTS.md for the timings).",
        *machine_lines(),
        "SQLite: EXPLAIN QUERY PLAN. PostgreSQL: EXPLAIN (ANALYZE, BUFFERS), run once after "
        "the timed calls (so with a warm cache).",
        "",
    ]
    for result in results:
        out.append("=" * 100)
        out.append(f"{result.case} — {result.backend}")
        for (statement, parameters), plan in zip(result.statements, result.plans, strict=True):
            out += ["", statement.strip(), f"parameters: {parameters!r}", "", plan]
        out.append("")
    return "\n".join(out) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--versions", type=int, default=FULL, help="database size (smoke tests)")
    parser.add_argument("--runs", type=int, default=50, help="timed calls per query")
    parser.add_argument("--rebuild", action="store_true", help="regenerate the database(s)")
    parser.add_argument("--pg-url", default=PG_URL, help="a PostgreSQL server to create ours on")
    parser.add_argument(
        "--write", action="store_true", help=f"update {RESULTS.name} and {PLANS.name}"
    )
    args = parser.parse_args()
    scale, dbs = chosen_databases(parser, args)
    metas = {b: ensure_data(db, scale, args.rebuild) for b, db in dbs.items()}
    load = os.getloadavg()
    results: list[Result] = []
    infos: dict[str, dict[str, Any]] = {}
    for backend, db in dbs.items():
        found, infos[backend] = run_backend(db, args.runs)
        results += found
    # One table, each query's backends side by side.
    order = {name: i for i, name in enumerate(dict.fromkeys(r.case for r in results))}
    results.sort(key=lambda r: (order[r.case], list(dbs).index(r.backend)))
    pg_server = pg_server_line(dbs["postgresql"].url) if "postgresql" in dbs else None
    text_out = section(scale.versions, results, metas, infos, pg_server, args.runs, load)
    print()
    print(text_out)
    if args.write:
        write_section(SECTION, text_out)
        PLANS.write_text(plans_text(results))
        print(f"wrote the {SECTION!r} section of {RESULTS.relative_to(ROOT)} and {PLANS.name}")


if __name__ == "__main__":
    main()
