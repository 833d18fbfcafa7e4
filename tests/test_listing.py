"""JSON and CSV listings as sources, and identity through URL, id and fuzzy matching."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlmodel import select

from storage import Change, ItemMatch, Source, queries, transaction
from tracker.errors import ExtractError
from tracker.extract import Page, extract
from tracker.run.sources import add_source

from .conftest import FIXTURES, Site
from .test_tracking import START, check_all, items_and_versions

LISTINGS = FIXTURES / "listings"
CSV = "text/csv; charset=utf-8"
JSON = "application/json"


def listing(name: str) -> str:
    return (LISTINGS / name).read_text(encoding="utf-8")


def add(engine: Engine, url: str, kind: str = "auto", **options: object) -> None:
    with transaction(engine) as session:
        add_source(session, url, kind, options=dict(options))


def replay(site: Site, engine: Engine, path: str, states: list[str], content_type: str) -> None:
    for hour, name in enumerate(states):
        site.publish(path, listing(name), content_type)
        outcomes = check_all(engine, START + timedelta(hours=hour))
        assert set(outcomes.values()) <= {"changed", "unchanged"}, outcomes


def by_headline(engine: Engine) -> dict[str, list[str]]:
    """Each item's first headline → the headlines of its versions."""
    return {
        versions[0].headline or "": [v.headline or "" for v in versions]
        for _, versions in items_and_versions(engine)
    }


def test_csv_front_page_keeps_identity_and_history(site: Site, engine: Engine) -> None:
    add(engine, site.url("/headlines.csv"))
    replay(
        site,
        engine,
        "/headlines.csv",
        ["frontpage-1.csv", "frontpage-2.csv", "frontpage-3.csv"],
        CSV,
    )

    histories = by_headline(engine)
    # Relative and absolute hrefs, a #fragment, an upper-case host, utm_* parameters: one item each.
    assert len(histories) == 4
    assert histories["How the first pop star blazed a trail"] == [
        "How the first pop star blazed a trail",
        "How the first ever pop star blazed a trail",
        "How the first pop star blazed a trail",
    ]
    assert histories["Ukraine crisis: leaders meet as tensions rise"][-1] == (
        "Ukraine crisis: leaders agree to further talks"
    )
    assert len(histories["Hewitt knocked out of Acapulco Open"]) == 1
    with transaction(engine) as session:
        kinds = [c.kind for c in session.exec(select(Change).order_by(Change.id)).all()]
        source = session.exec(select(Source)).one()
    assert kinds.count("removed") == 1 and kinds.count("restored") == 1
    assert source.kind == "listing"
    lead = next(v for _, vs in items_and_versions(engine) for v in vs if v.summary)
    assert lead.tags == ["Europe"] and lead.summary.startswith("Talks continue")


def test_json_listing_with_a_field_map(site: Site, engine: Engine) -> None:
    options = {
        "items": "data.articles",
        "map": {
            "id": "uid",
            "headline": "headline.main",
            "url": "links.0.href",
            "summary": "abstract",
        },
    }
    add(engine, site.url("/api/latest"), **options)
    replay(site, engine, "/api/latest", ["api-1.json", "api-2.json"], JSON)

    tracked = items_and_versions(engine)
    assert len(tracked) == 2
    lanes, lane_versions = next((i, v) for i, v in tracked if i.key == "a-101")
    # The id keeps the item through a new headline and a new URL.
    assert [v.headline for v in lane_versions] == [
        "Council approves new cycle lanes",
        "Council approves 12 km of new cycle lanes",
    ]
    assert lanes.url == site.url("/2026/03/01/council-cycle-lanes")
    assert lane_versions[0].tags == ["Transport", "Council"]
    assert lanes.event_date == date(2026, 3, 1)
    storm = next(v for i, v in tracked if i.key == "a-102")
    assert len(storm) == 1  # tags "Weather, Coast" -> "Coast, Weather": the same set
    assert storm[0].tags == ["Weather", "Coast"] and storm[0].summary.startswith("Gusts")


