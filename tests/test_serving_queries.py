"""What serving costs in SQL: feed pages, the 304 path and the JSON lists send a bounded
number of statements whatever their size, and batching them changed no byte of a feed.

The database is built row by row (no tracker): three sources, items with several
versions, edits, removals and restorations, tags, and items whose versions have no URL.
tests/fixtures/serving/feeds.json holds every feed page of it as the per-entry reads
rendered them before batching (regenerate with REDLINE_WRITE_GOLDEN=1 only when a feed's
content is meant to change).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from hashlib import sha256
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from feeds import atom, feed_names, feed_query
from feeds.app import create_app
from feeds.hot_pages import HotPages
from feeds.settings import ServiceSettings
from storage import Change, Item, Source, Version, stored_diff, transaction
from tracker import __version__

from .recorded import record_headlines

GOLDEN = Path(__file__).parent / "fixtures" / "serving" / "feeds.json"
START = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
CONFIG = feed_names.FeedConfig(authority="news.example.org", public_url="https://redline.example/w")
TAGS = ("World", "Q&A / Test", "Politics")


def _diff(old: str, new: str) -> dict[str, list[list[int | str]]]:
    return {"headline": [[0, "Headline: "], [-1, old], [1, new]]}


def fill(engine: Engine, sources: int = 3, items_per_source: int = 4) -> None:
    """Sources, items and their histories; every item has 1 to 4 versions, some items
    leave their listing and come back, versions carry tags and (some) URLs."""
    clock = [START]

    def tick() -> datetime:
        clock[0] += timedelta(minutes=7)
        return clock[0]

    with transaction(engine) as session:
        for s in range(sources):
            name = "Named source" if s == 0 else None
            source = Source(url=f"https://site{s}.example/news", name=name, created_at=START)
            session.add(source)
            session.flush()
            assert source.id is not None
            for i in range(items_per_source):
                _fill_item(session, source.id, s, i, tick)


def _fill_item(session: Session, source_id: int, s: int, i: int, tick) -> None:
    first = tick()
    url = f"https://site{s}.example/news/{i}" if i % 3 else None
    item = Item(
        source_id=source_id, key=f"k{s}-{i}", url=url, first_seen_at=first, last_seen_at=first
    )
    session.add(item)
    session.flush()
    assert item.id is not None
    previous: Version | None = None
    for n in range(1, 2 + (s + i) % 4):
        at = first if n == 1 else tick()
        headline = f"Item {s}.{i} take {n}"
        version = Version(
            item_id=item.id,
            n=n,
            headline=headline,
            summary=f"Summary {n} of {s}.{i}",
            tags=[TAGS[(i + n) % 3]] + (["Extra"] if n % 2 else []),
            url=f"https://site{s}.example/news/{i}-{n}" if (i + n) % 2 else None,
            content_hash=sha256(f"{s}-{i}-{n}".encode()).hexdigest(),
            origin="observed",
            observed_at=at,
            last_observed_at=at,
        )
        session.add(version)
        session.flush()
        kind = "created" if previous is None else "edited"
        change = Change(
            item_id=item.id,
            source_id=source_id,
            kind=kind,
            from_version_id=previous.id if previous else None,
            to_version_id=version.id,
            from_n=previous.n if previous else None,
            to_n=n,
            fields=["headline"] if previous else [],
            similarity=0.5 + n / 10 if previous else None,
            classification=("style" if n % 2 else "substantive") if previous else None,
            diff=_diff(previous.headline or "", headline) if previous else None,
            occurred_at=at - timedelta(minutes=1),
            recorded_at=at,
        )
        session.add(change)
        item.headline, item.version_count, item.last_seen_at = headline, n, at
        previous = version
    if (s + i) % 3 == 0:  # leaves its listing and comes back
        for kind in ("removed", "restored"):
            at = tick()
            assert previous is not None
            session.add(
                Change(
                    item_id=item.id,
                    source_id=source_id,
                    kind=kind,
                    from_n=previous.n,
                    to_n=previous.n,
                    occurred_at=at,
                    recorded_at=at,
                )
            )
    session.add(item)


def all_queries(session: Session) -> list[feed_query.FeedQuery]:
    """Every page of every feed of the filled database, at a small page size."""
    firsts = [feed_query.FeedQuery(limit=5)]
    firsts += [feed_query.FeedQuery("source", s, limit=3) for s in (1, 2, 3, 99)]
    firsts += [feed_query.FeedQuery("item", i, limit=2) for i in range(1, 13)]
    firsts += [feed_query.FeedQuery("tag", t, limit=3) for t in (*TAGS, "Extra", "none")]
    firsts += [
        feed_query.FeedQuery(kind="minor", limit=4),
        feed_query.FeedQuery(field="headline", limit=4),
    ]
    firsts += [feed_query.FeedQuery(kind="listing", limit=3)]
    firsts += [feed_query.FeedQuery("listing", s, limit=3) for s in (1, 2, 3, 99)]
    firsts += [feed_query.FeedQuery("item", 4, kind="substantive", field="headline", limit=2)]
    pages = []
    for first in firsts:
        query: feed_query.FeedQuery | None = first
        while query is not None:
            pages.append(query)
            try:
                page = atom.render_page(session, CONFIG, query)
            except atom.FeedNotFound:
                break
            query = query.page(page.next_before) if page.next_before is not None else None
    return pages


def _name(query: feed_query.FeedQuery) -> str:
    return feed_names.feed_url(CONFIG, query)


def render_all(engine: Engine) -> dict[str, str]:
    with Session(engine) as session:
        found = {}
        for query in all_queries(session):
            with Session(engine) as fresh:  # an empty identity map, as a request has
                try:
                    body = atom.render_page(fresh, CONFIG, query).body.decode()
                except atom.FeedNotFound:
                    body = "not found"
            found[_name(query)] = body.replace(f'version="{__version__}"', 'version="X"')
        return found


@contextmanager
def counted(engine: Engine) -> Iterator[list[str]]:
    """The SQL statements sent on the engine inside the block."""
    statements: list[str] = []

    def before(conn, cursor, statement, parameters, context, executemany) -> None:  # noqa: ANN001
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", before)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", before)


@pytest.fixture
def filled(engine: Engine) -> Engine:
    fill(engine)
    return engine


def test_feed_pages_are_byte_for_byte_what_per_entry_reads_made(filled: Engine) -> None:
    found = render_all(filled)
    if os.environ.get("REDLINE_WRITE_GOLDEN"):
        GOLDEN.parent.mkdir(parents=True, exist_ok=True)
        GOLDEN.write_text(json.dumps(found, indent=1, ensure_ascii=False) + "\n")
    expected = json.loads(GOLDEN.read_text())
    assert len(found) > 40
    assert "Removed from " in "".join(found.values())
    assert "Restored to " in "".join(found.values())
    assert sorted(found) == sorted(expected)
    for name, body in found.items():
        assert body == expected[name], name


@pytest.fixture
def wide(engine: Engine) -> Engine:
    """Many sources and items, so a page's entries share few rows."""
    fill(engine, sources=6, items_per_source=8)
    return engine


