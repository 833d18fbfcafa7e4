"""The JSON API, /healthz and /metrics over a real database filled by replaying the corpus.

The API and the CLI read the same database, and where their JSON overlaps it is the same.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import threading
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import create_engine, select
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel

from feeds.api import changes as change_log
from feeds.api import guards, health
from feeds.api import items as items_api
from feeds.app import create_app
from feeds.settings import ServiceSettings
from storage import (
    Change,
    Check,
    Item,
    Source,
    Version,
    change_pages,
    queries,
    source_queries,
    transaction,
    utcnow,
)
from tracker.run.rounds import check_round

from .conftest import Site, filled_per_module, manifest_snapshots, offstream_page
from .test_stored_diff import assert_whole_diff
from .test_tracking import START, add, check_all

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

TOKEN = "correct-horse-battery-staple"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def client_for(engine: Engine, token: str | None = TOKEN, **settings: object) -> TestClient:
    app = create_app(engine, ServiceSettings(api_token=token, **settings))
    # These tests write and read at once: the change log's generation is read on every
    # request (the service reads it at most twice a second: tests/test_hot_pages.py).
    app.state.hot_pages.refresh = 0
    return TestClient(app)


def replay(site: Site, engine: Engine, chain: str, start: datetime) -> None:
    """A corpus chain served snapshot by snapshot (old URLs redirecting), checked each hour."""
    snapshots = manifest_snapshots(chain)
    add(engine, site.url(snapshots[0]["url"]))
    current = None
    for step, snapshot in enumerate(snapshots):
        if current and current != snapshot["url"]:
            site.move(current, snapshot["url"])
        current = snapshot["url"]
        site.publish(current, offstream_page(snapshot["file"]))
        outcomes = check_all(engine, start + timedelta(hours=step))
        assert "error" not in outcomes.values(), outcomes


def fill(site: Site, engine: Engine) -> None:
    """Two chains of edits, a single page with page history, a day index losing an item."""
    replay(site, engine, "nunes-memo-2018-02-02", START)
    replay(site, engine, "palmyra-2017-03-02", START + timedelta(days=2))
    [ivorian] = manifest_snapshots("ivorian-soldiers-2018-01-10")
    add(engine, site.publish(ivorian["url"], offstream_page(ivorian["file"])))
    first, _ = manifest_snapshots("day-index-2018-02-02")
    index = offstream_page(first["file"])
    youtube = index.index("##### History of YouTube")
    without_youtube = index[:youtube] + index[index.index("#####", youtube + 5) :]
    add(engine, site.publish(first["url"], index))
    check_all(engine, START + timedelta(hours=10))
    site.publish(first["url"], without_youtube)
    check_all(engine, START + timedelta(hours=11))


filled_database, db_url = filled_per_module("api", fill, {"filled"})


@pytest.fixture
def filled(engine: Engine) -> Engine:
    """The test's engine, on its copy of the filled database (db_url)."""
    return engine


@pytest.fixture
def client(filled: Engine) -> Iterator[TestClient]:
    with client_for(filled) as test_client:
        yield test_client


def rows(engine: Engine, model: type[SQLModel]) -> list:
    with transaction(engine) as session:
        return list(session.exec(select(model).order_by(model.id)).scalars().all())


def iso(moment: datetime | None) -> str | None:
    return moment.isoformat().replace("+00:00", "Z") if moment else None


def walk(client: TestClient, path: str, key: str, **params: object) -> list[dict]:
    """Every page of a list endpoint, following `next`."""
    found: list[dict] = []
    cursor = None
    for _ in range(1000):
        response = client.get(path, params={**params, **({"cursor": cursor} if cursor else {})})
        assert response.status_code == 200, response.text
        page = response.json()
        found.extend(page[key])
        cursor = page["next"]
        if cursor is None:
            return found
    raise AssertionError("paging did not end")


def poll(client: TestClient, since: str | None, limit: int = 3) -> tuple[list[dict], str]:
    """Poll /api/changes until nothing is new: every change returned, and the last cursor."""
    found: list[dict] = []
    for _ in range(10_000):
        params: dict[str, object] = {"limit": limit, **({"since": since} if since else {})}
        response = client.get("/api/changes", params=params)
        assert response.status_code == 200, response.text
        page = response.json()
        if not page["changes"]:
            assert page["next"] == since or since is None
            return found, page["next"]
        found.extend(page["changes"])
        since = page["next"]
    raise AssertionError("polling did not end")


def database_checksum(engine: Engine) -> str:
    digest = hashlib.sha256()
    with engine.connect() as connection:
        for table in SQLModel.metadata.sorted_tables:
            for row in connection.execute(table.select().order_by(*table.primary_key.columns)):
                digest.update(repr(tuple(row)).encode())
    return digest.hexdigest()


def new_change(engine: Engine, change_id: int | None = None) -> int:
    """Record an edit of the first item directly, optionally under a chosen id."""
    with transaction(engine) as session:
        item = queries.all_items(session)[0]
        now = datetime.now(UTC)
        change = Change(
            id=change_id,
            item_id=item.id,
            source_id=item.source_id,
            kind="edited",
            fields=["headline"],
            occurred_at=now,
            recorded_at=now,
        )
        session.add(change)
        session.flush()
        assert change.id is not None
        return change.id