def test_id_pattern_follows_an_item_whose_slug_changes(site: Site, engine: Engine) -> None:
    add(engine, site.url("/latest.json"), id_pattern=r"-(\d{6,})$")
    first = '[{"title": "Flood defences fail", "link": "/news/uk-flood-defences-fail-700101"}]'
    second = (
        '[{"title": "Flood defences fail in two towns", "link": "/news/uk-flood-two-towns-700101"}]'
    )
    for hour, body in enumerate([first, second]):
        site.publish("/latest.json", body, JSON)
        check_all(engine, START + timedelta(hours=hour))
    [(item, versions)] = items_and_versions(engine)
    assert item.key == "700101" and len(versions) == 2
    with transaction(engine) as session:
        assert session.exec(select(ItemMatch)).all() == []  # found by id, not by guessing


def test_fuzzy_matching_joins_a_moved_item_and_logs_its_score(site: Site, engine: Engine) -> None:
    add(engine, site.url("/latest.json"))
    first = (
        '[{"title": "Flood defences fail in Yorkshire town", "link": "/news/flood-defences-fail"},'
        ' {"title": "Minister visits school", "link": "/news/minister-visits"}]'
    )
    second = (
        '[{"title": "Flood defences fail in two Yorkshire towns", "link": "/news/flood-two-towns"},'
        ' {"title": "Minister visits school", "link": "/news/minister-visits"},'
        ' {"title": "Lottery winner gives prize away", "link": "/news/lottery"}]'
    )
    for hour, body in enumerate([first, second]):
        site.publish("/latest.json", body, JSON)
        check_all(engine, START + timedelta(hours=hour))

    histories = by_headline(engine)
    assert histories["Flood defences fail in Yorkshire town"] == [
        "Flood defences fail in Yorkshire town",
        "Flood defences fail in two Yorkshire towns",
    ]
    assert set(histories) == {
        "Flood defences fail in Yorkshire town",
        "Minister visits school",
        "Lottery winner gives prize away",
    }
    with transaction(engine) as session:
        [match] = session.exec(select(ItemMatch)).all()
        removed = session.exec(select(Change).where(Change.kind == "removed")).all()
        flood = queries.items_by_alias(session, "url", [site.url("/news/flood-two-towns")])
    # The log says what was weighed: the headlines' likeness (and any other evidence).
    assert match.method.startswith("fuzzy: headline 0.") and 0.6 <= match.score < 1
    assert match.matched_headline == "Flood defences fail in two Yorkshire towns"
    assert removed == []
    assert [i.id for i in flood] == [match.item_id]


def test_fuzzy_matching_can_be_turned_off(site: Site, engine: Engine) -> None:
    add(engine, site.url("/latest.json"), match_threshold=1.5)
    for hour, title in enumerate(
        ["Flood defences fail in town", "Flood defences fail in two towns"]
    ):
        site.publish("/latest.json", f'[{{"title": "{title}", "link": "/n/{hour}"}}]', JSON)
        check_all(engine, START + timedelta(hours=hour))
    assert len(items_and_versions(engine)) == 2
    with transaction(engine) as session:
        assert len(session.exec(select(Change).where(Change.kind == "removed")).all()) == 1


def test_unrelated_newcomers_are_not_matched(site: Site, engine: Engine) -> None:
    add(engine, site.url("/latest.json"))
    for hour, title in enumerate(
        ["Flood defences fail in town", "Lottery winner gives prize away"]
    ):
        site.publish("/latest.json", f'[{{"title": "{title}", "link": "/n/{hour}"}}]', JSON)
        check_all(engine, START + timedelta(hours=hour))
    assert len(items_and_versions(engine)) == 2


@pytest.mark.parametrize(
    ("text", "options", "message"),
    [
        ("{not json", {}, "not valid JSON"),
        ('{"a": [1], "b": [2]}', {}, "say where the items are with --items"),
        ('{"data": {"x": 1}}', {"items": "data.x"}, "is not a list"),
    ],
)
def test_bad_listings_are_clear_errors(text: str, options: dict, message: str) -> None:
    with pytest.raises(ExtractError, match=message):
        extract("listing", Page("https://x.test/l.json", text, options=options))


def test_sniffing_listings() -> None:
    assert (
        extract("auto", Page("https://x.test/a", '[{"title": "T", "url": "/t"}]'))[0] == "listing"
    )
    csv_page = Page("https://x.test/h.csv", listing("frontpage-1.csv"), content_type=CSV)
    kind, observations = extract("auto", csv_page)
    assert kind == "listing" and len(observations) == 4
    assert observations[0].url == "https://x.test/news/live/world-europe-70000001"
    assert observations[1].summary is None  # an empty CSV cell is no summary


