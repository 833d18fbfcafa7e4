"""Identity on the classes of real publishers' feeds where it used to break (issue 16).

Each fixture is written in the shape of a real class of page (the data itself is kept out
of the repository): a newspaper feed whose guid is the article URL and whose daily pages
recur with near-identical headlines; a listing whose slug is rebuilt from the headline
around a stable uuid; a day index that drops an item for one check and shows it again
under a new URL. Each test replays snapshots through redline's own extractors and asserts
the exact items and edits: a wrong merge would publish a false edit.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from email.utils import format_datetime

from sqlalchemy.engine import Engine
from sqlmodel import select

from storage import Change, Item, ItemMatch, Source, queries, transaction
from tracker.extract import Page, extract
from tracker.record.ingest import record_observations
from tracker.run.sources import add_source

SITE = "https://paper.example"


def rss(entries: list[dict[str, str]]) -> str:
    """An RSS 2.0 feed whose guids are the article URLs (isPermaLink), as many papers do."""
    items = "".join(
        f"<item><title>{e['title']}</title><link>{SITE}{e['path']}</link>"
        f'<guid isPermaLink="true">{SITE}{e["path"]}</guid>'
        + (f"<pubDate>{e['date']}</pubDate>" if "date" in e else "")
        + (f"<description>{e['teaser']}</description>" if "teaser" in e else "")
        + "</item>"
        for e in entries
    )
    return (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>Paper</title>'
        f"<link>{SITE}/</link><description>d</description>{items}</channel></rss>"
    )


def rfc822(year: int, month: int, day: int, hour: int) -> str:
    return format_datetime(datetime(year, month, day, hour, tzinfo=UTC))


def replay(
    engine: Engine,
    url: str,
    kind: str,
    snapshots: list[tuple[datetime, str]],
    **options: object,
) -> int:
    """Record each snapshot as one check of one listing source; the source's id."""
    with transaction(engine) as session:
        source, _ = add_source(session, url, kind, options=dict(options))
        source_id = source.id or 0
    for when, text in snapshots:
        with transaction(engine) as session:
            source = session.get(Source, source_id)
            assert source is not None
            _, observations = extract(kind, Page(url, text))
            record_observations(session, source, observations, when, listing=True)
    return source_id


def edits(engine: Engine) -> list[tuple[str | None, str | None]]:
    """Every published edit as (old headline, new headline), in order."""
    with transaction(engine) as session:
        changes = session.exec(
            select(Change).where(Change.kind == "edited").order_by(Change.id)
        ).all()
        found = []
        for change in changes:
            versions = {v.n: v for v in queries.versions_of(session, change.item_id)}
            found.append((versions[change.from_n].headline, versions[change.to_n].headline))
        return found


def headlines_by_item(engine: Engine) -> list[list[str | None]]:
    with transaction(engine) as session:
        return [
            [v.headline for v in queries.versions_of(session, item.id or 0)]
            for item in session.exec(select(Item).order_by(Item.id)).all()
        ]


def at(day: int, hour: int) -> datetime:
    return datetime(2026, 3, day, hour, tzinfo=UTC)