def statements_for(engine: Engine, work) -> int:  # noqa: ANN001
    with Session(engine) as session, counted(engine) as statements:
        work(session)
    return len(statements)


@pytest.mark.parametrize(
    ("scope", "key"), [("edits", None), ("source", 2), ("item", 7), ("tag", "World")]
)
def test_a_feed_page_takes_the_same_few_statements_whatever_its_size(
    wide: Engine, scope: str, key: int | str | None
) -> None:
    def page(limit: int):  # noqa: ANN202
        query = feed_query.FeedQuery(
            scope, key, kind="all", limit=limit
        )  # every edit: more entries
        return lambda session: atom.render_page(session, CONFIG, query)

    with Session(wide) as session:
        query = feed_query.FeedQuery(scope, key, kind="all", limit=200)
        entries = atom.render_page(session, CONFIG, query)
    big = min(len(entries.entry_ids), 200)
    assert big >= (3 if scope == "item" else 10), big  # enough entries to tell
    counts = [statements_for(wide, page(limit)) for limit in (1, big // 2, big)]
    assert counts[1] == counts[2], counts  # before batching: 3 more per entry
    # The scope's row, the page, then items, sources and versions; an item's newest
    # page also reads its versions for the first-to-current entry.
    assert max(counts) <= (6 if scope == "item" else 5), counts


def test_feed_state_is_one_statement(wide: Engine) -> None:
    """What a conditional GET answered 304 reads (an item's page: its row too)."""
    queries = [
        feed_query.FeedQuery(limit=50),
        feed_query.FeedQuery("tag", "World", kind="minor"),
        feed_query.FeedQuery("source", 3, before=40),
        feed_query.FeedQuery("item", 7),
    ]
    for query in queries:
        count = statements_for(wide, lambda session, q=query: atom.feed_state(session, CONFIG, q))
        assert count == 1, (query, count)


# The item endpoints of the JSON API: ETag and conditional GET, and their statements.


@pytest.fixture
def client(filled: Engine) -> Iterator[TestClient]:
    app = create_app(filled, ServiceSettings())
    # The change log's generation is read on every request here (the service reads it at
    # most twice a second): a kept page's conditional GET then sends that one statement,
    # and an item changed by the test is seen at once (tests/test_hot_pages.py).
    app.state.hot_pages.refresh = 0
    with TestClient(app) as test_client:
        yield test_client


def _add_version(engine: Engine, item_id: int) -> None:
    """A new version of the item and the change that made it, as ingest adds them."""
    with transaction(engine) as session:
        item = session.get(Item, item_id)
        assert item is not None
        n, at = item.version_count + 1, item.last_seen_at + timedelta(hours=1)
        version = Version(
            item_id=item_id,
            n=n,
            headline=f"Newer take {n}",
            content_hash=sha256(f"new-{n}".encode()).hexdigest(),
            origin="observed",
            observed_at=at,
            last_observed_at=at,
        )
        session.add(version)
        session.flush()
        session.add(
            Change(
                item_id=item_id,
                source_id=item.source_id,
                kind="edited",
                to_version_id=version.id,
                from_n=n - 1,
                to_n=n,
                fields=["headline"],
                occurred_at=at,
                recorded_at=at,
            )
        )
        item.version_count, item.headline, item.last_seen_at = n, version.headline, at
        session.add(item)


@pytest.mark.parametrize("path", ["/api/items/{id}/versions", "/api/items/{id}"])
def test_item_endpoints_answer_304_to_their_etag_until_the_item_changes(
    client: TestClient, filled: Engine, path: str
) -> None:
    url = path.format(id=5)
    first = client.get(url)
    assert first.status_code == 200
    etag = first.headers["etag"]
    assert etag.startswith('W/"') and first.headers["cache-control"] == "no-cache"
    assert client.get(path.format(id=6)).headers["etag"] != etag  # another item, another tag

    with counted(filled) as statements:
        again = client.get(url, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    assert again.headers["etag"] == etag
    assert len(statements) == 1, statements
    for header in (f'"x", {etag[2:]}', "*", etag[2:]):  # a list, any, strong form
        assert client.get(url, headers={"If-None-Match": header}).status_code == 304
    assert client.get(url, headers={"If-None-Match": '"other"'}).status_code == 200
    assert client.get(url, headers={"If-None-Match": etag}).status_code == 304

    _add_version(filled, 5)
    changed = client.get(url, headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["etag"] != etag
    assert "Newer take" in changed.text
    assert client.get(path.format(id=999), headers={"If-None-Match": "*"}).status_code == 404


def test_versions_body_is_what_the_response_model_gives(client: TestClient) -> None:
    document = client.get("/api/items/4/versions").json()  # `redline history --json`'s object
    assert document["item"]["id"] == 4
    versions = document["versions"]
    assert [v["n"] for v in versions] == list(range(1, len(versions) + 1))
    assert len(versions) > 2
    assert versions[1]["change"] == {
        "kind": "edited",
        "fields": ["headline"],
        "class": "substantive",
        "score": None,  # the fixture's rows have none, as rows stored before 0007
        "reasons": [],
        "similarity": 0.7,
        "variants": None,
    }
    assert versions[0]["observed_at"].endswith("Z")


@pytest.mark.parametrize(
    "path",
    [
        "/feeds/edits.atom?limit=50",
        "/feeds/sources/2.atom",
        "/feeds/items/4.atom",
        "/feeds/tags/World.atom",
        "/api/items/4/versions",
        "/api/items/4",
    ],
)
def test_conditional_gets_send_one_statement(client: TestClient, filled: Engine, path: str) -> None:
    etag = client.get(path).headers["etag"]
    with counted(filled) as statements:
        assert client.get(path, headers={"If-None-Match": etag}).status_code == 304
    assert len(statements) == 1, statements


def _statements(engine: Engine, path: str, page_size: int) -> int:
    app = create_app(engine, ServiceSettings(page_size=page_size))
    # Every page is built, never served kept, and the change log's generation is read
    # once, by the warming request: what is counted is the build, not whether the kept
    # generation was REFRESH_SECONDS old (CI once counted 1 and 0 that way).
    app.state.hot_pages = HotPages(engine, max_bytes=0, refresh=3600)
    with TestClient(app) as client:
        client.get(path)  # warm: the first request also reads what the app caches
        with counted(engine) as statements:
            assert client.get(path).status_code == 200
    return len(statements)


@pytest.mark.parametrize("path", ["/", "/api/changes", "/feeds/edits.atom?kind=all"])
def test_diffs_stored_packed_read_their_versions_in_one_statement_per_page(
    engine: Engine, path: str
) -> None:
    """Edits the tracker recorded keep their diffs' unchanged runs as lengths: every page
    reads the versions they lead from in one statement, whatever its size."""
    for n in range(6):
        takes = [f"Storm {n} leaves {k} dead on the coast" for k in (8, 12, 15, 21)]
        seen = [(START + timedelta(hours=n + k), take) for k, take in enumerate(takes)]
        record_headlines(engine, f"https://news.example/storm-{n}", seen)
    with transaction(engine) as session:
        edits = [c for c in session.exec(select(Change)).all() if c.kind == "edited"]
    assert len(edits) == 18 and all(c.diff and stored_diff.is_packed(c.diff) for c in edits)
    small, large = _statements(engine, path, 3), _statements(engine, path, 40)
    assert small == large, (small, large)


@pytest.mark.parametrize(
    "path",
    ["/", "/?q=take", "/api/items", "/api/changes", "/feeds/edits.atom", "/feeds/sources/2.atom"],
)
def test_lists_take_the_same_statements_at_any_page_size(wide: Engine, path: str) -> None:
    """A page of 3 rows and one of 40 send the same statements: nothing is read per row."""
    small, large = _statements(wide, path, 3), _statements(wide, path, 40)
    assert small == large, (small, large)
    # A feed page: its state (for the ETag), then atom.render_page's at most five reads.
    assert large <= (6 if path.startswith("/feeds/") else 5), (large, path)