def test_cli_add_validates_listing_options(cli) -> None:
    for args, message in [
        (("--map", "nonsense"), "--map takes FIELD=PATH"),
        (("--map", "colour=x"), "--map takes FIELD=PATH"),
        (("--id-pattern", "(unclosed"), "--id-pattern is not a valid regular expression"),
        (("--match-threshold", "-1"), "--match-threshold is a similarity"),
    ]:
        result = cli("add", "https://x.test/l.json", *args, check=False)
        assert result.code == 2 and message in result.stderr, result.stderr
    out = cli(
        "add", "https://x.test/l.json", "--map", "headline=headline.main", "--items", "data"
    ).stdout
    assert "added: source 1" in out
    [row] = cli("sources", "--json").json()
    assert row["url"] == "https://x.test/l.json"
    assert row["options"] == {"map": {"headline": "headline.main"}, "items": "data"}


def test_an_unchanged_sighting_moves_only_the_last_seen_times(site: Site, engine: Engine) -> None:
    """Most of a listing is seen again unchanged: one UPDATE for all moves the item's
    last_seen_at and its latest version's last_observed_at, and nothing else changes."""
    add(engine, site.url("/latest.json"))
    body = json.dumps(
        [
            {"id": "a", "title": "Harbour bridge closed", "link": "/news/a"},
            {"id": "b", "title": "Ferry strike ends", "link": "/news/b"},
        ]
    )
    site.publish("/latest.json", body, JSON)
    check_all(engine, START)
    later = START + timedelta(hours=3)
    site.publish("/latest.json", body + "\n", JSON)  # other bytes (no 304), same items
    assert set(check_all(engine, later).values()) == {"unchanged"}
    for item, versions in items_and_versions(engine):
        assert (item.first_seen_at, item.last_seen_at) == (START, later)
        [version] = versions
        assert (version.observed_at, version.last_observed_at) == (START, later)
    with transaction(engine) as session:
        assert [c.kind for c in session.exec(select(Change)).all()] == ["created", "created"]


def test_a_sighting_that_changes_only_the_items_url_updates_it(site: Site, engine: Engine) -> None:
    """Same content, new link (an id keeps the identity): the item's URL follows, and the
    new URL becomes an alias; no new version (the URL is not content)."""
    add(engine, site.url("/latest.json"))
    for hour, link in enumerate(["/news/a", "/news/a-renamed"]):
        body = json.dumps([{"id": "a", "title": "Harbour bridge closed", "link": link}])
        site.publish("/latest.json", body, JSON)
        check_all(engine, START + timedelta(hours=hour))
    [(item, versions)] = items_and_versions(engine)
    assert item.url == site.url("/news/a-renamed")
    assert len(versions) == 1
    with transaction(engine) as session:
        urls = queries.alias_values(session, item.id, "url")
    assert set(urls) >= {site.url("/news/a"), site.url("/news/a-renamed")}


def test_the_alias_lookup_of_a_check_searches_a_whole_key(site: Site, engine: Engine) -> None:
    """A check looks up its items' aliases by (kind, value, source), the unique index's
    whole key, or a site-wide alias by (kind, value), then its source by id; by (source,
    value) the search walked every alias the source ever had, so each check of a listing
    grew slower with its history, and a list of the site's sources grew with the site."""
    if engine.dialect.name != "sqlite":
        pytest.skip("the plan is read with SQLite's EXPLAIN QUERY PLAN")
    add(engine, site.url("/latest.json"))
    site.publish("/latest.json", json.dumps([{"id": "a", "title": "Bridge closed"}]), JSON)
    lookups: list[tuple[str, object]] = []

    def remember(conn, cursor, statement, parameters, context, executemany) -> None:  # noqa: ANN001
        if statement.lstrip().startswith("SELECT") and "FROM itemalias" in statement:
            lookups.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", remember)
    try:
        check_all(engine, START)
    finally:
        event.remove(engine, "before_cursor_execute", remember)
    assert lookups
    with engine.connect() as connection:
        for statement, parameters in lookups:
            plan = connection.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters)
            details = " ".join(row[3] for row in plan)
            whole_key = "(kind=? AND value=? AND source_id=?)" in details or (
                "uq_itemalias_kind_value_source (kind=? AND value=?)" in details
                and "SEARCH source USING INTEGER PRIMARY KEY" in details
            )
            assert whole_key and "SCAN" not in details, (statement, details)
