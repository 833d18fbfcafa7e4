"""End to end through the tracker: a local site publishes, edits and moves pages.

Pages are the real Offstream corpus (tests/fixtures/offstream, CC BY-SA 3.0), served
from 127.0.0.1 in replay order.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import select

from storage import Change, Check, Item, Source, Version, queries, transaction
from tracker.identity.source_index import SourceIndex
from tracker.record import history
from tracker.run.rounds import check_round
from tracker.run.sources import add_source

from .conftest import Site, manifest_snapshots, offstream_page

START = datetime(2026, 1, 1, tzinfo=UTC)
PALMYRA_PATH = (
    "/news/2017/03/2/the-syrian-army-and-its-allies-recapture-the-ancient-city-of-palmyra-"
    "from-the-islamic-state-of-iraq-and-the-levant.md"
)


def add(engine: Engine, url: str) -> int:
    with transaction(engine) as session:
        source, _ = add_source(session, url)
        assert source.id is not None
        return source.id


def check_all(engine: Engine, when: datetime) -> dict[str, str]:
    """One round over every source at the given time: url -> outcome."""
    return {r.url: r.outcome for r in check_round(engine, now=when, all_sources=True)}


def items_and_versions(engine: Engine) -> list[tuple[Item, list[Version]]]:
    with transaction(engine) as session:
        return [
            (item, list(queries.versions_of(session, item.id)))
            for item in queries.all_items(session)
        ]


def replay_chain(site: Site, engine: Engine, chain: str) -> list[dict]:
    """Serve a corpus chain snapshot by snapshot, each old URL redirecting to the newest,
    and check the first URL after each step."""
    snapshots = manifest_snapshots(chain)
    add(engine, site.url(snapshots[0]["url"]))
    current_path = None
    for step, snapshot in enumerate(snapshots):
        if current_path and current_path != snapshot["url"]:
            site.move(current_path, snapshot["url"])
        current_path = snapshot["url"]
        site.publish(current_path, offstream_page(snapshot["file"]))
        outcomes = check_all(engine, START + timedelta(hours=step))
        assert set(outcomes.values()) <= {"changed", "unchanged"}, outcomes
    return snapshots


def test_seed_page_fetched_once_has_its_page_history(site: Site, engine: Engine) -> None:
    url = site.publish(PALMYRA_PATH, offstream_page("seeds/000_0c411d6d2d5ef8ba.txt"))
    add(engine, url)
    assert check_all(engine, START) == {url: "changed"}

    [(item, versions)] = items_and_versions(engine)
    assert [v.origin for v in versions] == ["page-history", "observed"]
    first, current = versions
    assert first.headline == (
        "Syrian Civil War: Palmyra offensive (2017): The Syrian Army and its allies recapture "
        "the ancient city of Palmyra from the Islamic State of Iraq and the Levant."
    )
    # A Changes entry's time is when its headline was replaced: the end of the first
    # version (whose start the page does not give) and the start of the current one.
    replaced = datetime(2017, 8, 27, 3, 47, 56, tzinfo=UTC)
    assert (first.reported_at, current.reported_at) == (None, replaced)
    # The page history gives only the headline: everything else is unknown, not empty.
    assert (first.summary, first.category, first.sources, first.tags) == (None, None, None, None)
    assert current.headline == first.headline.removeprefix(
        "Syrian Civil War: Palmyra offensive (2017): "
    )
    assert current.summary and current.summary.startswith("The Syrian opposition declined")
    with transaction(engine) as session:
        change = session.exec(select(Change).where(Change.kind == "edited")).one()
        created = session.exec(select(Change).where(Change.kind == "created")).one()
        urls = queries.alias_values(session, item.id)
    # The edit happened when the first headline was replaced; the first version began no
    # later than that.
    assert change.occurred_at == created.occurred_at == replaced
    # The stored diff only has the fields both versions know.
    assert change.fields == ["headline"]
    assert history.whole_diff(change, first) == {
        "headline": [[-1, "Syrian Civil War: Palmyra offensive (2017): "], [0, current.headline]]
    }
    # Stored, the unchanged run is its length, read back from the first version.
    assert change.diff == {
        "headline": [
            [-1, "Syrian Civil War: Palmyra offensive (2017): "],
            [0, len(current.headline)],
        ]
    }
    assert len(urls) == 2 and any("syrian-civil-war-palmyra-offensive-2017" in u for u in urls)


def test_refetching_an_unchanged_page_adds_nothing(site: Site, engine: Engine) -> None:
    url = site.publish(PALMYRA_PATH, offstream_page("seeds/000_0c411d6d2d5ef8ba.txt"))
    add(engine, url)
    check_all(engine, START)
    # The server's ETag makes the second fetch a 304; a server without one sends the page again.
    assert check_all(engine, START + timedelta(hours=1)) == {url: "not_modified"}
    site.publish(PALMYRA_PATH, offstream_page("seeds/000_0c411d6d2d5ef8ba.txt") + "\n\n")
    assert check_all(engine, START + timedelta(hours=2)) == {url: "unchanged"}

    [(_, versions)] = items_and_versions(engine)
    assert len(versions) == 2
    assert versions[-1].last_observed_at == START + timedelta(hours=2)
    with transaction(engine) as session:
        outcomes = [c.outcome for c in session.exec(select(Check).order_by(Check.id)).all()]
    assert outcomes == ["changed", "not_modified", "unchanged"]


def test_a_to_b_to_a_stores_three_versions(site: Site, engine: Engine) -> None:
    page_a = offstream_page("seeds/001_d715acd15c94cb49.txt")
    page_b = page_a.replace("recaptures the town of Khanasir", "retakes the town of Khanasir", 1)
    assert page_b != page_a
    url = site.publish("/news/2016/02/25/khanasir.md", page_a)
    add(engine, url)
    for hour, page in enumerate([page_a, page_b, page_a]):
        site.publish("/news/2016/02/25/khanasir.md", page)
        check_all(engine, START + timedelta(hours=hour))

    [(_, versions)] = items_and_versions(engine)
    observed = [v for v in versions if v.origin == "observed"]
    assert len(observed) == 3
    assert observed[0].content_hash == observed[2].content_hash != observed[1].content_hash
    assert "retakes" in (observed[1].headline or "")


def test_whitespace_and_quote_styles_are_not_edits(site: Site, engine: Engine) -> None:
    page = offstream_page("seeds/001_d715acd15c94cb49.txt")
    url = site.publish("/p.md", page)
    add(engine, url)
    check_all(engine, START)
    retyped = page.replace("The Syrian Army, backed", "The  Syrian\u00a0Army, backed", 1)
    retyped = retyped.replace("ISIL's", "ISIL\u2019s")
    site.publish("/p.md", retyped)
    assert check_all(engine, START + timedelta(hours=1)) == {url: "unchanged"}


@pytest.mark.parametrize(
    ("chain", "urls"),
    [("palmyra-2017-03-02", 2), ("boat-borneo-2018-01-01", 3), ("nunes-memo-2018-02-02", 4)],
)
def test_a_chain_of_url_changes_ends_as_one_item(
    site: Site, engine: Engine, chain: str, urls: int
) -> None:
    snapshots = replay_chain(site, engine, chain)

    [(item, versions)] = items_and_versions(engine)
    with transaction(engine) as session:
        aliases = queries.alias_values(session, item.id)
    paths = {s["url"] for s in snapshots}
    assert len(paths) == urls
    assert {site.url(p) for p in paths} <= set(aliases)
    assert item.url == site.url(snapshots[-1]["url"])
    # Every headline the chain's pages showed is in the item's versions, in order.
    headlines = [v.headline for v in versions]
    page_headlines = [s["headline"] for s in snapshots]
    assert _dedupe_runs([h for h in headlines if h in page_headlines]) == _dedupe_runs(
        page_headlines
    )
    assert [v.n for v in versions] == list(range(1, len(versions) + 1))


def _dedupe_runs(values: list[str]) -> list[str]:
    return [v for i, v in enumerate(values) if i == 0 or values[i - 1] != v]


def test_boat_chain_versions_and_their_changes(site: Site, engine: Engine) -> None:
    replay_chain(site, engine, "boat-borneo-2018-01-01")
    [(item, versions)] = items_and_versions(engine)
    # Three observed pages; the regenerated Changes times of the last one are not an edit.
    assert [v.origin for v in versions] == ["observed"] * 3
    assert [v.headline for v in versions] == [
        "A boat capsizes in the north of Indonesian Borneo, with at least 8 people dead.",
        "A boat capsizes in the north of Indonesian Borneo, leaving at least 8 people dead.",
        "A boat capsizes in the north of Indonesian Borneo, leaving at least eight people dead.",
    ]
    with transaction(engine) as session:
        changes = session.exec(
            select(Change).where(Change.item_id == item.id).order_by(Change.id)
        ).all()
    assert [c.kind for c in changes] == ["created", "edited", "edited"]
    whole = history.whole_diff(changes[1], versions[0])
    assert whole is not None and whole["headline"] == [
        [0, "A boat capsizes in the north of Indonesian Borneo, "],
        [-1, "with"],
        [1, "leaving"],
        [0, " at least 8 people dead."],
    ]
    assert changes[2].fields == ["headline", "category"]


def test_first_sight_of_a_later_page_recovers_the_history_it_lists(
    site: Site, engine: Engine
) -> None:
    [snapshot] = manifest_snapshots("ivorian-soldiers-2018-01-10")
    url = site.publish(snapshot["url"], offstream_page(snapshot["file"]))
    add(engine, url)
    check_all(engine, START)

    [(item, versions)] = items_and_versions(engine)
    assert [v.origin for v in versions] == ["page-history"] * 5 + ["observed"]
    assert [v.headline for v in versions[:5]] == [
        c["title"].strip() for c in snapshot["changes"][:5]
    ]
    # Each entry's time is when its headline was replaced, so the next version began then;
    # the first version's start is not given.
    assert [v.reported_at for v in versions] == [
        None,
        datetime(2018, 1, 10, 20, 30, 5, tzinfo=UTC),
        datetime(2018, 1, 10, 22, 30, 5, tzinfo=UTC),
        datetime(2018, 1, 11, 0, 30, 6, tzinfo=UTC),
        datetime(2018, 1, 11, 10, 30, 5, tzinfo=UTC),
        datetime(2018, 1, 11, 11, 30, 5, tzinfo=UTC),
    ]
    with transaction(engine) as session:
        assert len(queries.alias_values(session, item.id)) == 6


def test_a_new_page_listing_a_missed_version_appends_it(site: Site, engine: Engine) -> None:
    first, second, third, _ = manifest_snapshots("boat-borneo-2018-01-01")
    url = site.publish(first["url"], offstream_page(first["file"]))
    add(engine, url)
    check_all(engine, START)
    # The second version comes and goes unseen; the third page's Changes list names it.
    site.move(first["url"], third["url"])
    site.publish(third["url"], offstream_page(third["file"]))
    check_all(engine, START + timedelta(hours=1))

    [(_, versions)] = items_and_versions(engine)
    assert [(v.origin, v.headline) for v in versions] == [
        ("observed", first["headline"]),
        ("page-history", second["headline"]),
        ("observed", third["headline"]),
    ]
    # The missed version began when the first was replaced (its Changes entry's time) and
    # ended when the third began.
    assert versions[1].reported_at == datetime(2018, 1, 1, 20, 30, 5, tzinfo=UTC)
    assert versions[2].reported_at == datetime(2018, 1, 1, 21, 30, 5, tzinfo=UTC)


def test_day_index_tracks_every_item_and_ignores_tag_order(site: Site, engine: Engine) -> None:
    first, second = manifest_snapshots("day-index-2018-02-02")
    url = site.publish(first["url"], offstream_page(first["file"]))
    add(engine, url)
    check_all(engine, START)
    site.publish(first["url"], offstream_page(second["file"]))
    assert check_all(engine, START + timedelta(hours=1)) == {url: "unchanged"}

    tracked = items_and_versions(engine)
    assert len(tracked) == 9
    assert all(len(versions) == 1 for _, versions in tracked)
    mexico = next(item for item, _ in tracked if "Videgaray" in (item.headline or ""))
    with transaction(engine) as session:
        [version] = queries.versions_of(session, mexico.id)
    assert version.tags and len(version.tags) == 13


def test_a_failing_source_is_recorded_and_the_round_goes_on(site: Site, engine: Engine) -> None:
    good = site.publish(PALMYRA_PATH, offstream_page("seeds/000_0c411d6d2d5ef8ba.txt"))
    missing = site.url("/news/gone.md")
    broken = site.fail("/news/broken.md", 500)
    not_a_page = site.publish("/news/hello.md", "hello world")
    for url in (missing, good, broken, not_a_page):
        add(engine, url)

    outcomes = check_all(engine, START)
    assert outcomes == {missing: "error", good: "changed", broken: "error", not_a_page: "error"}
    with transaction(engine) as session:
        errors = {s.url: s.last_error for s in session.exec(select(Source)).all()}
        failing = session.exec(select(Source).where(Source.url == broken)).one()
    assert "HTTP 404" in (errors[missing] or "")
    assert "HTTP 500" in (errors[broken] or "")
    assert "not an Offstream page" in (errors[not_a_page] or "") or "unrecognised" in (
        errors[not_a_page] or ""
    )
    assert errors[good] is None
    assert failing.consecutive_failures == 1
    # Backed off: the next try is later than the normal 15 minutes.
    assert failing.next_check_at is not None and failing.next_check_at > START + timedelta(
        minutes=20
    )


def test_an_error_mid_check_stores_nothing_of_that_check(
    site: Site, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    [snapshot] = manifest_snapshots("ivorian-soldiers-2018-01-10")
    url = site.publish(snapshot["url"], offstream_page(snapshot["file"]))
    add(engine, url)

    calls = 0
    real_add_alias = SourceIndex.add_alias

    def crash_on_third_alias(*args: object, **kwargs: object) -> bool:
        nonlocal calls
        calls += 1
        if calls == 3:
            raise RuntimeError("disk on fire")
        return real_add_alias(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(SourceIndex, "add_alias", crash_on_third_alias)
    assert check_all(engine, START) == {url: "error"}
    # Six versions had been written inside the check before it failed: none remain.
    assert items_and_versions(engine) == []
    with transaction(engine) as session:
        assert session.exec(select(Change)).all() == []
        [check] = session.exec(select(Check)).all()
    assert check.outcome == "error" and "disk on fire" in (check.error or "")

    monkeypatch.setattr(SourceIndex, "add_alias", real_add_alias)
    assert check_all(engine, START + timedelta(hours=1)) == {url: "changed"}
    [(_, versions)] = items_and_versions(engine)
    assert len(versions) == 6


def test_due_sources_only(site: Site, engine: Engine) -> None:
    url = site.publish(PALMYRA_PATH, offstream_page("seeds/000_0c411d6d2d5ef8ba.txt"))
    add(engine, url)
    assert len(check_round(engine, now=START)) == 1
    assert check_round(engine, now=START + timedelta(minutes=5)) == []
    assert len(check_round(engine, now=START + timedelta(minutes=30))) == 1


def test_an_item_leaving_a_listing_is_removed_and_can_come_back(site: Site, engine: Engine) -> None:
    first, _ = manifest_snapshots("day-index-2018-02-02")
    index = offstream_page(first["file"])
    youtube = index.index("##### History of YouTube")
    block_end = index.index("#####", youtube + 5)
    without_youtube = index[:youtube] + index[block_end:]
    url = site.publish(first["url"], index)
    add(engine, url)
    for hour, page in enumerate([index, without_youtube, without_youtube, index]):
        site.publish(first["url"], page)
        check_all(engine, START + timedelta(hours=hour))

    with transaction(engine) as session:
        changes = session.exec(
            select(Change).where(Change.kind != "created").order_by(Change.id)
        ).all()
        item = session.get(Item, changes[0].item_id)
    # Removed once (not again while absent), restored once, and no new version either time.
    assert [(c.kind, c.to_n, c.occurred_at) for c in changes] == [
        ("removed", 1, START + timedelta(hours=1)),
        ("restored", 1, START + timedelta(hours=3)),
    ]
    assert item is not None and "YouTube" in (item.headline or "")
    assert item.removed_at is None and item.version_count == 1
    assert len(items_and_versions(engine)) == 9


def test_an_item_page_that_fails_is_not_removed(site: Site, engine: Engine) -> None:
    url = site.publish(PALMYRA_PATH, offstream_page("seeds/000_0c411d6d2d5ef8ba.txt"))
    add(engine, url)
    check_all(engine, START)
    site.fail(PALMYRA_PATH, 503)
    assert check_all(engine, START + timedelta(hours=1)) == {url: "error"}
    with transaction(engine) as session:
        assert session.exec(select(Change).where(Change.kind == "removed")).all() == []