def test_daily_pages_on_new_urls_are_new_items_and_a_moved_article_is_one(
    engine: Engine,
) -> None:
    """A guid that is the URL; a morning briefing whose headline differs only in its
    weekday, an evening page with the same headline every day, each on a new URL each
    day; and a real article that moves to a new URL when its headline is edited (same
    teaser, same publication date)."""
    article = {
        "teaser": "The minister quit on Monday after weeks of pressure.",
        "date": rfc822(2026, 3, 2, 9),
    }

    def briefing(weekday: str, day: int) -> dict[str, str]:
        path, date = f"/briefing/2026/03/0{day}/morning", rfc822(2026, 3, day, 6)
        return {"title": f"Morning briefing: {weekday}'s top stories", "path": path, "date": date}

    def today(suffix: str, day: int) -> dict[str, str]:
        path, date = f"/live/today-{suffix}", rfc822(2026, 3, day, 18)
        return {"title": "What happened today", "path": path, "date": date}

    def resigns(word: str) -> dict[str, str]:
        path = f"/politics/minister-resigns-{word}-expenses-row"
        return {"title": f"Minister resigns {word} expenses row", "path": path, **article}

    monday = [briefing("Monday", 2), today("mon", 2), resigns("over")]
    monday_later = [briefing("Monday", 2), today("mon", 2), resigns("after")]
    tuesday = [briefing("Tuesday", 3), today("tue", 3), resigns("after")]
    replay(
        engine,
        f"{SITE}/rss.xml",
        "feed",
        [(at(2, 19), rss(monday)), (at(2, 21), rss(monday_later)), (at(3, 19), rss(tuesday))],
    )

    assert edits(engine) == [
        ("Minister resigns over expenses row", "Minister resigns after expenses row")
    ]
    assert sorted(map(tuple, headlines_by_item(engine))) == sorted(
        [
            ("Morning briefing: Monday's top stories",),
            ("What happened today",),
            ("Minister resigns over expenses row", "Minister resigns after expenses row"),
            ("Morning briefing: Tuesday's top stories",),
            ("What happened today",),
        ]
    )
    with transaction(engine) as session:
        [match] = session.exec(select(ItemMatch)).all()
    assert "same summary" in match.method and "same day" in match.method


def test_a_recurring_headline_without_dates_is_a_new_item_on_a_later_day(engine: Engine) -> None:
    """No publication dates and no dates in the URLs: the same headline on a new URL the
    next day is the next edition of a daily page, not an edit of yesterday's."""
    day1 = [{"title": "Your evening briefing", "path": "/evening/briefing-a"}]
    day2 = [{"title": "Your evening briefing", "path": "/evening/briefing-b"}]
    replay(engine, f"{SITE}/rss.xml", "feed", [(at(2, 19), rss(day1)), (at(3, 19), rss(day2))])

    assert headlines_by_item(engine) == [["Your evening briefing"], ["Your evening briefing"]]
    with transaction(engine) as session:
        assert session.exec(select(ItemMatch)).all() == []


def uuid_listing(rows: list[tuple[str, str, str]]) -> str:
    """A top-stories JSON listing: /section/<slug-from-headline>-<letter>-<uuid>, guid = URL."""
    records = []
    for headline, slug, uuid in rows:
        url = f"{SITE}/world/{slug}-a-{uuid}"
        records.append({"guid": url, "title": headline, "url": url})
    return json.dumps({"items": records})


UUID_A = "1b4e28ba-2fa1-41d2-883f-0016d3cca427"
UUID_B = "6fa459ea-ee8a-4ca4-894e-db77e160355e"
UUID_C = "0f8fad5b-d9cb-469f-a165-70867728950e"


def test_a_uuid_in_a_slug_outranks_a_guid_that_is_the_url(engine: Engine) -> None:
    """A headline that gains a clause after a dash (similarity about 0.5, below fuzzy
    matching's threshold) rebuilds the slug and so the guid; the uuid stays. Beside it,
    an item with another uuid and a near-identical headline leaves as a newcomer arrives:
    different publisher ids are never joined."""
    first = uuid_listing([
        ("Floods hit northern towns", "floods-hit-northern-towns", UUID_A),
        ("Storm closes schools in the south", "storm-closes-schools-in-the-south", UUID_B),
    ])  # fmt: skip
    second = uuid_listing([
        ("Floods hit northern towns – thousands evacuated as river bursts its banks",
         "floods-hit-northern-towns-thousands-evacuated-as-river-bursts-its-banks", UUID_A),
        ("Storm closes schools in the north", "storm-closes-schools-in-the-north", UUID_C),
    ])  # fmt: skip
    replay(engine, f"{SITE}/top.json", "listing", [(at(2, 8), first), (at(2, 9), second)])

    assert edits(engine) == [
        (
            "Floods hit northern towns",
            "Floods hit northern towns – thousands evacuated as river bursts its banks",
        )
    ]
    assert len(headlines_by_item(engine)) == 3


