"""Hot queries of storage/ on a database of 1,000,000 versions, SQLite and PostgreSQL.

Run by hand from the repository root (never as a test):

    .venv/bin/python bench/bench_queries.py --write             # both backends, update RESULTS.md
    .venv/bin/python bench/bench_queries.py --backend sqlite    # one backend, print only
    .venv/bin/python bench/bench_queries.py --versions 20000    # smoke test on a small database
    .venv/bin/python bench/bench_queries.py --rebuild           # regenerate the database(s) first

The database is generated deterministically (seeded random): ~2,000 sources of very unequal
size, ~250,000 items, 1,000,000 versions (most items have 1-3, some dozens, a few hundreds),
one change per version, 200,000 checks and 1-2 URL aliases per item, with ids in time order
as redline writes them. The schema comes from the Alembic migrations (storage.upgrade). It is
kept between runs (bench/.data/ for SQLite, the PostgreSQL database redline_bench_queries)
and reused when complete.

Each query is a function of storage/queries.py (or of source_queries.py, change_pages.py or
item_pages.py beside it) called through a sqlmodel Session (so ORM objects are built, as in
the app): 3 warm-ups, then --runs timed calls. The SQL of one call is
captured and explained (EXPLAIN QUERY PLAN on SQLite, EXPLAIN ANALYZE on PostgreSQL); the
full plans go to bench/plans.txt, a one-line summary to the table.
"""

from __future__ import annotations

import argparse
import bisect
import hashlib
import json
import math
import os
import random
import re
import sqlite3
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any, Protocol

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from psycopg import sql as pgsql  # noqa: E402
from sqlalchemy import Table, event, func, insert, select  # noqa: E402
from sqlalchemy.engine import Connection, Engine, make_url  # noqa: E402
from sqlmodel import Session  # noqa: E402

from bench.harness.databases import (  # noqa: E402
    PG_URL,
    database_size,
    pg_exists,
    pg_server_line,
    recreate,
)
from bench.harness.paths import DATA, ROOT  # noqa: E402
from bench.harness.results import RESULTS, load_line, machine_lines, write_section  # noqa: E402
from bench.harness.timing import gc_paused, p99  # noqa: E402
from bench.words import COMMON_WORDS  # noqa: E402
from storage import (  # noqa: E402
    Change,
    Check,
    Item,
    ItemAlias,
    Source,
    Version,
    change_pages,
    item_pages,
    make_engine,
    queries,
    schema_state,
    source_queries,
    upgrade,
)

FULL = 1_000_000
SECTION = f"## Hot queries on {FULL:,} versions"
COMMAND = ".venv/bin/python bench/bench_queries.py --write"
PLANS = ROOT / "bench" / "plans.txt"
PG_DATABASE = "redline_bench_queries"

SEED = 20250601
GENERATOR = 1  # bump when the generated data changes shape: cached databases are then rebuilt
NOW = datetime(2026, 1, 1, tzinfo=UTC)  # fixed, so the data and due_sources(NOW) never drift
SPAN = 365 * 86400.0  # seconds of history before NOW
START = NOW.timestamp() - SPAN
BATCH = 20_000  # rows per executemany / COPY
WARMUPS = 3
SLOW_MS = 10.0
BIG_TABLES = {"version", "change", "item", "itemalias", "check"}

TABLES: list[Table] = [
    Source.__table__,  # type: ignore[attr-defined]
    Check.__table__,  # type: ignore[attr-defined]
    Item.__table__,  # type: ignore[attr-defined]
    ItemAlias.__table__,  # type: ignore[attr-defined]
    Version.__table__,  # type: ignore[attr-defined]
    Change.__table__,  # type: ignore[attr-defined]
]


# --- the data's shape ---------------------------------------------------------------------


