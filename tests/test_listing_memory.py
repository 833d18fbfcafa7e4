"""An import remembers its listing between snapshots: unchanged records are not read again,
and what is stored is exactly what reading every record would store."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.engine import Engine

from storage import Item, Version, make_engine, transaction
from tests.databases import Backend
from tracker.fetch.archives import ArchivedSnapshot
from tracker.record import listing_memory
from tracker.run import replay
from tracker.run.sources import add_source

URL = "https://news.example/top.json"
START = datetime(2026, 3, 2, 8, tzinfo=UTC)


def story(n: int, headline: str | None = None, votes: int = 0) -> dict[str, Any]:
    return {
        "id": f"story-{n}",
        "url": f"https://news.example/story/{n}",
        "headline": headline or f"Story number {n} about the harbour",
        "summary": f"What happened in story {n}.",
        "votes": votes,  # not an item's field: a record whose votes change is the same item
    }


def snapshots() -> list[list[dict[str, Any]]]:
    """Six snapshots of 30 stories: votes tick, two headlines change, stories leave and
    arrive, one comes back, and one is shown twice (relative and absolute link)."""
    first = [story(n, votes=n) for n in range(30)]
    second = [story(n, votes=n + 1) for n in range(30)]
    second[3] = story(3, "Story number 3 about the harbour, now closed", votes=4)
    third = [r for r in second if r["id"] != "story-7"] + [story(30)]
    fourth = [*third, {**story(12, votes=13), "url": "/story/12"}]
    fifth = [story(7), *fourth]
    fifth[10] = story(10, "Harbour story 10 rewritten", votes=11)
    sixth = [*fifth]
    return [first, second, third, fourth, fifth, sixth]


def archived(pages: list[list[dict[str, Any]]], hour: float = 0) -> list[ArchivedSnapshot]:
    """The pages as files of an archive, an hour apart from START + hour."""
    return [
        ArchivedSnapshot(
            f"dir:{hour + n}.json",
            START + timedelta(hours=hour + n),
            json.dumps(page).encode(),
            f"{hour + n}.json",
        )
        for n, page in enumerate(pages)
    ]


def stored(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Everything a check writes about items, in a comparable form."""
    queries = {
        "items": "SELECT id, key, url, headline, first_seen_at, last_seen_at, removed_at,"
        " version_count, listed FROM item ORDER BY id",
        "versions": "SELECT item_id, n, headline, summary, url, content_hash, observed_at,"
        " last_observed_at FROM version ORDER BY item_id, n",
        "changes": "SELECT item_id, kind, from_n, to_n, occurred_at, classification"
        " FROM change ORDER BY item_id, id",
        "sightings": "SELECT item_id, source_id, first_seen_at, listed, removed_at"
        " FROM itemsighting ORDER BY item_id, source_id",
        "aliases": "SELECT item_id, kind, value FROM itemalias ORDER BY item_id, kind, value",
        "checks": "SELECT outcome, items_seen, versions_added, changes_added"
        ' FROM "check" ORDER BY id',
    }
    with engine.connect() as connection:
        return {
            name: list(map(tuple, connection.execute(text(sql)))) for name, sql in queries.items()
        }


def import_all(
    engine: Engine,
    pages: list[list[dict[str, Any]]],
    between: Callable[[int], None] = lambda n: None,
) -> None:
    with transaction(engine) as session:
        source, _ = add_source(session, URL, "listing")
        source_id = source.id or 0
    done = iter(range(len(pages)))
    replay.import_snapshots(
        engine, source_id, archived(pages), on_snapshot=lambda *_: between(next(done))
    )


@pytest.fixture
def second_engine(backend: Backend, migrated_url: str) -> Iterator[Engine]:
    """Another fresh database, for the same import read the whole way."""
    url = backend.copy(migrated_url, "whole")
    engine = make_engine(url)
    yield engine
    engine.dispose()
    backend.drop(url)


def read_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    """From now on, imports remember nothing: every record is read every time."""
    monkeypatch.setattr(listing_memory.ListingMemory, "split", lambda *args: None)


def both_ways(
    engine: Engine,
    second_engine: Engine,
    monkeypatch: pytest.MonkeyPatch,
    pages: list[list[dict[str, Any]]],
) -> tuple[list[int], dict[str, list[tuple[Any, ...]]]]:
    """Import the pages remembering the listing, then into second_engine reading every
    record; assert both stored the same. The records each remembering snapshot read, and
    what was stored."""
    reads = count_reads(monkeypatch)
    import_all(engine, pages)
    remembered = stored(engine)
    read_whole(monkeypatch)
    import_all(second_engine, pages)
    assert stored(second_engine) == remembered
    return reads, remembered