def test_id_pattern_outranks_a_guid(engine: Engine) -> None:
    """A guid rebuilt with the slug (not a URL, so not recognised as one) loses to the
    id the source's --id-pattern finds in the link."""

    def feed(title: str, slug: str) -> str:
        return (
            '<?xml version="1.0"?><rss version="2.0"><channel><title>P</title>'
            f"<link>{SITE}/</link><description>d</description><item><title>{title}</title>"
            f'<link>{SITE}/news/{slug}-4471902</link><guid isPermaLink="false">{slug}</guid>'
            "</item></channel></rss>"
        )

    with transaction(engine) as session:
        source, _ = add_source(
            session, f"{SITE}/rss", "feed", options={"id_pattern": r"-(\d{6,})$"}
        )
        source_id = source.id
    for hour, (title, slug) in enumerate(
        [
            ("Bridge closes", "bridge-closes"),
            ("Bridge closes after crash", "bridge-closes-after-crash"),
        ]
    ):
        with transaction(engine) as session:
            source = session.get(Source, source_id)
            _, observations = extract("feed", Page(f"{SITE}/rss", feed(title, slug)))
            record_observations(session, source, observations, at(2, hour), listing=True)

    assert headlines_by_item(engine) == [["Bridge closes", "Bridge closes after crash"]]


def day_index(rows: list[tuple[str, str]]) -> str:
    """A day index as a JSON listing: the slug is the headline, the category a section."""
    return json.dumps(
        [
            {"title": title, "url": f"{SITE}/news/2018/02/02/{slug}", "category": "Armed conflicts"}
            for title, slug in rows
        ]
    )


def test_an_item_missing_for_one_check_is_paired_when_it_comes_back_moved(engine: Engine) -> None:
    """An item gone from one version of a day index and back under a new URL in the next,
    its headline edited below the headline-only threshold: the same day in its URL, the
    same category and section make up the difference, across the gap."""
    old = ("Syrian army recaptures Palmyra from Islamic State", "army-recaptures-palmyra")
    new = (  # similarity 0.57: below the headline-only threshold of 0.6
        "Syrian army and allies recapture Palmyra from the Islamic State group",
        "army-and-allies-recapture-palmyra",
    )
    other = ("Talks on a ceasefire open in Geneva", "talks-open-in-geneva")
    snapshots = [
        (at(2, 8), day_index([old, other])),
        (at(2, 9), day_index([other])),
        (at(2, 10), day_index([new, other])),
    ]
    replay(engine, f"{SITE}/news/2018/02/02/index.json", "listing", snapshots)

    assert edits(engine) == [(old[0], new[0])]
    assert len(headlines_by_item(engine)) == 2


def test_the_match_window_bounds_how_long_a_departed_item_is_remembered(
    engine: Engine,
) -> None:
    old = ("Syrian army recaptures Palmyra from Islamic State", "army-recaptures-palmyra")
    new = (
        "Syrian army and allies recapture Palmyra from the Islamic State group",
        "army-and-allies-recapture-palmyra",
    )
    snapshots = [
        (at(2, 8), day_index([old])),
        (at(2, 9), day_index([])),
        (at(2, 11), day_index([new])),
    ]
    replay(engine, f"{SITE}/index.json", "listing", snapshots, match_window_hours=1)

    assert edits(engine) == []  # it left two hours before the newcomer came: a new item
    assert len(headlines_by_item(engine)) == 2


def test_items_whose_publisher_ids_differ_are_never_paired_even_at_threshold_0(
    engine: Engine,
) -> None:
    """A threshold of 0 takes any likeness as enough; it cannot make one item of two
    whose ids say they are two (a vetoed pair), nor of one with an id and one without."""

    snapshots = [
        (at(2, 8), json.dumps([{"id": "a-1", "title": "Harbour closes after the storm"}])),
        (at(2, 9), json.dumps([{"id": "b-2", "title": "Harbour closes after the storm, again"}])),
        (at(2, 10), json.dumps([{"title": "Harbour closes after the storm, once more"}])),
    ]
    replay(engine, f"{SITE}/index.json", "listing", snapshots, match_threshold=0)

    assert edits(engine) == []
    assert len(headlines_by_item(engine)) == 3
    with transaction(engine) as session:
        assert session.exec(select(ItemMatch)).all() == []