@dataclass(frozen=True)
class Scale:
    versions: int

    @property
    def items(self) -> int:
        return max(1, self.versions // 4)

    @property
    def sources(self) -> int:
        return min(2000, max(10, self.items // 125))

    @property
    def checks(self) -> int:
        return self.versions // 5


SYLLABLE_TEXT = """
ka ri to ma sa ne lo vi da ru be mi zo ta ke ni po la se du fa gi ho ja ku li mo na pe qui
ra si tu va we xi yo za bra cre dro fli gru pla sto tri vel mar son der lin gor tas bel
"""
SYLLABLES = SYLLABLE_TEXT.split()
CATEGORIES = ["world", "politics", "business", "science", "sport", "culture", "health", "tech"]
TAGS = [f"tag-{word}" for word in COMMON_WORDS[100:130]]
SOURCE_KINDS = ["feed", "feed", "feed", "listing", "listing", "article", "offstream", "wikipedia"]
HEADLINE, SUMMARY, BOTH, TAGGED = range(4)  # what an edit changes
FIELDS = {HEADLINE: ["headline"], SUMMARY: ["summary"], BOTH: ["headline", "summary"]}
FIELDS[TAGGED] = ["tags"]
HEADLINE_SLOTS, SUMMARY_SLOTS = 3, 11  # phrases of ~27 chars: ~80 and ~300 chars of text


def phrase_pool(rng: random.Random, count: int) -> list[str]:
    """Phrases of 3-6 words, half common English, half made-up words (a large vocabulary)."""
    made_up = [
        "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4))) for _ in range(6000)
    ]
    phrases = []
    for _ in range(count):
        words = [
            rng.choice(COMMON_WORDS) if rng.random() < 0.5 else rng.choice(made_up)
            for _ in range(rng.randint(3, 6))
        ]
        if rng.random() < 0.15:
            words[-1] += rng.choice([",", ",", ";", "."])
        phrases.append(" ".join(words))
    return phrases


@dataclass(slots=True)
class ItemPlan:
    source_id: int
    times: list[float]  # one per version, increasing; times[0] is first seen
    head: tuple[int, ...]  # phrase ids of the first version's headline
    summary: tuple[int, ...]
    tags: tuple[int, ...]
    edits: list[tuple[int, int, int, float]]  # (what, slot, new phrase, similarity) per n >= 2
    category: str
    first_headline: str = ""
    last_headline: str = ""


@dataclass
class World:
    """Everything decided before a row is written (ids are list positions + 1)."""

    scale: Scale
    phrases: list[str]
    items: list[ItemPlan]
    check_source: list[int]
    check_time: list[float]
    check_versions: Counter[int]
    events: list[tuple[float, int, int, int | None]]  # (time, item index, n, check id)
    next_check: list[float | None]  # per source; None: never checked


def version_counts(rng: random.Random, scale: Scale) -> list[int]:
    """Skewed: most items 1-3 versions, some dozens, a handful hundreds; summing to versions."""
    counts = []
    for _ in range(scale.items):
        roll = rng.random()
        if roll < 0.5:
            counts.append(1)
        elif roll < 0.7:
            counts.append(2)
        elif roll < 0.82:
            counts.append(3)
        elif roll < 0.95:
            counts.append(rng.randint(4, 12))
        else:
            counts.append(rng.randint(13, 60))
    for index, heavy in zip(
        rng.sample(range(scale.items), 5), [300, 220, 150, 120, 100], strict=True
    ):
        counts[index] = max(4, min(heavy, scale.versions // 200))
    # Exactly `versions` in all: grow or shrink the long histories, keep the short ones.
    missing = scale.versions - sum(counts)
    long_ones = [i for i, count in enumerate(counts) if count >= 4]
    while missing:
        i = rng.choice(long_ones)
        if missing > 0:
            counts[i] += 1
            missing -= 1
        elif counts[i] > 4:
            counts[i] -= 1
            missing += 1
    return counts


def plan_world(scale: Scale) -> World:
    rng = random.Random(SEED)
    phrases = phrase_pool(rng, 20_000)
    # A few big sources (wire feeds) and a long tail: weight 1/rank^0.9, ranks shuffled.
    ranks = list(range(1, scale.sources + 1))
    rng.shuffle(ranks)
    weights = [1 / rank**0.9 for rank in ranks]
    item_sources = rng.choices(range(1, scale.sources + 1), weights=weights, k=scale.items)
    counts = version_counts(rng, scale)
    # Item ids in first-seen order, as redline inserts them.
    first_seen = sorted(rng.uniform(START, NOW.timestamp() - 60) for _ in range(scale.items))
    items = []
    for source_id, count, t0 in zip(item_sources, counts, first_seen, strict=True):
        mean_days = 20 if count > 12 else 2
        window = min(NOW.timestamp() - t0, rng.expovariate(1 / (mean_days * 86400)))
        times = [t0, *sorted(t0 + rng.random() * window for _ in range(count - 1))]
        plan = ItemPlan(
            source_id=source_id,
            times=times,
            head=tuple(rng.randrange(len(phrases)) for _ in range(HEADLINE_SLOTS)),
            summary=tuple(rng.randrange(len(phrases)) for _ in range(SUMMARY_SLOTS)),
            tags=tuple(rng.sample(range(len(TAGS)), rng.randint(1, 3))),
            edits=[],
            category=rng.choice(CATEGORIES),
        )
        plan.first_headline = headline_text(phrases, plan.head)
        plan.last_headline = headline_text(phrases, plan_edits(rng, plan, count, len(phrases)))
        items.append(plan)

    # Checks: busier sources are checked more often; ids in time order.
    per_source = Counter(item_sources)
    check_weights = [1 + math.sqrt(per_source[s]) for s in range(1, scale.sources + 1)]
    check_source = rng.choices(range(1, scale.sources + 1), weights=check_weights, k=scale.checks)
    check_time = sorted(rng.uniform(START, NOW.timestamp()) for _ in range(scale.checks))
    times_by_source: dict[int, list[float]] = {}
    ids_by_source: dict[int, list[int]] = {}
    for check_id, (source_id, t) in enumerate(zip(check_source, check_time, strict=True), 1):
        times_by_source.setdefault(source_id, []).append(t)
        ids_by_source.setdefault(source_id, []).append(check_id)

    # Versions and changes: one event each, ids in time order; the check that saw it is the
    # source's latest check at that time (none before its first check).
    events: list[tuple[float, int, int, int | None]] = []
    check_versions: Counter[int] = Counter()
    for index, plan in enumerate(items):
        source_times = times_by_source.get(plan.source_id, [])
        for n, t in enumerate(plan.times, 1):
            j = bisect.bisect_right(source_times, t) - 1
            check_id = ids_by_source[plan.source_id][j] if j >= 0 else None
            if check_id is not None:
                check_versions[check_id] += 1
            events.append((t, index, n, check_id))
    events.sort()
    next_check = [
        None if rng.random() < 0.01 else NOW.timestamp() + rng.uniform(-86400, 86400)
        for _ in range(scale.sources)
    ]
    return World(
        scale, phrases, items, check_source, check_time, check_versions, events, next_check
    )


def plan_edits(rng: random.Random, plan: ItemPlan, count: int, phrases: int) -> list[int]:
    """Decide each later version's edit; the phrase ids of the item's last headline."""
    head, summary, tags = list(plan.head), list(plan.summary), list(plan.tags)
    for _ in range(count - 1):
        roll = rng.random()
        what = (
            HEADLINE if roll < 0.4 else SUMMARY if roll < 0.85 else BOTH if roll < 0.95 else TAGGED
        )
        slot = rng.randrange(SUMMARY_SLOTS)
        phrase = rng.randrange(phrases)
        if what in (HEADLINE, BOTH) and head[slot % HEADLINE_SLOTS] == phrase:
            phrase = (phrase + 1) % phrases  # an edit always changes the text
        if what == TAGGED:  # for a tag edit, `phrase` is a tag the version does not have yet
            others = [tag for tag in range(len(TAGS)) if tag not in tags]
            phrase = others[phrase % len(others)]
        apply_edit((what, slot, phrase, 0.0), head, summary, tags)
        plan.edits.append((what, slot, phrase, round(rng.uniform(0.55, 0.99), 3)))
    return head


def apply_edit(
    edit: tuple[int, int, int, float], head: list[int], summary: list[int], tags: list[int]
) -> tuple[int, int, int]:
    """Apply one edit in place; the headline phrase, summary phrase and tag it replaced."""
    what, slot, phrase, _ = edit
    old_head = old_summary = old_tag = -1
    if what in (HEADLINE, BOTH):
        old_head, head[slot % HEADLINE_SLOTS] = head[slot % HEADLINE_SLOTS], phrase
    if what in (SUMMARY, BOTH):
        old_summary, summary[slot] = summary[slot], phrase
    if what == TAGGED:
        old_tag, tags[slot % len(tags)] = tags[slot % len(tags)], phrase
    return old_head, old_summary, old_tag


def headline_text(phrases: list[str], slots: Sequence[int]) -> str:
    words = " ".join(phrases[s] for s in slots).rstrip(",;.")
    return words[:1].upper() + words[1:]


def summary_text(phrases: list[str], slots: Sequence[int]) -> str:
    words = " ".join(phrases[s] for s in slots).rstrip(",;.")
    return words[:1].upper() + words[1:] + "."


def slug(headline: str) -> str:
    return "-".join(re.findall(r"[a-z0-9]+", headline.lower())[:8])


def source_host(source_id: int) -> str:
    return f"news{source_id}.example"


def item_urls(plan: ItemPlan, item_id: int) -> list[str]:
    """The item's URL aliases: its first URL, and a second one when its headline changed it."""
    base = f"https://{source_host(plan.source_id)}/news/"
    first = f"{base}{slug(plan.first_headline)}-{item_id}"
    last = f"{base}{slug(plan.last_headline)}-{item_id}"
    return [first] if last == first else [first, last]


def at(seconds: float) -> datetime:
    # Aware, because the tables' UTCDateTime type refuses naive values; it stores naive UTC.
    return datetime.fromtimestamp(seconds, UTC)


# --- rows, by column name (a column the models add later gets its default) ---------------

Row = dict[str, Any]


def source_rows(world: World) -> Iterator[Row]:
    rng = random.Random(SEED + 1)
    last_check: dict[int, float] = {}
    for source_id, t in zip(world.check_source, world.check_time, strict=True):
        last_check[source_id] = t
    for source_id in range(1, world.scale.sources + 1):
        kind = rng.choice(SOURCE_KINDS)
        next_check = world.next_check[source_id - 1]
        checked = last_check.get(source_id)
        failures = rng.choice([0] * 20 + [1, 2, 5])
        yield {
            "id": source_id,
            "url": f"https://{source_host(source_id)}/{kind}",
            "kind": kind,
            "name": f"News {source_id}",
            "interval_seconds": rng.choice([None, None, 300, 900, 3600]),
            "enabled": rng.random() > 0.03,
            "etag": f'"{source_id:x}-etag"' if rng.random() < 0.4 else None,
            "created_at": at(START - 86400),
            "next_check_at": at(next_check) if next_check is not None else None,
            "last_checked_at": at(checked) if checked is not None else None,
            "consecutive_failures": failures,
            "last_error": "HTTP 503" if failures else None,
            "listing": None if checked is None else kind in ("feed", "listing"),
            "options": {"match_threshold": 0.6} if kind == "listing" else {},
        }


def check_rows(world: World) -> Iterator[Row]:
    rng = random.Random(SEED + 2)
    for check_id, (source_id, t) in enumerate(
        zip(world.check_source, world.check_time, strict=True), 1
    ):
        added = world.check_versions.get(check_id, 0)
        roll = rng.random()
        outcome = "changed" if added else "unchanged" if roll < 0.7 else "not_modified"
        if not added and roll > 0.92:
            outcome = "error"
        status = {"error": 503, "not_modified": 304}.get(outcome, 200)
        yield {
            "id": check_id,
            "source_id": source_id,
            "started_at": at(t),
            "finished_at": at(t + rng.uniform(0.1, 3.0)),
            "outcome": outcome,
            "http_status": status,
            "bytes": rng.randint(5_000, 400_000) if status == 200 else 0,
            "error": "HTTP 503 Service Unavailable" if outcome == "error" else None,
            "items_seen": rng.randint(10, 200) if status == 200 else 0,
            "versions_added": added,
            "changes_added": added,
        }


def item_rows(world: World) -> Iterator[Row]:
    rng = random.Random(SEED + 3)
    for item_id, plan in enumerate(world.items, 1):
        urls = item_urls(plan, item_id)
        last_seen = min(NOW.timestamp(), plan.times[-1] + rng.uniform(0, 86400))
        removed = last_seen + 3600 if rng.random() < 0.05 and last_seen < NOW.timestamp() else None
        yield {
            "id": item_id,
            "source_id": plan.source_id,
            "key": urls[0],
            "url": urls[-1],
            "headline": plan.last_headline,
            "event_date": at(plan.times[0]).date() if rng.random() < 0.6 else None,
            "first_seen_at": at(plan.times[0]),
            "last_seen_at": at(last_seen),
            "removed_at": at(removed) if removed is not None else None,
            "version_count": len(plan.times),
        }


def alias_rows(world: World) -> Iterator[Row]:
    alias_id = 0
    for item_id, plan in enumerate(world.items, 1):
        for url in item_urls(plan, item_id):
            alias_id += 1
            yield {
                "id": alias_id,
                "item_id": item_id,
                "source_id": plan.source_id,
                "kind": "url",
                "value": url,
            }


@dataclass(slots=True)
class ItemState:
    head: list[int]
    summary: list[int]
    tags: list[int]
    version_id: int


def event_batches(world: World) -> Iterator[tuple[list[Row], list[Row]]]:
    """(version rows, change rows) in batches, replaying every item's edits in time order."""
    phrases = world.phrases
    states: dict[int, ItemState] = {}
    versions: list[Row] = []
    changes: list[Row] = []
    for event_id, (t, index, n, check_id) in enumerate(world.events, 1):
        plan = world.items[index]
        item_id = index + 1
        diff: dict[str, list[list[int | str]]] | None = None
        if n == 1:
            state = ItemState(list(plan.head), list(plan.summary), list(plan.tags), 0)
            states[index] = state
            edit = None
        else:
            state = states[index]
            edit = plan.edits[n - 2]
            before_head, before_summary = list(state.head), list(state.summary)
            olds = apply_edit(edit, state.head, state.summary, state.tags)
            diff = edit_diff(phrases, edit, before_head, before_summary, olds)
        headline = headline_text(phrases, state.head)
        summary = summary_text(phrases, state.summary)
        urls = item_urls(plan, item_id)
        last_observed = plan.times[n] if n < len(plan.times) else plan.times[-1]
        versions.append(
            {
                "id": event_id,
                "item_id": item_id,
                "n": n,
                "headline": headline,
                "summary": summary,
                "category": plan.category,
                "tags": [TAGS[t] for t in state.tags],
                "sources": ["Reuters"] if item_id % 5 == 0 else None,
                "url": urls[-1] if n == len(plan.times) else urls[0],
                "content_hash": hashlib.blake2b(
                    f"{headline}\n{summary}".encode(), digest_size=16
                ).hexdigest(),
                "origin": "observed",
                "observed_at": at(t),
                "last_observed_at": at(last_observed),
                "check_id": check_id,
            }
        )
        changes.append(
            {
                "id": event_id,
                "item_id": item_id,
                "source_id": plan.source_id,
                "kind": "created" if edit is None else "edited",
                "from_version_id": state.version_id or None,
                "to_version_id": event_id,
                "from_n": n - 1 if n > 1 else None,
                "to_n": n,
                "fields": [] if edit is None else FIELDS[edit[0]],
                "similarity": None if edit is None else edit[3],
                "classification": None
                if edit is None
                else "minor"
                if edit[3] >= 0.85
                else "substantive",
                "diff": diff,
                "occurred_at": at(t),
                "recorded_at": at(t + 1.0),  # a second after: still increasing with the id
            }
        )
        state.version_id = event_id
        if n == len(plan.times):
            del states[index]  # the item's last version: its state is no longer needed
        if len(versions) >= BATCH:
            yield versions, changes
            versions, changes = [], []
    if versions:
        yield versions, changes


def edit_diff(
    phrases: list[str],
    edit: tuple[int, int, int, float],
    head: list[int],
    summary: list[int],
    olds: tuple[int, int, int],
) -> dict[str, list[list[int | str]]]:
    """A small stored diff: the replaced phrase with up to 40 characters of context a side."""
    what, slot, phrase, _ = edit
    old_head, old_summary, old_tag = olds
    diff: dict[str, list[list[int | str]]] = {}
    if what == TAGGED:
        return {"tags": [[-1, TAGS[old_tag]], [1, TAGS[phrase]]]}
    for name, slots, position, old in (
        ("headline", head, slot % HEADLINE_SLOTS, old_head),
        ("summary", summary, slot, old_summary),
    ):
        if old < 0:
            continue
        before = " ".join(phrases[s] for s in slots[:position])[-40:]
        after = " ".join(phrases[s] for s in slots[position + 1 :])[:40]
        ops: list[list[int | str]] = [[-1, phrases[old]], [1, phrases[phrase]]]
        if before:
            ops.insert(0, [0, before + " "])
        if after:
            ops.append([0, " " + after])
        diff[name] = ops
    return diff


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


PREPARED_STATS = "SELECT statement, generic_plans, custom_plans FROM pg_prepared_statements"


def placeholders_as(statement: str, mark: str) -> str:
    return re.sub(r"%\(\w+\)s|\$\d+", mark, statement)


def generic_plans_used(prepared: list[Any], statement: str) -> tuple[int, int] | None:
    """(generic, custom) plan counts of the prepared statement sending this SQL, if any."""
    wanted = placeholders_as(statement, "?")
    for text_, generic, custom in prepared:
        if placeholders_as(text_, "?") == wanted:
            return int(generic), int(custom)
    return None


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


def explain(
    engine: Engine, statements: list[tuple[str, Any]], prepared: list[Any]
) -> tuple[list[str], str, list[str]]:
    """(full plan text per statement, one-line summary, notes such as full scans)."""
    plans, summaries, notes = [], [], []
    with engine.connect() as connection:
        for statement, parameters in statements:
            if engine.dialect.name == "sqlite":
                plan, summary, found = explain_sqlite(connection, statement, parameters)
            else:
                plan, summary, found = explain_postgresql(connection, statement, parameters)
                counts = generic_plans_used(prepared, statement)
                if counts and counts[0]:
                    # The timed calls ran the generic plan: that is the one to judge.
                    generic, g_summary, g_found = explain_generic(connection, statement, parameters)
                    plan += f"\n\nGeneric plan ({counts[0]} of the timed calls used it):\n{generic}"
                    if g_summary != summary:
                        summary = f"generic: {g_summary} (with the values: {summary})"
                    found = g_found + [n for n in found if n not in g_found]
                    found.append(f"generic plan in {counts[0]} of {sum(counts)} calls")
            plans.append(plan)
            summaries.append(summary)
            notes.extend(found)
        connection.rollback()
    return plans, " ‖ ".join(summaries), notes


def explain_sqlite(
    connection: Connection, statement: str, parameters: Any
) -> tuple[str, str, list[str]]:
    rows = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters).all()
    depth: dict[int, int] = {0: -1}
    lines, details = [], []
    for node_id, parent, _, detail in rows:
        depth[node_id] = depth.get(parent, -1) + 1
        lines.append("  " * depth[node_id] + detail)
        details.append(detail)
    notes = []
    sorted_all = any("USE TEMP B-TREE FOR ORDER BY" in d for d in details)
    for detail in details:
        match = re.match(r"SCAN (\w+)(?: USING (?:COVERING )?INDEX (\w+))?$", detail)
        if not match or match.group(1).strip('"') not in BIG_TABLES:
            continue
        if sorted_all or " LIMIT " not in statement:
            notes.append(f"⚠ full scan: {detail}")
        else:
            notes.append(f"{detail}: in key order, stops after LIMIT matches")
    return "\n".join(lines), "; ".join(details), notes


def pg_nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", []):
        yield from pg_nodes(child)


def explain_postgresql(
    connection: Connection, statement: str, parameters: Any
) -> tuple[str, str, list[str]]:
    text_rows = connection.exec_driver_sql(
        f"EXPLAIN (ANALYZE, BUFFERS) {statement}", parameters
    ).all()
    tree = connection.exec_driver_sql(
        f"EXPLAIN (ANALYZE, FORMAT JSON) {statement}", parameters
    ).scalar()
    summary, notes = summarize_postgresql(tree[0]["Plan"])
    return "\n".join(row[0] for row in text_rows), summary, notes


def explain_generic(
    connection: Connection, statement: str, parameters: dict[str, Any]
) -> tuple[str, str, list[str]]:
    """The plan PostgreSQL makes for the statement prepared once for any values."""
    names: list[str] = []

    def number(match: re.Match[str]) -> str:
        if match.group(1) not in names:
            names.append(match.group(1))
        return f"${names.index(match.group(1)) + 1}"

    body = re.sub(r"%\((\w+)\)s", number, statement)
    driver = connection.connection.driver_connection
    values = ", ".join(pgsql.Literal(parameters[name]).as_string(driver) for name in names)
    connection.exec_driver_sql(f"PREPARE bench_generic AS {body}")
    try:
        connection.exec_driver_sql("SET plan_cache_mode = force_generic_plan")
        execute = f"EXECUTE bench_generic({values})"
        text_rows = connection.exec_driver_sql(f"EXPLAIN (ANALYZE, BUFFERS) {execute}").all()
        tree = connection.exec_driver_sql(f"EXPLAIN (ANALYZE, FORMAT JSON) {execute}").scalar()
    finally:
        connection.exec_driver_sql("RESET plan_cache_mode")
        connection.exec_driver_sql("DEALLOCATE bench_generic")
    summary, notes = summarize_postgresql(tree[0]["Plan"])
    return "\n".join(row[0] for row in text_rows), summary, notes


def summarize_postgresql(root: dict[str, Any]) -> tuple[str, list[str]]:
    """One line: the plan's nodes, and how many rows of big tables its scans went through."""
    labels, notes = [], []
    read = 0
    for node in pg_nodes(root):
        kind = node["Node Type"]
        if kind in ("Index Scan", "Index Only Scan") and node.get("Scan Direction") == "Backward":
            kind += " Backward"
        label = kind
        if "Index Name" in node:
            label += f" using {node['Index Name']}"
        if "Relation Name" in node:
            label += f" on {node['Relation Name']}"
        loops = node.get("Actual Loops", 1)
        if node.get("Rows Removed by Filter"):
            label += f" (filter removed {node['Rows Removed by Filter'] * loops:,})"
        if kind not in ("Limit", "Result"):
            labels.append(label)
        relation = node.get("Relation Name")
        if relation in BIG_TABLES:
            read += (node.get("Actual Rows", 0) + node.get("Rows Removed by Filter", 0)) * loops
            if kind == "Seq Scan":
                notes.append(f"⚠ full scan: Seq Scan on {relation}")
        if kind == "Sort" and node.get("Actual Rows", 0) > 10_000:
            notes.append(f"⚠ sorts {node['Actual Rows']:,} rows")
    if read > 10_000:
        notes.append(f"⚠ reads {read:,} rows of big tables")
    return " → ".join(labels) + f" [{read:,} rows read]", notes


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
