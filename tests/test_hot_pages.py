"""The newest feed pages kept built in memory (feeds/hot_pages.py): served with no
database read while the change log is unchanged, rebuilt when a change is recorded by
any process, and bounded in memory."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator

import feedparser
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event
from sqlalchemy.engine import Engine

from feeds.app import create_app
from feeds.hot_pages import Generation, HotPage, HotPages
from storage import transaction
from tracker.run.rounds import check_round
from tracker.run.sources import add_source

from .conftest import Site

JSON = "application/json"
FEED = "/feeds/edits.atom?kind=all"


def listing(*titles: str) -> str:
    return json.dumps([{"id": str(number), "title": title} for number, title in enumerate(titles)])


@pytest.fixture
def statements(engine: Engine) -> Iterator[list[str]]:
    """Every SQL statement the engine runs, as it runs it."""
    seen: list[str] = []

    def remember(conn, cursor, statement, parameters, context, executemany) -> None:  # noqa: ANN001
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", remember)
    yield seen
    event.remove(engine, "before_cursor_execute", remember)


def titles(body: bytes) -> list[str]:
    return [entry.title for entry in feedparser.parse(body).entries]


def test_a_new_edit_committed_by_another_process_is_served_within_a_second(
    site: Site, engine: Engine, cli
) -> None:
    url = site.publish("/latest.json", listing("Bridge closed", "Storm warning"), JSON)
    with transaction(engine) as session:
        add_source(session, url, "listing")
    cli("check", "--all")
    with TestClient(create_app(engine)) as client:
        first = client.get(FEED)
        assert first.status_code == 200 and titles(first.content) == []
        # Kept: the same page again, and a 304 for its ETag, without building it again.
        assert client.get(FEED).content == first.content
        etag = first.headers["etag"]
        assert client.get(FEED, headers={"If-None-Match": etag}).status_code == 304

        cursor = client.get("/api/changes", params={"since": "latest"}).json()["next"]
        assert client.get("/api/changes", params={"since": cursor}).json()["changes"] == []

        site.publish("/latest.json", listing("Bridge closed for a week", "Storm warning"), JSON)
        cli("check", "--all")  # another process commits the edit, then exits
        committed = time.monotonic()
        while True:
            answer = client.get(FEED, headers={"If-None-Match": etag})
            if answer.status_code == 200 or time.monotonic() - committed > 5:
                break
        seen_after = time.monotonic() - committed
        assert answer.status_code == 200 and answer.headers["etag"] != etag
        assert len(titles(answer.content)) == 1
        assert "Bridge closed for a week" in answer.text
        assert seen_after < 1.0, f"the edit was served {seen_after:.2f} s after its commit"
        polled = client.get("/api/changes", params={"since": cursor}).json()["changes"]
        assert [change["kind"] for change in polled] == ["edited"]


def test_a_kept_page_is_served_without_reading_the_database(
    site: Site, engine: Engine, statements: list[str]
) -> None:
    url = site.publish("/latest.json", listing("Bridge closed"), JSON)
    with transaction(engine) as session:
        add_source(session, url, "listing")
    check_round(engine, all_sources=True)
    app = create_app(engine)
    app.state.hot_pages.refresh = 3600  # the generation read once, for this test
    with TestClient(app) as client:
        first = client.get(FEED)
        source_feed = client.get("/feeds/sources/1.atom")
        versions = client.get("/api/items/1/versions")
        assert versions.json()["versions"][0]["headline"] == "Bridge closed"
        cursor = client.get("/api/changes", params={"since": "latest"}).json()["next"]
        statements.clear()
        for _ in range(5):
            # A poller with nothing new to read: the cursor is past the newest change.
            assert client.get("/api/changes", params={"since": cursor}).json() == {
                "changes": [],
                "next": cursor,
            }
            assert client.get(FEED).content == first.content
            assert client.get("/feeds/sources/1.atom").content == source_feed.content
            again = client.get("/api/items/1/versions")
            assert again.content == versions.content and again.headers == versions.headers
        etag = versions.headers["etag"]
        assert (
            client.get("/api/items/1/versions", headers={"If-None-Match": etag}).status_code == 304
        )
        assert statements == []
        # An older page is built on request, as before.
        assert client.get(FEED + "&before=1000").status_code == 200
        assert statements
        # A source that does not exist is not kept as one.
        assert client.get("/feeds/sources/99.atom").status_code == 404


def test_pages_are_kept_for_their_generation_and_within_their_bytes(engine: Engine) -> None:
    pages = HotPages(engine, max_bytes=10, refresh=0)
    generation = pages.generation()
    pages.put("a", page(b"12345", generation))
    pages.put("b", page(b"12345", generation))
    assert pages.get("a") is not None and pages.get("b") is not None
    pages.put("c", page(b"123", generation))  # over 10 bytes: the least recently read goes
    assert pages.get("a") is None and pages.get("b") is not None and pages.get("c") is not None
    pages.put("huge", page(b"x" * 11, generation))  # larger than all the room there is
    assert pages.get("huge") is None
    pages.put("old", page(b"1", (generation[0] - 1, generation[1])))  # built before it
    assert pages.get("old") is None
    kept = pages.get("b")
    assert kept is not None and not pages.stale(kept)
    pages.max_age = 0
    assert pages.stale(kept)  # of the current generation still, but to be built again


def test_requests_that_miss_together_wait_for_one_build(engine: Engine) -> None:
    pages = HotPages(engine)
    builds: list[Generation] = []

    async def build(generation: Generation) -> HotPage:
        builds.append(generation)
        await asyncio.sleep(0)  # the others arrive while this one builds
        return page(b"built", generation)

    async def many() -> list[HotPage]:
        return await asyncio.gather(*(pages.page("feed", build) for _ in range(8)))

    answers = asyncio.run(many())
    assert len(builds) == 1 and {answer.body for answer in answers} == {b"built"}

    async def failing(generation: Generation) -> HotPage:
        raise RuntimeError("the database went away")

    with pytest.raises(RuntimeError):
        asyncio.run(pages.page("other", failing))
    assert pages.get("other") is None


def test_an_old_page_is_answered_while_it_is_built_again(engine: Engine) -> None:
    """A page a minute old (changes judged again keep their ids, so only its age tells) is
    built again in the background: the requests meanwhile get the kept page at once."""
    pages = HotPages(engine)
    built: list[bytes] = []
    release = asyncio.Event()

    async def build(generation: Generation) -> HotPage:
        body = f"build {len(built) + 1}".encode()
        built.append(body)
        if len(built) > 1:
            await release.wait()  # the rebuild is still running while others ask
        return page(body, generation)

    async def scenario() -> tuple[list[bytes], bytes]:
        first = await pages.page("feed", build)
        pages.max_age = 0  # it is now old
        during = [(await pages.page("feed", build)).body for _ in range(3)]
        release.set()
        await pages._building["feed"]  # the one rebuild finishes
        pages.max_age = 60
        after = await pages.page("feed", build)
        return [first.body, *during], after.body

    answered, after = asyncio.run(scenario())
    assert answered == [b"build 1"] * 4 and after == b"build 2"
    assert built == [b"build 1", b"build 2"]  # one rebuild, however many asked


def page(body: bytes, generation: Generation) -> HotPage:
    return HotPage(body, 'W/"x"', None, {"ETag": 'W/"x"'}, generation)