# -- the service ---------------------------------------------------------------------------


def test_openapi_lists_every_path_and_docs_are_served(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    assert {
        "/api/items",
        "/api/items/{item_id}",
        "/api/items/{item_id}/versions",
        "/api/items/{item_id}/diff",
        "/api/changes",
        "/api/sources",
        "/api/sources/{source_id}",
        "/api/sources/{source_id}/checks",
        "/healthz",
        "/metrics",
    } <= set(schema["paths"])
    sources = schema["paths"]["/api/sources"]
    assert set(sources) == {"get", "post"}
    assert set(schema["paths"]["/api/sources/{source_id}"]) == {"get", "patch", "delete"}
    assert sources["post"]["security"] == [{"HTTPBearer": []}]
    assert "security" not in sources["get"]  # reads are public
    # Response models are named, and aliases such as "class" and "from" are what clients see.
    models = schema["components"]["schemas"]
    assert "class" in models["ChangeOut"]["properties"]
    assert {"from", "to", "fields"} <= set(models["DiffOut"]["properties"])
    assert client.get("/docs").status_code == 200


def test_healthz_pings_the_database(client: TestClient, tmp_path) -> None:
    response = client.get("/healthz")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})

    broken = create_engine(f"sqlite:///{tmp_path / 'missing' / 'dir' / 'x.db'}")
    with TestClient(create_app(broken)) as down:
        response = down.get("/healthz")
    assert response.status_code == 503
    assert response.json()["status"] == "error"
    assert "x.db" not in response.text  # no paths or credentials in the answer


# -- items -----------------------------------------------------------------------------------


def test_items_are_the_cli_items_with_their_listing_fields(
    client: TestClient, filled: Engine, cli
) -> None:
    listed = walk(client, "/api/items", "items")
    by_id = {item.id: item for item in rows(filled, Item)}
    assert [entry["id"] for entry in listed] == sorted(by_id, reverse=True)  # newest first
    from_cli = {row["id"]: row for row in cli("items", "--json").json()}
    for entry in listed:
        assert entry.items() >= from_cli[entry["id"]].items()
        item = by_id[entry["id"]]
        assert entry["source_id"] == item.source_id
        assert entry["first_seen_at"] == iso(item.first_seen_at)
        assert entry["last_seen_at"] == iso(item.last_seen_at)
        assert entry["removed_at"] == iso(item.removed_at)
        assert entry["event_date"] == (item.event_date.isoformat() if item.event_date else None)
    assert any(entry["removed_at"] for entry in listed)  # YouTube left the day index
    assert all(entry["first_seen_at"].endswith("Z") for entry in listed)


def test_paging_walks_every_item_exactly_once_even_while_items_arrive(
    client: TestClient, filled: Engine, site: Site
) -> None:
    before = {item.id for item in rows(filled, Item)}
    assert len(before) > 5
    first = client.get("/api/items", params={"limit": 2}).json()
    assert len(first["items"]) == 2 and first["next"]
    # New items arrive between pages: they sort before the walk's position, never into it.
    replay(site, filled, "boat-borneo-2018-01-01", START + timedelta(days=5))
    assert len(rows(filled, Item)) > len(before)
    rest = walk(client, "/api/items", "items", limit=2, cursor=first["next"])
    ids = [entry["id"] for entry in [*first["items"], *rest]]
    assert len(ids) == len(set(ids))
    assert set(ids) == before
    # Every page size gives the same walk.
    for size in (1, 3, 200):
        assert {e["id"] for e in walk(client, "/api/items", "items", limit=size)} == {
            item.id for item in rows(filled, Item)
        }