def ticker(rows: list[tuple[str, str]]) -> str:
    """A newsticker listing: article URLs carry a 24-hex id; some rows link a section page."""
    return json.dumps(
        {"articles": [{"title": title, "url": f"{SITE}{path}"} for title, path in rows]}
    )


ARTICLE = "/politik/ausland/article6958bd00fb77630dac275fc8/"


def test_a_section_link_beside_articles_is_no_item_and_never_takes_an_article(
    engine: Engine,
) -> None:
    """A row that links its section page promotes whatever story leads it: each headline
    it shows is not an edit of the last, and an article that arrives as the section row
    leaves is not paired with it (only the article has a publisher id)."""
    first = ticker([
        ("Venezuela: Maduro captured, US says", "/politik/ausland/"),
        ("Storm warning for the coast", "/vermischtes/article6958aa00fb77630dac275fc1/storm.html"),
    ])  # fmt: skip
    second = ticker([
        ("Venezuela: Maduro captured, US says", ARTICLE + "maduro-gefangen.html"),
        ("Storm warning for the coast", "/vermischtes/article6958aa00fb77630dac275fc1/storm.html"),
        ("Ukraine: talks in Geneva", "/politik/ausland/"),
    ])  # fmt: skip
    third = ticker([
        ("Venezuela: Maduro flown to New York", ARTICLE + "maduro-new-york.html"),
        ("Storm warning for the coast", "/vermischtes/article6958aa00fb77630dac275fc1/storm.html"),
        ("Election results in Chile", "/politik/ausland/"),
    ])  # fmt: skip
    replay(
        engine,
        f"{SITE}/newsticker.json",
        "listing",
        [(at(2, 8), first), (at(2, 9), second), (at(2, 10), third)],
    )

    assert edits(engine) == [
        ("Venezuela: Maduro captured, US says", "Venezuela: Maduro flown to New York")
    ]
    assert sorted(map(tuple, headlines_by_item(engine))) == sorted(
        [
            ("Venezuela: Maduro captured, US says",),  # the section row of the first check
            ("Storm warning for the coast",),
            ("Venezuela: Maduro captured, US says", "Venezuela: Maduro flown to New York"),
            ("Ukraine: talks in Geneva",),
            ("Election results in Chile",),
        ]
    )


def test_a_section_link_stays_a_section_link_when_no_article_sits_under_it(
    engine: Engine,
) -> None:
    """Once a listing has shown a section page beside articles under it, a later row
    linking that page promotes another story even when no article of that check sits
    under the section: a new item, not an edit of the story it promoted before. The same
    story promoted again within the match window is the item it was, back."""
    storm = ("Storm warning for the coast", "/vermischtes/article6958aa00fb77630dac275fc1/s.html")
    first = ticker([
        ("Jobless costs rise sharply", "/politik/deutschland/"),
        ("Coalition agrees on budget", "/politik/deutschland/article6958bb00fb77630dac275fc2/"),
        storm,
    ])  # fmt: skip
    later = ticker([("Sixty euros a day for a hotel bed", "/politik/deutschland/"), storm])
    again = ticker([("Jobless costs rise sharply", "/politik/deutschland/"), storm])
    replay(
        engine,
        f"{SITE}/newsticker.json",
        "listing",
        [(at(2, 8), first), (at(2, 10), later), (at(2, 11), again)],
    )

    assert edits(engine) == []
    assert sorted(map(tuple, headlines_by_item(engine))) == sorted(
        [
            ("Jobless costs rise sharply",),
            ("Coalition agrees on budget",),
            ("Storm warning for the coast",),
            ("Sixty euros a day for a hotel bed",),
        ]
    )
    with transaction(engine) as session:  # the section page names no one story
        assert queries.items_by_alias(session, "url", [f"{SITE}/politik/deutschland/"]) == []


