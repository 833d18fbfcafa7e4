"""Correcting identity: later evidence merges two items; a person merges or splits them."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import select

from feeds.app import create_app
from feeds.settings import ServiceSettings
from storage import Change, Item, ItemMatch, queries, transaction

from .conftest import OFFSTREAM, manifest_snapshots, offstream_page
from .test_identity_classes import (
    SITE,
    UUID_A,
    UUID_B,
    at,
    edits,
    headlines_by_item,
    replay,
    uuid_listing,
)


def test_a_mixed_manifest_is_one_item_per_story_and_item_pages_never_leave_a_listing(
    cli, engine: Engine
) -> None:
    """The Offstream sample in one source: item pages and a day index. Palmyra's later page
    names the URL its earlier page was recorded under (two items until then): they are
    merged, and the merge is logged. Item pages are never "removed" by the day index."""
    cli(
        "import", "dir", str(OFFSTREAM), "--manifest", str(OFFSTREAM / "manifest.json"),
        "--url", "https://offstream.news/", "--kind", "offstream",
    )  # fmt: skip
    with transaction(engine) as session:
        items = session.exec(select(Item)).all()
        removed = session.exec(select(Change).where(Change.kind == "removed")).all()
        merges = [m for m in session.exec(select(ItemMatch)).all() if m.method.startswith("merge")]
    palmyra = [i for i in items if "Palmyra" in (i.headline or "")]
    assert len(palmyra) == 1
    assert removed == []
    assert [m.item_id for m in merges] == [palmyra[0].id]


def two_stories(engine: Engine) -> None:
    """Two items a person knows to be one: the publisher gave the story a new id."""
    first = uuid_listing([("Floods hit northern towns", "floods-hit-northern-towns", UUID_A)])
    second = uuid_listing(
        [("Floods hit northern towns hard", "floods-hit-northern-towns-hard", UUID_B)]
    )
    replay(engine, f"{SITE}/top.json", "listing", [(at(2, 8), first), (at(2, 9), second)])


def test_merge_then_split_by_hand(cli, engine: Engine) -> None:
    two_stories(engine)
    assert headlines_by_item(engine) == [
        ["Floods hit northern towns"],
        ["Floods hit northern towns hard"],
    ]
    assert edits(engine) == []  # different publisher ids: never paired by likeness

    merged = cli("merge", "1", "2")
    assert merged.stdout.startswith("merged item 2 into item 1: 2 versions")
    assert headlines_by_item(engine) == [
        ["Floods hit northern towns", "Floods hit northern towns hard"]
    ]
    assert edits(engine) == [("Floods hit northern towns", "Floods hit northern towns hard")]

    split = cli("split", "1", "--at", "2")
    new_id = int(split.stdout.split("are now item ")[1].split()[0])
    assert new_id != 1 and "(1 version)" in split.stdout
    assert headlines_by_item(engine) == [
        ["Floods hit northern towns"],
        ["Floods hit northern towns hard"],
    ]
    assert edits(engine) == []
    with transaction(engine) as session:
        log = [(m.item_id, m.method.split(":")[0]) for m in session.exec(select(ItemMatch))]
    assert log == [(1, "merge"), (1, "split"), (new_id, "split")]

    # The split item keeps the URLs (and ids) only its versions had: the story's next
    # sighting is recorded on it, not on item 1.
    third = uuid_listing(
        [("Floods hit northern towns harder", "floods-hit-northern-towns-harder", UUID_B)]
    )
    replay(engine, f"{SITE}/top.json", "listing", [(at(2, 10), third)])
    assert headlines_by_item(engine) == [
        ["Floods hit northern towns"],
        ["Floods hit northern towns hard", "Floods hit northern towns harder"],
    ]


def test_the_item_page_shows_how_its_identity_was_decided(cli, engine: Engine) -> None:
    two_stories(engine)
    cli("merge", "1", "2")
    page = TestClient(create_app(engine, ServiceSettings())).get("/items/1")
    assert page.status_code == 200
    assert "merge: merged item 2 into it: by hand (redline merge)" in page.text


def test_bad_merges_and_splits_are_one_line_errors(cli, engine: Engine) -> None:
    two_stories(engine)
    for args, message in [
        (("merge", "1", "1"), "cannot be merged with itself"),
        (("merge", "1", "99"), "no item 99"),
        (("split", "1", "--at", "2"), "--at is a version of item 1 from 2 to 1"),
    ]:
        done = cli(*args, check=False)
        assert done.code == 2 and message in done.stderr and "Traceback" not in done.stderr
    assert len(headlines_by_item(engine)) == 2  # nothing changed


def test_history_by_an_old_url_is_the_item_seen_last(cli, engine: Engine) -> None:
    """Two items for one story, as sources of two sites (or a database from before items
    belonged to sites) keep them: the old page answers 404 and keeps its stale item; the
    new page names the old URL in its Changes list. `history OLD_URL` shows the story as
    it is now. (Sources of one site share the item: tests/test_sites.py.)"""
    from storage import queries
    from tracker.extract import Page, extract
    from tracker.record.ingest import record_observations
    from tracker.run.sources import add_source

    chain = manifest_snapshots("boat-borneo-2018-01-01")  # in order
    first, last = chain[0], chain[-1]
    site = "https://offstream.news"
    for n, (when, snapshot) in enumerate(((at(2, 8), first), (at(2, 9), last))):
        url = site + snapshot["url"]
        with transaction(engine) as session:
            source, _ = add_source(session, url, "offstream", site=f"group {n}")
            source.listing = False  # as a check learns it
            _, observations = extract("offstream", Page(url, offstream_page(snapshot["file"])))
            record_observations(session, source, observations, when, page_urls=[url])
    done = cli("history", site + first["url"], "--json").json()
    assert done["versions"][-1]["headline"] == last["headline"]
    with transaction(engine) as session:
        assert len(queries.items_by_alias(session, "url", [site + first["url"]])) == 2


def kinds_of(engine: Engine, item_id: int) -> list[str]:
    with transaction(engine) as session:
        return [change.kind for change in queries.changes_of(session, item_id)]


def test_merge_and_split_keep_headline_tests_and_fields_first_shown(cli, engine: Engine) -> None:
    """A rebuilt change log judges its versions as ingest did: a headline switched back is
    still a headline test, and a flip a flip, after a merge and after a split."""
    a, b = "Floods hit northern towns", "Towns in the north are flooded"
    tested = [uuid_listing([(headline, "floods", UUID_A)]) for headline in (a, b, a, b)]
    later = uuid_listing([(b, "floods", UUID_A), ("Floods: the clean-up begins", "up", UUID_B)])
    snapshots = [(at(2, 8 + n), page) for n, page in enumerate([*tested, later])]
    replay(engine, f"{SITE}/top.json", "listing", snapshots)
    before = kinds_of(engine, 1)
    assert before == ["created", "edited", "headline_test", "headline_flip"]
    cli("merge", "1", "2")
    assert kinds_of(engine, 1) == [*before, "edited"]
    cli("split", "1", "--at", "5")
    assert kinds_of(engine, 1) == before