def test_item_filters(client: TestClient, filled: Engine) -> None:
    items = rows(filled, Item)

    def ids(**params: object) -> set[int]:
        return {entry["id"] for entry in walk(client, "/api/items", "items", **params)}

    nunes = {i.id for i in items if "nunes" in (i.headline or "").lower()}
    assert nunes and ids(q="NUNES memo") == {
        i.id for i in items if "nunes memo" in (i.headline or "").lower()
    }
    assert ids(q="nunes") == nunes
    assert ids(q="%") == set() and ids(q="_") == {i.id for i in items if "_" in (i.headline or "")}

    source_id = items[0].source_id
    assert ids(source=source_id) == {i.id for i in items if i.source_id == source_id}
    assert ids(source=999) == set()

    with transaction(filled) as session:
        latest_tags = {
            item.id: (queries.latest_version(session, item.id).tags or []) for item in items
        }
    tag = next(t for tags in latest_tags.values() for t in tags)
    expected = {item_id for item_id, tags in latest_tags.items() if tag in tags}
    assert ids(tag=tag) == expected
    assert ids(tag=tag, limit=1) == expected
    assert ids(tag="no such tag") == set()

    def day(item: Item) -> date:
        return item.event_date or item.first_seen_at.date()

    days = sorted({day(item) for item in items})
    assert len(days) > 1
    middle = days[len(days) // 2]
    assert ids(since=middle.isoformat()) == {i.id for i in items if day(i) >= middle}
    assert ids(until=middle.isoformat()) == {i.id for i in items if day(i) <= middle}
    assert ids(since=middle.isoformat(), until=middle.isoformat()) == {
        i.id for i in items if day(i) == middle
    }

    # An item's URL finds it, and any other item (another source's) that has had the URL.
    url = items[0].url
    assert url
    with transaction(filled) as session:
        having = {i.id for i in queries.items_by_alias(session, "url", [url])}
    assert items[0].id in having and ids(url=url) == having
    assert ids(url=url, source=items[0].source_id) == {items[0].id}
    assert ids(url=url, q="zzz-no-match") == set()
    assert ids(url="http://example.org/never-seen") == set()

    assert client.get("/api/items", params={"limit": 201}).status_code == 422
    assert client.get("/api/items", params={"since": "yesterday"}).status_code == 422
    bad = client.get("/api/items", params={"cursor": "not-a-cursor"})
    assert bad.status_code == 400 and "cursor" in bad.json()["detail"]
    changes_cursor = client.get("/api/changes").json()["next"]
    assert client.get("/api/items", params={"cursor": changes_cursor}).status_code == 400


def test_item_and_versions_are_the_cli_history(client: TestClient, filled: Engine, cli) -> None:
    items = rows(filled, Item)
    # Edited items, the removed one, and one listed once (the CLI is slow to start).
    for item in [i for i in items if i.version_count > 1 or i.removed_at] + items[-1:]:
        history = cli("history", str(item.id), "--json").json()
        detail = client.get(f"/api/items/{item.id}").json()
        assert detail.items() >= history["item"].items()
        assert detail["headline"] == item.headline and detail["versions"] == item.version_count
        # The same object as `redline history --json`, as the README says (issue 15).
        assert client.get(f"/api/items/{item.id}/versions").json() == history
    edited = [
        v
        for item in rows(filled, Item)
        for v in client.get(f"/api/items/{item.id}/versions").json()["versions"]
    ]
    assert any(v["change"] and v["change"]["kind"] == "edited" for v in edited)

    missing = client.get("/api/items/99999")
    assert (missing.status_code, missing.json()) == (404, {"detail": "no item 99999"})
    assert client.get("/api/items/99999/versions").status_code == 404
    assert client.get("/api/items/0").status_code == 422
    assert client.get("/api/items/99999999999999999999").status_code == 404


@pytest.mark.slow  # over 2.5 s (--durations, 2026-12-07): left out by `make quick`
@pytest.mark.parametrize(
    ("words", "from_ref", "to_ref"),
    [
        ("Nunes", "first", "current"),
        ("Nunes", "previous", "current"),
        ("Nunes", "3", "1"),
        ("Palmyra", "first", "current"),  # a page-history version: only its headline is known
    ],
)
def test_diffs_are_the_cli_diffs(
    client: TestClient, filled: Engine, cli, words: str, from_ref: str, to_ref: str
) -> None:
    item = next(i for i in rows(filled, Item) if words in (i.headline or ""))
    base = f"/api/items/{item.id}/diff"
    params = {"from": from_ref, "to": to_ref}
    args = ("diff", str(item.id), "--from", from_ref, "--to", to_ref)

    as_json = client.get(base, params=params)
    assert as_json.headers["content-type"] == "application/json"
    assert as_json.json() == cli(*args, "--format", "json").json()
    assert set(as_json.json()) == {"from", "to", "fields"}
    assert as_json.json() == client.get(base, params={**params, "format": "json"}).json()

    types = {"text": "text/plain", "patch": "text/plain"}
    types |= {"html": "text/html", "side-by-side": "text/html"}
    for fmt, media in types.items():
        response = client.get(base, params={**params, "format": fmt})
        assert response.status_code == 200
        assert response.headers["content-type"] == f"{media}; charset=utf-8"
        assert response.text == cli(*args, "--format", fmt).stdout, fmt
    assert "<del style=" in client.get(base, params={**params, "format": "html"}).text


def test_diff_errors(client: TestClient, filled: Engine, cli) -> None:
    item = next(i for i in rows(filled, Item) if i.version_count > 1)
    base = f"/api/items/{item.id}/diff"
    bad = client.get(base, params={"to": "99"})
    message = cli("diff", str(item.id), "--to", "99", check=False).stderr
    assert bad.status_code == 400
    assert message.strip() == f"redline: {bad.json()['detail']}"
    assert client.get(base, params={"from": "sideways"}).status_code == 400
    assert client.get(base, params={"format": "color"}).status_code == 422
    assert client.get("/api/items/99999/diff").json() == {"detail": "no item 99999"}


# -- the change log ------------------------------------------------------------------------


def test_changes_filtered_by_kind_keep_their_order_and_the_cursor_moves_past_the_rest(
    client: TestClient, filled: Engine
) -> None:
    stored = rows(filled, Change)
    assert len(stored) < 200  # one page holds them all

    def ids(kind: str | None) -> list[int]:
        params: dict[str, object] = {"limit": 200, **({"kind": kind} if kind else {})}
        page = client.get("/api/changes", params=params).json()
        return [c["id"] for c in page["changes"]]

    assert ids(None) == ids("all") == [c.id for c in stored]
    classes = {c.classification for c in stored if c.kind == "edited"}
    assert {"style", "rewording", "substantive"} <= classes
    for kind in ("style", "rewording", "substantive"):
        assert ids(kind) == [c.id for c in stored if c.classification == kind]
    assert ids("minor") == ids("style")
    assert ids("editorial") == [c.id for c in stored if c.classification != "style"]
    shown = client.get("/api/changes", params={"limit": 200, "kind": "substantive"}).json()
    assert all(c["reasons"] and 0.6 <= c["score"] <= 1 for c in shown["changes"])
    # The cursor moves past the changes left out: polling on finds nothing.
    again = client.get("/api/changes", params={"since": shown["next"], "kind": "style"})
    assert again.json()["changes"] == []
    assert client.get("/api/changes", params={"kind": "major"}).status_code == 422


def test_changes_are_the_change_log_in_recording_order(client: TestClient, filled: Engine) -> None:
    found, cursor = poll(client, None, limit=4)
    stored = rows(filled, Change)
    versions = rows(filled, Version)
    assert [c["id"] for c in found] == [c.id for c in stored]
    assert {c["kind"] for c in found} >= {"created", "edited", "removed"}
    for shown, change in zip(found, stored, strict=True):
        assert_whole_diff(shown["diff"], change, versions)
        assert shown == {
            "id": change.id,
            "item_id": change.item_id,
            "source_id": change.source_id,
            "kind": change.kind,
            "from_n": change.from_n,
            "to_n": change.to_n,
            "fields": change.fields,
            "class": change.classification,
            "score": change.score,
            "reasons": change.reasons or [],
            "similarity": change.similarity,
            "variants": change.variants,
            "occurred_at": iso(change.occurred_at),
            "recorded_at": iso(change.recorded_at),
            "diff": shown["diff"],
        }
    # Nothing new: the same cursor comes back, as often as asked.
    again = client.get("/api/changes", params={"since": cursor}).json()
    assert again == {"changes": [], "next": cursor}


def test_changes_cursor_never_skips_or_repeats_while_changes_are_recorded(
    client: TestClient, filled: Engine, site: Site
) -> None:
    seen, cursor = poll(client, None)
    # New checks record changes between polls.
    replay(site, filled, "boat-borneo-2018-01-01", START + timedelta(days=5))
    more, cursor = poll(client, cursor)
    assert more and min(c["id"] for c in more) > max(c["id"] for c in seen)
    seen += more

    # A writer records changes while a client polls.
    stop = threading.Event()
    written: list[int] = []

    def writer() -> None:
        for _ in range(60):
            written.append(new_change(filled))
            time.sleep(0.002)
        stop.set()

    thread = threading.Thread(target=writer)
    thread.start()
    while not stop.is_set():
        page = client.get("/api/changes", params={"since": cursor, "limit": 7}).json()
        seen += page["changes"]
        cursor = page["next"]
    thread.join()
    rest, cursor = poll(client, cursor, limit=7)
    seen += rest

    ids = [c["id"] for c in seen]
    assert len(ids) == len(set(ids)), "a change was delivered twice"
    assert ids == [c.id for c in rows(filled, Change)], "a change was skipped"
    assert set(written) <= set(ids)


def test_a_change_committed_late_under_a_lower_id_is_still_delivered(
    client: TestClient, filled: Engine, monkeypatch
) -> None:
    """Several writers (PostgreSQL) can commit id N+1 before id N: the cursor waits for N."""
    _, cursor = poll(client, None)
    top = queries_last_id(filled)
    new_change(filled, top + 2)  # committed first
    page = client.get("/api/changes", params={"since": cursor}).json()
    assert [c["id"] for c in page["changes"]] == [top + 2]
    cursor = page["next"]
    assert client.get("/api/changes", params={"since": cursor}).json()["next"] == cursor

    new_change(filled, top + 1)  # the slower transaction commits
    page = client.get("/api/changes", params={"since": cursor}).json()
    assert [c["id"] for c in page["changes"]] == [top + 1]
    cursor = page["next"]
    assert client.get("/api/changes", params={"since": cursor}).json() == {
        "changes": [],
        "next": cursor,
    }

    # A gap nobody fills (a rolled-back transaction) is looked for once past its window,
    # then forgotten: a client polling rarely still gets what committed within the window.
    new_change(filled, top + 5)
    page = client.get("/api/changes", params={"since": cursor}).json()
    cursor = page["next"]
    new_change(filled, top + 3)  # commits within the window; top + 4 never does
    later = time.time() + change_log.GAP_WINDOW_SECONDS + 1
    monkeypatch.setattr(change_log, "_wall_clock", lambda: later)
    page = client.get("/api/changes", params={"since": cursor}).json()
    assert [c["id"] for c in page["changes"]] == [top + 3]
    assert _cursor_state(page["next"])["gaps"] == []


def test_late_changes_fill_pages_in_id_order(
    client: TestClient, filled: Engine, monkeypatch
) -> None:
    _, cursor = poll(client, None)
    top = queries_last_id(filled)
    new_change(filled, top + 5)
    page = client.get("/api/changes", params={"since": cursor}).json()
    assert [c["id"] for c in page["changes"]] == [top + 5]
    cursor = page["next"]
    for late in (top + 3, top + 1, top + 2):
        new_change(filled, late)
    new_change(filled, top + 6)
    # Past the window too: what was found but did not fit in the page is still owed.
    later = time.time() + change_log.GAP_WINDOW_SECONDS + 1
    monkeypatch.setattr(change_log, "_wall_clock", lambda: later)
    delivered = []
    for _ in range(5):
        page = client.get("/api/changes", params={"since": cursor, "limit": 2}).json()
        delivered.append([c["id"] for c in page["changes"]])
        cursor = page["next"]
    assert delivered == [[top + 1, top + 2], [top + 3, top + 6], [], [], []]
    assert _cursor_state(cursor)["gaps"] == []


def queries_last_id(engine: Engine) -> int:
    with transaction(engine) as session:
        return change_pages.last_change_id(session)


def _cursor_state(cursor: str) -> dict:
    return json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))