def test_what_is_stored_is_what_reading_every_record_stores(
    engine: Engine, second_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads, remembered = both_ways(engine, second_engine, monkeypatch, snapshots())
    # 30 records first, then only those that changed (votes aside) or are new (story 3
    # edited; story 30). The relative link to story 12 reads as a new record naming an item
    # seen unchanged: that snapshot is read whole and the memory dropped, so the next
    # reads all of its 32 records, and the last none.
    assert reads == [30, 1, 1, 1, 32, 0]
    kinds = [row[1] for row in remembered["changes"]]
    assert (kinds.count("edited"), kinds.count("removed"), kinds.count("restored")) == (2, 1, 1)


def test_values_equal_in_python_but_not_in_the_listing_are_read_again(
    engine: Engine, second_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """1, 1.0 and true are equal (and hash alike) in Python: a record whose summary goes
    from 1 to true, or to 1.0, is a changed record, read again, as reading the whole way
    reads it."""
    pages = [
        [{**story(n), "summary": 1} for n in range(3)],
        [{**story(n), "summary": True if n == 1 else 1} for n in range(3)],
        [{**story(n), "summary": {1: True, 2: 1.0}.get(n, 1)} for n in range(3)],
    ]
    reads, remembered = both_ways(engine, second_engine, monkeypatch, pages)
    assert reads == [3, 1, 1]
    summaries = {(row[0], row[3]) for row in remembered["versions"]}
    assert {(2, "1"), (2, "True"), (3, "1"), (3, "1.0")} <= summaries


def test_a_url_id_a_remembered_row_shares_with_a_newcomer_is_not_used(
    engine: Engine, second_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rows known by their URLs, each carrying an 8-digit id. A newcomer whose URL has the
    id of a row seen unchanged (another slug, another headline) shows that id naming two
    items: it is a new item, not story 5 moved. The memory's rows (the context, whose
    sightings it keeps from one snapshot to the next) must say so as reading them does."""

    def row(n: int, slug: str, headline: str) -> dict[str, Any]:
        return {"url": f"https://news.example/world/{10_000_000 + n}/{slug}", "headline": headline}

    stories = [row(n, f"story-{n}", f"Story number {n} about the harbour") for n in range(30)]
    newcomer = row(5, "ferry-strike", "Ferry crews walk out over pay")
    pages = [stories, [*stories, newcomer], [*stories, newcomer]]
    reads, remembered = both_ways(engine, second_engine, monkeypatch, pages)
    assert reads == [30, 1, 0]
    assert len(remembered["items"]) == 31  # the newcomer is an item of its own
    assert not [change for change in remembered["changes"] if change[1] == "edited"]


def count_reads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many records each snapshot's check read (made an Observation of)."""
    reads: list[int] = []
    real_split = listing_memory.ListingMemory.split
    real_read = listing_memory.record_observation

    def split(self: listing_memory.ListingMemory, *args: Any) -> Any:
        reads.append(0)
        return real_split(self, *args)

    def read(*args: Any) -> Any:
        reads[-1] += 1
        return real_read(*args)

    monkeypatch.setattr(listing_memory.ListingMemory, "split", split)
    monkeypatch.setattr(listing_memory, "record_observation", read)
    return reads


def test_the_memory_is_dropped_when_another_listing_of_the_site_is_checked(
    engine: Engine, second_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """world.json shows story 5 under another headline between two snapshots of top.json:
    the item is shared by the site's listings, so top.json's next snapshot must read story
    5 again (its headline is back to top.json's), as reading the whole way does."""
    pages = snapshots()[:3]

    def world_check(into: Engine) -> Callable[[int], None]:
        def check(done: int) -> None:
            if done != 0:
                return
            with transaction(into) as session:
                world, _ = add_source(session, "https://news.example/world.json", "listing")
                world_id = world.id or 0
            page = [story(5, "Story 5 as the world page tells it", votes=2)]
            replay.import_snapshots(into, world_id, archived([page], hour=0.5))

        return check

    reads = count_reads(monkeypatch)
    import_all(engine, pages, between=world_check(engine))
    # top.json's first snapshot; world.json's (one record: read whole); top.json's
    # second, read whole since world.json was checked; its third, only story 30.
    assert reads == [30, 0, 30, 1]
    remembered = stored(engine)
    read_whole(monkeypatch)
    import_all(second_engine, pages, between=world_check(second_engine))
    assert stored(second_engine) == remembered
    headlines = [row[2] for row in remembered["versions"] if row[0] == 6]  # story 5's item
    assert headlines[-2:] == ["Story 5 as the world page tells it", story(5)["headline"]]


def last_seen(engine: Engine) -> list[datetime]:
    """Each item's last-seen time and its latest version's last-observed time."""
    item, version = Item.__table__, Version.__table__  # type: ignore[attr-defined]
    query = select(item.c.last_seen_at, version.c.last_observed_at).join(
        version, (version.c.item_id == item.c.id) & (version.c.n == item.c.version_count)
    )
    with engine.connect() as connection:
        return [value for row in connection.execute(query) for value in row]


def test_unchanged_items_last_seen_times_are_written_late_but_written(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Seven snapshots where only votes tick: the times move on in the database at least
    every WRITE_SEEN_EVERY snapshots, and the import ends with every time true."""
    monkeypatch.setattr(listing_memory, "WRITE_SEEN_EVERY", 3)
    pages = [[story(n, votes=n + hour) for n in range(5)] for hour in range(7)]
    seen_after: list[set[datetime]] = []
    import_all(engine, pages, between=lambda done: seen_after.append(set(last_seen(engine))))
    # The first snapshot is read whole; then two kept, and the third writes all three.
    hours = [{START + timedelta(hours=hour)} for hour in (0, 0, 0, 3, 3, 3, 6)]
    assert seen_after == hours
    assert set(last_seen(engine)) == {START + timedelta(hours=6)}


def test_a_stopped_import_still_writes_the_times_it_kept(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    pages = [[story(n, votes=n + hour) for n in range(5)] for hour in range(6)]

    def stop(done: int) -> None:
        if done == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        import_all(engine, pages, between=stop)
    assert set(last_seen(engine)) == {START + timedelta(hours=3)}
