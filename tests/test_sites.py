"""Items belong to a site; sources sight them (issue 16, class 4).

The same article in two feeds of one site is one item with both sources; an edit one
feed shows first is published once and shows in both feeds' own change lists; an item
leaves one feed without leaving the site; an item page at a new URL whose Changes list
names the old one joins the old item; sources of two hosts are one site only when the
user says so; a listing and an item page are never one item.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.engine import Engine
from sqlmodel import col, select

from storage import (
    Change,
    Item,
    ItemMatch,
    ItemSighting,
    Source,
    change_pages,
    queries,
    transaction,
)
from tracker.extract import Page, extract
from tracker.identity.sites import site_of
from tracker.record.ingest import record_observations
from tracker.record.merge import merge_site_duplicates
from tracker.run.sources import add_source, edit_source

from .conftest import manifest_snapshots, offstream_page

T0 = datetime(2026, 3, 2, 8, tzinfo=UTC)


def feed(site: str, entries: list[tuple[str, str]]) -> str:
    """An RSS feed of (path, headline) entries whose guid is the article URL."""
    items = "".join(
        f"<item><title>{title}</title><link>{site}{path}</link>"
        f'<guid isPermaLink="true">{site}{path}</guid></item>'
        for path, title in entries
    )
    return (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>Paper</title>'
        f"<link>{site}/</link><description>d</description>{items}</channel></rss>"
    )


def add(engine: Engine, url: str, site: str | None = None) -> int:
    with transaction(engine) as session:
        source, _ = add_source(session, url, "feed", site=site)
        return source.id or 0


def check(engine: Engine, source_id: int, text: str, when: datetime) -> None:
    """One check of a feed source, as tracker.run.check records it."""
    with transaction(engine) as session:
        source = session.get(Source, source_id)
        assert source is not None
        _, observations = extract("feed", Page(source.url, text))
        source.listing = True
        record_observations(session, source, observations, when, listing=True)


def items(engine: Engine) -> list[tuple[int, str | None, list[int]]]:
    """(item id, headline, ids of the sources that sight it) of every item."""
    with transaction(engine) as session:
        found = []
        for item in session.exec(select(Item).order_by(Item.id)).all():
            sightings = queries.sightings_of(session, item.id or 0)
            found.append((item.id or 0, item.headline, [s.source_id for s in sightings]))
        return found


def changes(engine: Engine, source_id: int | None = None) -> list[tuple[str, int, int]]:
    """(kind, item id, recording source id) of the changes a feed shows, oldest first."""
    kinds = ("created", "edited", "removed", "restored")
    with transaction(engine) as session:
        page = change_pages.change_page(session, kinds, 200, source_id=source_id)
        return [(c.kind, c.item_id, c.source_id) for c in reversed(page)]


SITE = "https://paper.example"
STORY = ("/world/2026/03/02/talks-resume", "Talks resume in Geneva")
EDITED = ("/world/2026/03/02/talks-resume", "Talks collapse in Geneva")
OTHER = ("/world/2026/03/02/storm", "Storm nears the coast")


def test_one_article_in_two_feeds_of_a_site_is_one_item_with_both_sources(
    engine: Engine,
) -> None:
    world, top = add(engine, SITE + "/world.xml"), add(engine, SITE + "/top.xml")
    check(engine, world, feed(SITE, [STORY, OTHER]), T0)
    check(engine, top, feed(SITE, [STORY]), T0 + timedelta(minutes=1))
    assert items(engine) == [(1, STORY[1], [world, top]), (2, OTHER[1], [world])]
    # The edit is seen by top.xml first: one edit, in both feeds' own lists.
    check(engine, top, feed(SITE, [EDITED]), T0 + timedelta(hours=1))
    check(engine, world, feed(SITE, [EDITED, OTHER]), T0 + timedelta(hours=1, minutes=1))
    edits = [c for c in changes(engine) if c[0] == "edited"]
    assert edits == [("edited", 1, top)]
    assert ("edited", 1, top) in changes(engine, world)
    assert ("edited", 1, top) in changes(engine, top)
    assert [c for c in changes(engine, top) if c[1] == 2] == []  # top.xml never showed it
    with transaction(engine) as session:
        assert queries.item_counts(session) == {world: 2, top: 1}


def test_an_item_leaves_one_feed_without_leaving_the_site(engine: Engine) -> None:
    world, top = add(engine, SITE + "/world.xml"), add(engine, SITE + "/top.xml")
    check(engine, world, feed(SITE, [STORY, OTHER]), T0)
    check(engine, top, feed(SITE, [STORY, OTHER]), T0)
    for hour in (1, 2, 3):  # the story leaves top.xml, and stays on world.xml
        when = T0 + timedelta(hours=hour)
        check(engine, world, feed(SITE, [STORY, OTHER]), when)
        check(engine, top, feed(SITE, [OTHER]), when)
    events = [c for c in changes(engine) if c[0] in ("removed", "restored")]
    assert events == [("removed", 1, top)]  # once, from top.xml: no flapping
    assert events[0] not in changes(engine, world)
    with transaction(engine) as session:
        item = session.get(Item, 1)
        assert item is not None and item.removed_at is None  # still on the site's world.xml
        check_gone = T0 + timedelta(hours=4)
    check(engine, world, feed(SITE, [OTHER]), check_gone)
    with transaction(engine) as session:
        item = session.get(Item, 1)
        assert item is not None and item.removed_at == check_gone
    # Back on top.xml: restored there only.
    check(engine, top, feed(SITE, [STORY, OTHER]), T0 + timedelta(hours=5))
    events = [c for c in changes(engine) if c[0] in ("removed", "restored")]
    assert events == [("removed", 1, top), ("removed", 1, world), ("restored", 1, top)]
    with transaction(engine) as session:
        item = session.get(Item, 1)
        assert item is not None and item.removed_at is None


def test_a_sources_pages_are_the_newest_of_its_own_events_and_its_items_edits(
    engine: Engine,
) -> None:
    """A source's feed is its own removals and restorations and the edits of the items it
    sights, recorded by any source of the site; a page of it, at any size and cursor, is
    the newest of both together (they are read as two halves: storage/change_pages.py)."""
    world, top = add(engine, SITE + "/world.xml"), add(engine, SITE + "/top.xml")
    check(engine, world, feed(SITE, [STORY, OTHER]), T0)
    check(engine, top, feed(SITE, [STORY, OTHER]), T0)
    for hour in range(1, 7):  # world.xml records the edits; top.xml's items come and go
        when = T0 + timedelta(hours=hour)
        headline = f"Talks go on in Geneva, day {hour}"
        check(engine, world, feed(SITE, [(STORY[0], headline), OTHER]), when)
        shown = [(STORY[0], headline)] if hour % 2 else [(STORY[0], headline), OTHER]
        check(engine, top, feed(SITE, shown), when + timedelta(minutes=1))
    kinds = ("created", "edited", "removed", "restored")
    with transaction(engine) as session:
        every = session.exec(select(Change).order_by(col(Change.id).desc())).all()
        sightings = session.exec(select(ItemSighting).where(ItemSighting.source_id == top))
        sighted = {sighting.item_id for sighting in sightings.all()}
        expected = [
            c.id
            for c in every
            if c.kind in kinds
            and (c.source_id == top or (c.kind in ("created", "edited") and c.item_id in sighted))
        ]
        assert {c.source_id for c in every if c.id in expected} == {world, top}  # both halves
        for limit in (1, 2, 3, 5, len(expected)):
            for before in [None, *expected]:
                page = change_pages.change_page(session, kinds, limit, before, source_id=top)
                newer = expected if before is None else expected[expected.index(before) + 1 :]
                assert [c.id for c in page] == newer[:limit], (limit, before)


def test_sources_of_two_hosts_share_items_only_when_the_user_groups_them(
    engine: Engine,
) -> None:
    feeds_host = "https://feeds.paper.example"
    a = add(engine, SITE + "/world.xml")
    b = add(engine, feeds_host + "/rss/top.xml")
    check(engine, a, feed(SITE, [STORY]), T0)
    check(engine, b, feed(SITE, [STORY]), T0)
    assert [sources for _, _, sources in items(engine)] == [[a], [b]]  # two sites: apart
    # Grouped: the next check that names the article merges the two, logged.
    with transaction(engine) as session:
        edit_source(session, a, {"site": "paper"})
        edit_source(session, b, {"site": "Paper "})
    check(engine, b, feed(SITE, [EDITED]), T0 + timedelta(hours=1))
    assert items(engine) == [(1, EDITED[1], [a, b])]
    with transaction(engine) as session:
        logged = session.exec(select(ItemMatch.method)).all()
        assert any(m.startswith("merge: merged item 2 into it") for m in logged)
    assert [c[0] for c in changes(engine)] == ["created", "edited"]  # one story, one edit
    # Back to their hosts: new articles are the sources' own again.
    with transaction(engine) as session:
        edit_source(session, b, {"site": ""})
        assert session.get(Source, b).site == "feeds.paper.example"  # type: ignore[union-attr]
    check(engine, a, feed(SITE, [EDITED, OTHER]), T0 + timedelta(hours=2))
    check(engine, b, feed(SITE, [EDITED, OTHER]), T0 + timedelta(hours=2))
    assert [sources for _, _, sources in items(engine)] == [[a, b], [a], [b]]


def test_the_same_guid_on_two_sites_is_two_items(engine: Engine) -> None:
    a = add(engine, SITE + "/world.xml")
    b = add(engine, "https://other.example/world.xml")
    check(engine, a, feed(SITE, [STORY]), T0)
    check(engine, b, feed(SITE, [STORY]), T0)
    assert len(items(engine)) == 2


def test_a_feed_entry_and_the_article_page_are_not_one_item(engine: Engine) -> None:
    """Two views of one story (headline and teaser; headline and body): one item would
    record a false edit at every check of the other view."""
    listing = add(engine, SITE + "/world.xml")
    check(engine, listing, feed(SITE, [STORY]), T0)
    page_url = SITE + STORY[0]
    page = (
        f"<html><head><title>{STORY[1]}</title>"
        f'<link rel="canonical" href="{page_url}"></head>'
        f"<body><article><h1>{STORY[1]}</h1><p>{'Negotiators met again. ' * 20}</p>"
        "</article></body></html>"
    )
    with transaction(engine) as session:
        source, _ = add_source(session, page_url, "article")
        _, observations = extract("article", Page(page_url, page))
        source.listing = False
        record_observations(session, source, observations, T0, page_urls=[page_url])
    assert [sources for _, _, sources in items(engine)] == [[1], [2]]


def test_an_item_page_at_a_new_url_joins_the_item_of_its_old_url(cli, engine: Engine) -> None:
    """The old page answers 404 now; the new one, added as a source, names the old URL in
    its Changes list: one item, sighted by both, and `history OLD_URL` is it."""
    chain = manifest_snapshots("boat-borneo-2018-01-01")
    first, last = chain[0], chain[-1]
    site = "https://offstream.news"
    for when, snapshot in ((T0, first), (T0 + timedelta(days=1), last)):
        url = site + snapshot["url"]
        with transaction(engine) as session:
            source, _ = add_source(session, url, "offstream")
            _, observations = extract("offstream", Page(url, offstream_page(snapshot["file"])))
            source.listing = False  # as a check learns it
            record_observations(session, source, observations, when, page_urls=[url])
    assert [sources for _, _, sources in items(engine)] == [[1, 2]]
    done = cli("history", site + first["url"], "--json").json()
    assert done["item"]["id"] == 1
    assert done["versions"][-1]["headline"] == last["headline"]


def test_upgrading_merges_the_items_two_sources_of_a_site_recorded_apart(
    engine: Engine,
) -> None:
    """As a database made before items belonged to sites holds them: each feed's own item
    for one article. merge_site_duplicates (run by `redline db upgrade`) makes them one."""
    world = add(engine, SITE + "/world.xml", site="world")
    top = add(engine, SITE + "/top.xml", site="top")
    check(engine, world, feed(SITE, [STORY, OTHER]), T0)
    check(engine, top, feed(SITE, [EDITED]), T0 + timedelta(hours=1))
    assert len(items(engine)) == 3
    with transaction(engine) as session:
        for source_id in (world, top):  # as migration 0006 leaves them
            source = session.get(Source, source_id)
            assert source is not None
            source.site = site_of(source.url)
            session.add(source)
    with transaction(engine) as session:
        assert merge_site_duplicates(session, T0 + timedelta(hours=2)) == 1
    with transaction(engine) as session:
        assert merge_site_duplicates(session, T0 + timedelta(hours=2)) == 0  # done once
    assert items(engine) == [(1, EDITED[1], [world, top]), (2, OTHER[1], [world])]
    assert [(c[0], c[1]) for c in changes(engine) if c[1] == 1] == [
        ("created", 1),
        ("edited", 1),
    ]
    with transaction(engine) as session:
        sightings = session.exec(select(ItemSighting).where(ItemSighting.item_id == 2)).all()
        assert [(s.source_id, s.listed) for s in sightings] == [(world, True)]
        edit = session.exec(select(Change).where(Change.kind == "edited")).one()
        assert edit.source_id == top  # the edit stays top.xml's, which saw it


def test_site_names_are_checked(cli) -> None:
    done = cli("add", "https://paper.example/a.xml", "--site", "x" * 300, check=False)
    assert done.code == 2 and "a site name is at most 253 characters" in done.stderr
    cli("add", "https://paper.example/a.xml", "--site", "Paper Group")
    listed = cli("sources", "--json").json()
    assert listed[0]["site"] == "paper group"
    done = cli("source", "edit", "1", "--site", "", check=True)
    assert cli("sources", "--json").json()[0]["site"] == "paper.example"