def test_polling_from_latest_sees_only_new_changes(client: TestClient, filled: Engine) -> None:
    page = client.get("/api/changes", params={"since": "latest"}).json()
    assert page["changes"] == []
    added = new_change(filled)
    found, _ = poll(client, page["next"])
    assert [c["id"] for c in found] == [added]
    assert client.get("/api/changes", params={"since": "garbage"}).status_code == 400
    assert client.get("/api/changes", params={"limit": 0}).status_code == 422


# -- sources and checks --------------------------------------------------------------------


def test_sources_are_the_cli_sources(client: TestClient, filled: Engine, cli) -> None:
    page = client.get("/api/sources").json()
    assert page["next"] is None
    listed = page["sources"]
    from_cli = cli("sources", "--json").json()
    assert len(listed) == len(from_cli)
    for shown, row in zip(listed, from_cli, strict=True):
        assert shown.items() >= row.items()
    source_id = listed[0]["id"]
    assert client.get(f"/api/sources/{source_id}").json() == listed[0]
    assert client.get("/api/sources/999").json() == {"detail": "no source 999"}
    assert client.get("/api/sources", params={"enabled": False}).json() == {
        "sources": [],
        "next": None,
    }


def test_sources_come_a_page_at_a_time_each_once(client: TestClient, filled: Engine) -> None:
    """Thousands of sources are not one answer: pages in id order, walked by cursor; the
    HTML list pages the same way."""
    with transaction(filled) as session:
        for number in range(5):
            source = Source(url=f"https://paged{number}.example/feed.xml", kind="feed")
            source.enabled = number % 2 == 0
            session.add(source)
    every = [source.id for source in rows(filled, Source)]
    seen: list[int] = []
    cursor = None
    while True:
        params: dict[str, object] = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = client.get("/api/sources", params=params).json()
        assert 1 <= len(page["sources"]) <= 2
        seen += [source["id"] for source in page["sources"]]
        cursor = page["next"]
        if cursor is None:
            break
    assert seen == sorted(every)
    disabled = client.get("/api/sources", params={"enabled": False, "limit": 1}).json()
    after = client.get("/api/sources", params={"enabled": False, "cursor": disabled["next"]})
    shown = [s["id"] for s in disabled["sources"] + after.json()["sources"]]
    assert shown == [s.id for s in rows(filled, Source) if not s.enabled]
    bad = client.get("/api/sources", params={"cursor": "not-a-cursor"})
    assert bad.status_code == 400 and "cursor" in bad.json()["detail"]

    first = client.get("/sources", params={"after": every[0]}).text
    assert f'id="source-{every[0]}"' not in first and f'id="source-{every[1]}"' in first
    assert client.get("/sources", params={"after": "x"}).status_code == 400
    assert "No sources after this one" in client.get("/sources", params={"after": every[-1]}).text
    with client_for(filled, page_size=2) as small:
        assert f'href="/sources?after={every[1]}" rel="next"' in small.get("/sources").text


