"""The world bench_queries.py times its queries on and bench_serve.py serves: a seeded
history of news sources, their items, versions, changes and checks, as rows of redline's
tables.

It is generated deterministically (seeded random): at full size (FULL) ~2,000 sources of
very unequal size, ~250,000 items, 1,000,000 versions (most items have 1-3, some dozens, a
few hundreds), one change per version, 200,000 checks and 1-2 URL aliases per item, with
ids in time order as redline writes them. bench/world_database.py loads it into SQLite or
PostgreSQL and keeps it between runs.
"""

from __future__ import annotations

import bisect
import hashlib
import math
import random
import re
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Table

from bench.words import COMMON_WORDS
from storage import Change, Check, Item, ItemAlias, ItemSighting, Source, Version

FULL = 1_000_000  # versions in the world the results are written for
SEED = 20250601
GENERATOR = 2  # bump when the generated data changes shape: cached databases are then rebuilt
NOW = datetime(2026, 1, 1, tzinfo=UTC)  # fixed, so the data and due_sources(NOW) never drift
SPAN = 365 * 86400.0  # seconds of history before NOW
START = NOW.timestamp() - SPAN
BATCH = 20_000  # rows per executemany / COPY

TABLES: list[Table] = [
    Source.__table__,  # type: ignore[attr-defined]
    Check.__table__,  # type: ignore[attr-defined]
    Item.__table__,  # type: ignore[attr-defined]
    ItemAlias.__table__,  # type: ignore[attr-defined]
    Version.__table__,  # type: ignore[attr-defined]
    Change.__table__,  # type: ignore[attr-defined]
    ItemSighting.__table__,  # type: ignore[attr-defined]
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


def sighting_rows(world: World) -> Iterator[Row]:
    """Each item sighted by the source that recorded it (the per-source feeds and item
    pages read the sightings); a listing's items are listed, and leave with the item."""
    listings = {row["id"] for row in source_rows(world) if row["kind"] in ("feed", "listing")}
    for item in item_rows(world):
        yield {
            "item_id": item["id"],
            "source_id": item["source_id"],
            "first_seen_at": item["first_seen_at"],
            "listed": item["source_id"] in listings,
            "removed_at": item["removed_at"],
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