def headlines(rows: list[str]) -> str:
    """A listing that shows headlines only (no id, no link), as some tickers do."""
    return json.dumps([{"headline": row} for row in rows])


def test_a_headline_alone_back_after_the_match_window_is_a_new_item(engine: Engine) -> None:
    """A wire story issued again days later under the same headline is another story; a
    headline off the ticker for an hour and back is the same item, restored."""
    issued = "5 things drivers must know this winter"
    hour_off = "Council approves the budget"
    snapshots = [
        (at(2, 8), headlines([issued, hour_off])),
        (at(2, 9), headlines([issued])),  # both leave the ticker for a while
        (at(2, 10), headlines([hour_off])),  # one is back within the window (12 h)
        (at(4, 8), headlines([issued, hour_off])),  # the other two days later
    ]
    replay(engine, f"{SITE}/ticker.json", "listing", snapshots)
    assert headlines_by_item(engine) == [[issued], [hour_off], [issued]]
    with transaction(engine) as session:
        kinds = [(c.item_id, c.kind) for c in session.exec(select(Change).order_by(Change.id))]
    assert kinds == [
        (1, "created"),
        (2, "created"),
        (2, "removed"),
        (2, "restored"),
        (1, "removed"),
        (3, "created"),
    ]
    # The headline now names the new item: the next check finds it, no third item.
    replay_more = [(at(4, 9), headlines([issued, hour_off]))]
    with transaction(engine) as session:
        source_id = session.exec(select(Source.id)).one()
    for when, text in replay_more:
        with transaction(engine) as session:
            source = session.get(Source, source_id)
            assert source is not None
            _, observations = extract("listing", Page(source.url, text))
            record_observations(session, source, observations, when, listing=True)
    assert len(headlines_by_item(engine)) == 3


def test_a_site_teaches_which_part_of_its_urls_survives_an_edit(engine: Engine) -> None:
    """A short base-36 id after the slug (no built-in shape): two articles moved with a
    rebuilt slug, paired by their headlines, show that the last token survives; from
    then on that token follows a third article through an edit no headline likeness
    could pair, and never joins two articles with different tokens."""
    a1 = {"path": "/world/talks-resume-x7k2p9", "title": "Talks resume in Geneva"}
    a2 = {
        "path": "/world/peace-talks-resume-in-geneva-x7k2p9",
        "title": "Peace talks resume in Geneva",
    }
    b1 = {"path": "/world/storm-nears-the-coast-q4m8z2", "title": "Storm nears the coast"}
    b2 = {
        "path": "/world/storm-nears-the-east-coast-q4m8z2",
        "title": "Storm nears the east coast",
    }
    c1 = {"path": "/markets/markets-fall-sharply-k3j9w1", "title": "Markets fall sharply"}
    c2 = {
        "path": "/markets/sell-off-deepens-as-investors-flee-k3j9w1",
        "title": "Sell-off deepens as investors flee",
    }
    d = {
        "path": "/markets/banks-steady-after-sell-off-r5t6y7",
        "title": "Markets fall sharply again",
    }
    source_id = replay(
        engine,
        f"{SITE}/world.xml",
        "feed",
        [
            (at(2, 8), rss([a1, b1, c1])),
            (at(2, 9), rss([a2, b2, c1])),  # two moves, paired by headline
            (at(2, 10), rss([a2, b2, c1])),  # the learned id is now an alias of each
            (at(2, 11), rss([a2, b2, c2, d])),  # c moves: no headline likeness
        ],
    )  # fmt: skip
    with transaction(engine) as session:
        source = session.get(Source, source_id)
        assert source is not None and source.options["learned_url_ids"] == {
            "tail": 3
        }  # a, b, then c
    assert edits(engine) == [
        ("Talks resume in Geneva", "Peace talks resume in Geneva"),
        ("Storm nears the coast", "Storm nears the east coast"),
        ("Markets fall sharply", "Sell-off deepens as investors flee"),
    ]
    assert len(headlines_by_item(engine)) == 4  # d, with its own token, is its own item