def test_checks_are_the_fetch_log_newest_first(client: TestClient, filled: Engine) -> None:
    source = rows(filled, Source)[0]
    checks = [c for c in rows(filled, Check) if c.source_id == source.id]
    assert len(checks) > 2
    shown = walk(client, f"/api/sources/{source.id}/checks", "checks", limit=2)
    assert [c["id"] for c in shown] == [c.id for c in reversed(checks)]
    newest = checks[-1]
    assert shown[0] == {
        "id": newest.id,
        "source_id": source.id,
        "started_at": iso(newest.started_at),
        "finished_at": iso(newest.finished_at),
        "outcome": newest.outcome,
        "http_status": newest.http_status,
        "bytes": newest.bytes,
        "error": newest.error,
        "items_seen": newest.items_seen,
        "versions_added": newest.versions_added,
        "changes_added": newest.changes_added,
    }
    assert client.get("/api/sources/999/checks").status_code == 404


# -- writes ---------------------------------------------------------------------------------


def test_writes_need_a_configured_token(filled: Engine, site: Site) -> None:
    url = site.url("/new-source.md")
    with client_for(filled, token=None) as client:
        refused = client.post("/api/sources", json={"url": url}, headers=AUTH)
        assert refused.status_code == 403
        assert "REDLINE_API_TOKEN" in refused.json()["detail"]
        assert "[serve]" in refused.json()["detail"]
        assert client.delete("/api/sources/1", headers=AUTH).status_code == 403
        assert client.get("/api/sources").status_code == 200  # reads stay public

    with client_for(filled) as client:
        for headers in ({}, {"Authorization": "Basic abc"}, {"Authorization": "Bearer"}):
            missing = client.post("/api/sources", json={"url": url}, headers=headers)
            assert missing.status_code == 401
            assert missing.headers["WWW-Authenticate"].startswith("Bearer")
        for wrong in ("Bearer wrong", f"Bearer {TOKEN}x", f"Bearer {TOKEN[:-1]}", "Bearer \u00e9"):
            denied = client.patch(
                "/api/sources/1", json={}, headers={"Authorization": wrong.encode("latin-1")}
            )
            assert denied.status_code == 401
            assert 'error="invalid_token"' in denied.headers["WWW-Authenticate"]
        # Unauthorised writes are refused before their body is even read.
        assert client.post("/api/sources", content=b"{not json").status_code == 401
    assert url not in {s.url for s in rows(filled, Source)}


def test_adding_changing_and_deleting_a_source(filled: Engine, site: Site) -> None:
    url = site.url("/new-source.md")
    with client_for(filled) as client:
        created = client.post(
            "/api/sources",
            json={"url": url, "name": "  New  ", "every": "2h", "options": {"id_pattern": "(x)"}},
            headers=AUTH,
        )
        assert created.status_code == 201, created.text
        source = created.json()
        assert created.headers["Location"] == f"/api/sources/{source['id']}"
        assert (source["url"], source["kind"], source["name"]) == (url, "auto", "New")
        assert source["interval_seconds"] == 7200 and source["enabled"] is True
        assert source["options"] == {"id_pattern": "(x)"}
        again = client.post("/api/sources", json={"url": url}, headers=AUTH)
        assert (again.status_code, again.json()["id"]) == (200, source["id"])
        assert "Redline-Not-Applied" not in again.headers  # nothing asked for
        # Added again with other settings: the source is unchanged, and the answer says
        # what was not applied (as `redline add` does on stderr).
        asked = {"url": url, "name": "New", "every": "3h", "options": {"ignore": ["x"]}}
        unchanged = client.post("/api/sources", json=asked, headers=AUTH)
        assert unchanged.status_code == 200 and unchanged.json() == again.json()
        assert unchanged.headers["Redline-Not-Applied"] == "every, options.ignore"
        timed = client.post(
            "/api/sources", json={"url": url + "?timed", "cron": "5 */2 * * *"}, headers=AUTH
        ).json()
        assert (timed["cron"], timed["interval_seconds"], timed["retired_at"]) == (
            "5 */2 * * *",
            None,
            None,
        )

        path = f"/api/sources/{source['id']}"
        changed = client.patch(path, json={"name": "Renamed", "every": 60}, headers=AUTH)
        assert changed.status_code == 200
        assert (changed.json()["name"], changed.json()["interval_seconds"]) == ("Renamed", 60)
        cleared = client.patch(path, json={"name": None, "every": None}, headers=AUTH).json()
        assert (cleared["name"], cleared["interval_seconds"]) == (None, None)

        # DELETE stops tracking and keeps everything stored.
        tracked = rows(filled, Source)[0]
        counts = {model: len(rows(filled, model)) for model in (Item, Version, Change, Check)}
        deleted = client.delete(f"/api/sources/{tracked.id}", headers=AUTH)
        assert deleted.status_code == 200 and deleted.json()["enabled"] is False
        assert client.delete(f"/api/sources/{tracked.id}", headers=AUTH).status_code == 200
        assert {model: len(rows(filled, model)) for model in counts} == counts
        assert client.get(f"/api/sources/{tracked.id}").json()["enabled"] is False
        assert client.get("/api/items", params={"source": tracked.id}).json()["items"]
        assert tracked.id not in {
            r.source_id for r in check_round(filled, now=START + timedelta(days=9))
        }
        resumed = client.patch(f"/api/sources/{tracked.id}", json={"enabled": True}, headers=AUTH)
        assert resumed.json()["enabled"] is True
        assert client.delete("/api/sources/999", headers=AUTH).status_code == 404
        assert client.patch("/api/sources/999", json={}, headers=AUTH).status_code == 404


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"url": "ftp://example.org/"}, 400),
        ({"url": "http://example.org/", "kind": "magic"}, 400),
        ({"url": "http://example.org/", "every": "soon"}, 400),
        ({"url": "http://example.org/", "cron": "every hour"}, 400),
        ({"url": "http://example.org/", "cron": "0 * * * *", "every": "1h"}, 400),
        ({"url": "http://example.org/", "options": {"map": {"nope": "x"}}}, 400),
        ({"url": "http://example.org/", "options": {"id_pattern": "("}}, 400),
        ({"url": "http://example.org/", "options": {"match_threshold": 7}}, 400),
        ({"url": "http://example.org/", "options": {"colour": "red"}}, 422),
        ({"url": "http://example.org/", "surprise": 1}, 422),
        ({"kind": "feed"}, 422),
        ({"url": "http://example.org/" + "a" * 3000}, 422),
    ],
)
def test_bad_source_input_is_refused_with_a_message(filled: Engine, body: dict, status: int):
    with client_for(filled) as client:
        response = client.post("/api/sources", json=body, headers=AUTH)
    assert response.status_code == status, response.text
    assert response.json()["detail"]
    assert "example.org" not in {s.url.split("/")[2] for s in rows(filled, Source)}


def test_bodies_over_64_kb_are_refused(filled: Engine) -> None:
    big = json.dumps({"url": "http://example.org/", "name": "x" * guards.MAX_BODY_BYTES}).encode()
    headers = {**AUTH, "Content-Type": "application/json"}
    with client_for(filled) as client:
        declared = client.post("/api/sources", content=big, headers=headers)
        assert declared.status_code == 413
        assert "limit" in declared.json()["detail"]

        def chunks() -> Iterator[bytes]:  # no Content-Length: counted while read
            for start in range(0, len(big), 4096):
                yield big[start : start + 4096]

        streamed = client.post("/api/sources", content=chunks(), headers=headers)
        assert streamed.status_code == 413
        fine = client.patch("/api/sources/1", content=b'{"name": "ok"}', headers=headers)
        assert fine.status_code == 200
    assert "example.org" not in {s.url.split("/")[2] for s in rows(filled, Source)}


def test_writes_are_rate_limited_per_address(filled: Engine, monkeypatch) -> None:
    clock = [1000.0]
    monkeypatch.setattr(guards, "_monotonic", lambda: clock[0])
    app = create_app(filled, ServiceSettings(api_token=TOKEN))
    with TestClient(app) as client, TestClient(app, client=("192.0.2.9", 1)) as other:
        statuses = [
            client.patch("/api/sources/1", json={}, headers=AUTH).status_code
            for _ in range(guards.WRITES_PER_MINUTE)
        ]
        assert statuses == [200] * guards.WRITES_PER_MINUTE
        limited = client.delete("/api/sources/1", headers=AUTH)
        assert limited.status_code == 429
        assert limited.headers["Retry-After"] == "1"
        assert "a minute" in limited.json()["detail"]
        assert client.get("/api/sources").status_code == 200  # reads are not limited
        assert other.patch("/api/sources/1", json={}, headers=AUTH).status_code == 200
        clock[0] += 1.0  # one write a second comes back
        assert client.patch("/api/sources/1", json={}, headers=AUTH).status_code == 200
        assert client.patch("/api/sources/1", json={}, headers=AUTH).status_code == 429
    assert rows(filled, Source)[0].enabled  # the refused DELETE did nothing


def test_rate_limiter_forgets_idle_clients() -> None:
    limiter = guards.RateLimiter(rate=2, per=60, max_keys=3)
    for number in range(10):
        assert limiter.acquire(f"10.0.0.{number}") == 0
    assert len(limiter.buckets) <= 3


# -- reads change nothing; metrics ---------------------------------------------------------


def test_no_get_changes_anything(client: TestClient, filled: Engine) -> None:
    item = next(i for i in rows(filled, Item) if i.version_count > 1)
    source = rows(filled, Source)[0]
    before = database_checksum(filled)
    paths = [
        "/healthz",
        "/metrics",
        "/openapi.json",
        "/api/items",
        "/api/items?q=nunes&tag=x&since=2018-01-01&until=2019-01-01&limit=1",
        f"/api/items/{item.id}",
        f"/api/items/{item.id}/versions",
        *(f"/api/items/{item.id}/diff?format={fmt}" for fmt in items_api.DIFF_FORMATS),
        f"/api/items/{item.id}/diff?from=previous&to=2",
        "/api/changes",
        "/api/changes?since=latest",
        "/api/sources",
        f"/api/sources/{source.id}",
        f"/api/sources/{source.id}/checks",
        "/api/items/99999",
    ]
    for path in paths:
        assert client.get(path).status_code in (200, 404), path
    assert database_checksum(filled) == before


def test_metrics_count_what_the_database_holds(client: TestClient, filled: Engine) -> None:
    with transaction(filled) as session:  # a retired source is not counted as enabled
        retired = source_queries.all_sources(session)[0]
        assert retired.enabled
        retired.retired_at, retired.retired_reason = utcnow(), "gone (404 three times)"
        session.add(retired)
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    families = {f.name: f for f in text_string_to_metric_families(response.text)}

    def samples(name: str, label: str | None = None) -> dict:
        return {
            (s.labels.get(label) if label else s.name): s.value
            for s in families[name].samples
            if not s.name.endswith("_created")
        }

    checks, changes, versions = rows(filled, Check), rows(filled, Change), rows(filled, Version)
    outcomes = {o: sum(c.outcome == o for c in checks) for o in health.CHECK_OUTCOMES}
    assert samples("redline_checks", "outcome") == outcomes
    assert families["redline_checks"].type == "counter"
    assert samples("redline_check_errors") == {"redline_check_errors_total": outcomes["error"]}
    kinds = {k: sum(c.kind == k for c in changes) for k in health.CHANGE_KINDS}
    assert samples("redline_changes", "kind") == kinds
    origins = {o: sum(v.origin == o for v in versions) for o in health.VERSION_ORIGINS}
    assert samples("redline_versions", "origin") == origins
    sources = rows(filled, Source)
    assert samples("redline_sources", "state") == {
        "enabled": sum(s.enabled and not s.retired_at for s in sources),
        "retired": 1,
        "disabled": sum(not s.enabled and not s.retired_at for s in sources),
    }
    assert samples("redline_sources_failing") == {"redline_sources_failing": 0}
    items = rows(filled, Item)
    removed = sum(i.removed_at is not None for i in items)
    assert samples("redline_items", "state") == {"listed": len(items) - removed, "removed": removed}

    latency = families["redline_fetch_latency_seconds"]
    assert latency.type == "summary"
    values = {(s.name, s.labels.get("quantile")): s.value for s in latency.samples}
    durations = sorted(max(0.0, (c.finished_at - c.started_at).total_seconds()) for c in checks)
    assert values[("redline_fetch_latency_seconds_count", None)] == len(checks)
    assert values[("redline_fetch_latency_seconds_sum", None)] == pytest.approx(
        sum((c.finished_at - c.started_at).total_seconds() for c in checks), abs=1e-6
    )
    median = durations[math.ceil(0.5 * len(durations)) - 1]
    assert values[("redline_fetch_latency_seconds", "0.5")] == pytest.approx(median)
    assert values[("redline_fetch_latency_seconds", "0.99")] == pytest.approx(durations[-1])
    last = max(c.finished_at for c in checks).timestamp()
    assert samples("redline_last_check_finished_timestamp_seconds") == {
        "redline_last_check_finished_timestamp_seconds": pytest.approx(last)
    }


def test_metrics_of_an_empty_database(engine: Engine) -> None:
    with client_for(engine) as client:
        text = client.get("/metrics").text
    families = {f.name: f for f in text_string_to_metric_families(text)}
    assert all(s.value == 0 for s in families["redline_checks"].samples)
    quantiles = [s for s in families["redline_fetch_latency_seconds"].samples if s.labels]
    assert quantiles and all(math.isnan(s.value) for s in quantiles)


@pytest.mark.parametrize(
    ("method", "path", "body", "detail"),
    [
        ("get", "/api/items?limit=201", None, "query parameter limit: "),
        ("get", "/api/items/0", None, "path parameter item_id: "),
        ("get", "/feeds/edits.atom?kind=other", None, "query parameter kind: "),
        ("post", "/api/sources", {"kind": "feed"}, "body field url: Field required"),
        ("post", "/api/sources", {"url": "http://a.example/", "surprise": 1}, "body field surp"),
        ("patch", "/api/sources/1", {"enabled": "maybe", "name": 5}, "body field "),
    ],
)  # fmt: skip
def test_422_detail_is_one_line_naming_the_field(
    filled: Engine, method: str, path: str, body: dict | None, detail: str
) -> None:
    """422s answered `detail` as FastAPI's list, where the README says a string (issue 15)."""
    with client_for(filled) as client:
        response = client.request(method, path, json=body, headers=AUTH)
        schema = client.get("/openapi.json").json()
    assert response.status_code == 422
    answer = response.json()
    assert isinstance(answer["detail"], str) and "\n" not in answer["detail"]
    assert answer["detail"].startswith(detail), answer["detail"]
    assert answer["errors"] and answer["errors"][0]["loc"]  # FastAPI's list, for programs
    if len(answer["errors"]) > 1:
        assert answer["detail"].endswith(f"(and {len(answer['errors']) - 1} more problem)")
    documented = schema["components"]["schemas"]["HTTPValidationError"]["properties"]
    assert documented["detail"]["type"] == "string"


def test_a_bad_json_body_says_so_in_one_line(filled: Engine) -> None:
    with client_for(filled) as client:
        response = client.post(
            "/api/sources",
            content=b'{"url": ',
            headers={**AUTH, "Content-Type": "application/json"},
        )
    assert response.status_code == 422
    assert response.json()["detail"].startswith("request body: JSON decode error")


def test_patch_and_the_cli_edit_a_source_the_same_way(filled: Engine, cli) -> None:
    """PATCH and `redline source edit` share tracker.run.sources.edit_source (issue 15)."""
    with client_for(filled) as client:
        by_api = client.patch("/api/sources/1", json={"cron": "0 6 * * *"}, headers=AUTH)
        assert by_api.status_code == 200, by_api.text
        assert (by_api.json()["cron"], by_api.json()["interval_seconds"]) == ("0 6 * * *", None)
        refused = client.patch("/api/sources/1", json={"cron": "every hour"}, headers=AUTH)
        assert refused.status_code == 400 and "not a cron line" in refused.json()["detail"]
        # An interval replaces the cron line (before, both were kept and the cron line won).
        every = client.patch("/api/sources/1", json={"every": "2h"}, headers=AUTH).json()
        assert (every["cron"], every["interval_seconds"]) == (None, 7200)
    refused_cli = cli("source", "edit", "1", "--cron", "every hour", check=False)
    assert refused_cli.code == 2 and refused_cli.stderr.startswith("redline: not a cron line")
    cli("source", "edit", "1", "--cron", "0 6 * * *")
    assert rows(filled, Source)[0].cron == "0 6 * * *"
