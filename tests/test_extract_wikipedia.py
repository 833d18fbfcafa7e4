"""The Wikipedia Current Events extractor and day pages tracked end to end.

The fixtures under tests/fixtures/wikipedia are written for the project in the shape of the
Portal's HTML; each ``*.html`` has a ``*.json`` beside it with the exact Observations it
must give.
"""

from __future__ import annotations

import contextlib
import json
import time
from dataclasses import asdict
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import select

from storage import Change, Item, Source, Version, queries, transaction
from tracker.errors import ExtractError
from tracker.extract import Page, extract
from tracker.extract.base import Observation
from tracker.extract.wikipedia import is_wikipedia_current_events, parse_wikipedia
from tracker.run.rounds import check_round
from tracker.run.sources import add_source

from .conftest import FIXTURES, Site, offstream_page, text_fields

# What is tested here does not depend on the database (see conftest.py).
pytestmark = pytest.mark.one_database

WIKIPEDIA = FIXTURES / "wikipedia"
PAGES = sorted(WIKIPEDIA.glob("*/*.html"))
DAY = WIKIPEDIA / "day-2017-03-02"
DAY_URL = "https://en.wikipedia.org/wiki/Portal:Current_events/2017_March_2"
HTML = "text/html; charset=UTF-8"
START = datetime(2026, 1, 1, tzinfo=UTC)
MARCH_2 = date(2017, 3, 2)


def page(text: str, url: str = DAY_URL) -> Page:
    return Page(url, text, text.encode("utf-8"), HTML)


def fixture_page(path: Path) -> Page:
    expected = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
    return page(path.read_text(encoding="utf-8"), expected["page_url"])


def day_block(content: str, heading: str | None = None, day_id: str = "2017_March_2") -> str:
    """One day block as the template renders it, around ``content``."""
    if heading is None:
        heading = (
            '<span class="summary">March&#160;2,&#160;2017<span style="display:none">&#160;('
            '<span class="bday dtstart published updated itvstart">2017-03-02</span>)</span>'
            " (Thursday)</span>"
        )
    return (
        f'<div role="region" id="{day_id}" class="current-events-main vevent">'
        '<div class="current-events-heading plainlinks">'
        f'<div class="current-events-title" role="heading">{heading}</div></div>'
        f'<div class="current-events-content description">{content}</div></div>'
    )


def html_page(body: str, title: str = "Portal:Current events/2017 March 2 - Wikipedia") -> str:
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="UTF-8"><title>{title}</title>'
        '</head><body><div class="mw-content-ltr mw-parser-output">'
        f"{body}</div></body></html>"
    )


def source(name: str, url: str) -> str:
    return f'<a rel="nofollow" class="external text" href="{url}">({name})</a>'


def parse(content: str, **kwargs: str) -> list[Observation]:
    return parse_wikipedia(page(html_page(day_block(content, **kwargs))))


# --- parse_wikipedia on the fixtures ----------------------------------------------------------


@pytest.mark.parametrize("path", PAGES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_fixture_gives_its_expected_observations(path: Path) -> None:
    expected = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
    observations = parse_wikipedia(fixture_page(path))
    got = [
        asdict(obs) | {"event_date": obs.event_date and obs.event_date.isoformat()}
        for obs in observations
    ]
    assert got == expected["observations"]


def test_day_page_fields_in_detail() -> None:
    palmyra, manbij, mosul, snap, ulster, sessions = parse_wikipedia(fixture_page(DAY / "1.html"))
    assert palmyra == Observation(
        url=None,
        headline=(
            "The Syrian Army, supported by Russian airstrikes, retakes the ancient city of "
            "Palmyra from ISIL for the second time in a year."
        ),
        category="Syrian Civil War › Palmyra offensive (2017)",
        tags=["Armed conflicts and attacks"],
        sources=[
            "Reuters <https://www.reuters.example/article/"
            "us-mideast-crisis-syria-palmyra-idUSKBN1692BZ>"
        ],
        event_date=MARCH_2,
    )
    # A citation written around the link, "(<a>Al Jazeera</a>)", is taken out as well.
    assert manbij.headline is not None and manbij.headline.endswith("Syrian Democratic Forces.")
    assert manbij.sources == [
        "Al Jazeera <https://www.aljazeera.example/news/2017/03/turkey-backed-rebels-manbij-"
        "170302.html>"
    ]
    # A topic of two links is one level of the path; a protocol-relative source is https.
    assert mosul.category == "Iraqi Civil War (2014–2017), Battle of Mosul (2016–2017)"
    assert mosul.sources == [
        "BBC News <https://www.bbc.example/news/world-middle-east-39140012>",
        "Reuters <https://www.reuters.example/article/us-mideast-crisis-iraq-mosul-idUSKBN16919D>",
    ]
    # A news bullet at the top of its section has no topic; &#160; is a plain space.
    assert (snap.category, snap.tags) == (None, ["Business and economy"])
    assert snap.headline is not None and "rise 44 percent on" in snap.headline
    assert ulster.tags == ["Politics and elections"]
    # "(<i>The New York Times</i>) " inside the link: the name without markup or brackets.
    assert sessions.sources is not None
    assert sessions.sources[1].startswith("The New York Times <https://www.nytimes.example/")
    for obs in (palmyra, manbij, mosul, snap, ulster, sessions):
        assert (obs.url, obs.guid, obs.summary, obs.body, obs.history) == (
            None,
            None,
            None,
            None,
            [],
        )
        assert obs.event_date == MARCH_2


def test_front_page_days_and_citations() -> None:
    observations = parse_wikipedia(fixture_page(WIKIPEDIA / "front" / "portal.html"))
    # Only the day blocks: the sidebars (topics in the news, ongoing, deaths) give nothing.
    assert [o.event_date for o in observations] == [
        date(2017, 3, 2),
        date(2017, 3, 2),
        date(2017, 3, 1),
        date(2017, 3, 1),
        date(2017, 2, 28),
        date(2017, 2, 28),
    ]
    kabul, fossils, tornado = observations[2], observations[3], observations[4]
    # A citation after each sentence: both taken out of the text, both sources kept.
    assert kabul.headline == (
        "Taliban suicide bombers and gunmen attack two security buildings in Kabul, killing at "
        "least 16 people. The Taliban claim responsibility for both attacks."
    )
    assert kabul.sources is not None and [s.split(" <")[0] for s in kabul.sources] == [
        "Reuters",
        "Al Jazeera",
    ]
    assert fossils.headline is not None and fossils.headline.startswith(
        "Scientists report in Nature"
    )
    # Two sources in one parenthesis: "(<a>CNN</a>, <a>AP</a>)".
    assert tornado.headline == (
        "A tornado outbreak strikes the Midwestern United States, killing at least three people "
        "in Illinois and Missouri."
    )
    assert tornado.sources is not None and [s.split(" <")[0] for s in tornado.sources] == [
        "CNN",
        "AP",
    ]
    assert [o.tags for o in observations[4:]] == [
        ["Disasters and accidents"],
        ["Politics and elections"],
    ]


# --- parsing rules ----------------------------------------------------------------------------


def test_topics_nest_and_sections_follow_headers() -> None:
    content = (
        "<ul><li>Before any header. " + source("AP", "https://ap.example/0") + "</li></ul>"
        "<dl><dt>Law and crime</dt></dl>"
        '<ul><li><a href="/wiki/A">Topic A</a> and <a href="/wiki/B">Topic B</a>'
        '<ul><li><a href="/wiki/C">Sub C</a><ul>'
        "<li>Deep news. " + source("AP", "https://ap.example/1") + "</li></ul></li>"
        "<li>Under A and B. " + source("AP", "https://ap.example/2") + "</li></ul></li>"
        "<li>Back at the top. " + source("AP", "https://ap.example/3") + "</li></ul>"
        '<h3><span class="mw-headline">Sports</span></h3>'
        "<ul><li>Unlinked topic<ul><li>Under plain text. "
        + source("AP", "https://ap.example/4")
        + "</li></ul></li></ul>"
    )
    observations = parse(content)
    assert [(o.headline, o.category, o.tags) for o in observations] == [
        ("Before any header.", None, None),
        ("Deep news.", "Topic A and Topic B › Sub C", ["Law and crime"]),
        ("Under A and B.", "Topic A and Topic B", ["Law and crime"]),
        ("Back at the top.", None, ["Law and crime"]),
        ("Under plain text.", "Unlinked topic", ["Sports"]),
    ]


def test_what_counts_as_a_news_bullet() -> None:
    content = (
        "<p><b>Politics and elections</b></p><ul>"
        # A bare topic with nothing under it is no news.
        '<li><a href="/wiki/Lonely_topic">Lonely topic</a></li>'
        # A sentence without a source is news, with sources unknown.
        '<li>The <a href="/wiki/Parliament">parliament</a> is dissolved.</li>'
        # A cited bullet with sub-bullets is news; its sub-bullets keep its topic path.
        '<li><a href="/wiki/Topic">Topic</a><ul>'
        "<li>Cited lead. " + source("BBC", "https://bbc.example/1") + "<ul>"
        "<li>Follow-up detail. " + source("BBC", "https://bbc.example/2") + "</li></ul></li>"
        "</ul></li>"
        # An empty bullet is nothing.
        "<li> </li></ul>"
    )
    observations = parse(content)
    assert [(o.headline, o.category, o.sources) for o in observations] == [
        ("The parliament is dissolved.", None, None),
        ("Cited lead.", "Topic", ["BBC <https://bbc.example/1>"]),
        ("Follow-up detail.", "Topic", ["BBC <https://bbc.example/2>"]),
    ]


def test_links_that_are_and_are_not_sources() -> None:
    content = (
        "<ul><li>A <a href='https://www.gov.example/report' class='external text' rel='nofollow'>"
        "government report</a> is published, <a href='https://fr.wikipedia.org/wiki/X' "
        "class='extiw'>in French</a> too, see <a href='https://en.wikipedia.org/wiki/Y'>Y</a>"
        "<sup class='reference'><a href='#cite_note-1'>[1]</a></sup>. "
        + source("Le Monde", "http://lemonde.example/a")
        + " "
        + source("Le Monde", "http://lemonde.example/a")
        + " <a class='external text' href=''>(Nowhere)</a>"
        "</li></ul>"
    )
    [obs] = parse(content)
    # An unbracketed external link is part of the sentence, and still a source.
    assert obs.headline == "A government report is published, in French too, see Y."
    assert obs.sources == [
        "government report <https://www.gov.example/report>",
        "Le Monde <http://lemonde.example/a>",
    ]


def test_the_day_comes_from_the_heading_the_id_or_the_page() -> None:
    item = "<ul><li>News. " + source("AP", "https://ap.example/1") + "</li></ul>"
    summary_only = '<span class="summary">March 5, 2017 (Sunday)</span>'
    assert parse(item, heading=summary_only)[0].event_date == date(2017, 3, 5)
    assert parse(item, heading="", day_id="2017_March_6")[0].event_date == date(2017, 3, 6)
    # A bare content block: the page title or URL gives the day when there is one block.
    bare = f'<div class="current-events-content description">{item}</div>'
    assert parse_wikipedia(page(html_page(bare)))[0].event_date == MARCH_2
    on_title = html_page(bare, title="Portal:Current events/2017 March 3 - Wikipedia")
    assert parse_wikipedia(page(on_title, "https://x.example/"))[0].event_date == date(2017, 3, 3)
    untitled = html_page(bare, title="Untitled")
    on_url = page(untitled, "https://en.wikipedia.org/wiki/Portal:Current_events/2017_April_7")
    assert parse_wikipedia(on_url)[0].event_date == date(2017, 4, 7)
    assert parse_wikipedia(page(untitled, "https://x.example/"))[0].event_date is None
    # Two bare blocks cannot share a page's date; each block keeps to its own heading.
    two = page(html_page(bare + bare))
    assert [o.event_date for o in parse_wikipedia(two)] == [None, None]
    days = day_block(item, day_id="2017_March_2") + day_block(item, heading="", day_id="x")
    assert [o.event_date for o in parse_wikipedia(page(html_page(days)))] == [MARCH_2, None]


def test_a_day_without_news_gives_nothing() -> None:
    assert parse("<p><b>Armed conflicts and attacks</b></p><ul></ul>") == []


# --- hostile and unrelated input --------------------------------------------------------------


def test_markup_in_a_bullet_becomes_plain_text_or_is_dropped() -> None:
    content = (
        "<ul><li>Officials <script>alert('x')</script>say &lt;script&gt;alert(1)&lt;/script&gt; "
        "is <style>li{}</style><b>harmless</b>\x01\x1f text"
        "<img src=x onerror=alert(1)>. "
        "<a class='external text' href='javascript:alert(1)'>(Evil)</a> "
        "<a class='external text' href='http://[broken'>(Broken)</a> "
        "<a class='external text' href='data:text/html,hi'>(Data)</a> "
        + source("AP", "https://ap.example/ok")
        + "</li></ul>"
    )
    [obs] = parse(content)
    assert obs.headline == "Officials say <script>alert(1)</script> is harmless text."
    assert obs.sources == ["AP <https://ap.example/ok>"]
    assert not any("alert('x')" in value or "li{}" in value for value in text_fields([obs]))
    # A NUL is no character of HTML: the parser makes it U+FFFD, never a control character.
    [nul] = parse("<ul><li>Before\x00after.</li></ul>")
    assert nul.headline is not None and "\x00" not in nul.headline


def test_deep_and_large_pages_are_read_quickly() -> None:
    deep = "<ul><li>Topic" * 400 + "<ul><li>Deep news. " + source("AP", "https://ap.example/")
    started = time.monotonic()
    with contextlib.suppress(ExtractError):  # libxml2 caps nesting; either way, no crash
        parse(deep)
    many = "<ul>" + "".join(
        f"<li>News number {i}. " + source("AP", f"https://ap.example/{i}") + "</li>"
        for i in range(5000)
    )
    assert len(parse(many)) == 5000
    assert time.monotonic() - started < 10


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "hello world",
        "\x00\x01\x02 binary \xff",
        "<html><head><title>Home</title></head><body><ul><li>Not news</li></ul></body></html>",
        '<html><body><a href="https://en.wikipedia.org/wiki/Portal:Current_events">Current '
        "events</a></body></html>",
        html_page("<p>No day blocks here.</p>"),
    ],
    ids=["empty", "blank", "text", "binary", "html", "link-to-portal", "portal-title-only"],
)
def test_what_is_not_a_day_page_is_an_extract_error(text: str) -> None:
    with pytest.raises(ExtractError) as raised:
        parse_wikipedia(page(text))
    message = str(raised.value)
    assert message.startswith(f"not a Wikipedia Current Events page at {DAY_URL}: ")
    assert "\n" not in message


def test_other_formats_are_extract_errors() -> None:
    for text in (
        offstream_page("seeds/000_0c411d6d2d5ef8ba.txt"),
        (FIXTURES / "feeds" / "rss2" / "1.xml").read_text(encoding="utf-8"),
    ):
        with pytest.raises(ExtractError):
            parse_wikipedia(page(text))


def test_nothing_is_fetched(site: Site) -> None:
    link = site.url("/evil")
    content = (
        f"<ul><li>News <img src='{link}'> <iframe src='{link}'></iframe>"
        f"<link rel='stylesheet' href='{link}'>. " + source("AP", link) + "</li></ul>"
    )
    [obs] = parse(content)
    assert obs.sources == [f"AP <{link}>"]
    assert site.requests == []


# --- sniffing and dispatch --------------------------------------------------------------------


@pytest.mark.parametrize("path", PAGES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_fixture_is_sniffed_and_read_by_auto(path: Path) -> None:
    fixture = fixture_page(path)
    assert is_wikipedia_current_events(fixture)
    kind, observations = extract("auto", fixture)
    assert kind == "wikipedia" and observations == parse_wikipedia(fixture)


@pytest.mark.parametrize(
    "text",
    [
        "",
        offstream_page("seeds/000_0c411d6d2d5ef8ba.txt"),
        (FIXTURES / "feeds" / "rss2" / "1.xml").read_text(encoding="utf-8"),
        "<!DOCTYPE html><html><head><title>Storm closes harbour - News</title></head><body>"
        "<article><h1>Storm closes harbour</h1><p>The harbour was closed on Monday.</p>"
        '<p>See also <a href="https://en.wikipedia.org/wiki/Portal:Current_events">current '
        "events</a>.</p></article></body></html>",
    ],
    ids=["empty", "offstream-markdown", "rss", "html-article"],
)
def test_other_pages_are_not_sniffed(text: str) -> None:
    assert not is_wikipedia_current_events(page(text))


def test_extract_by_kind_and_the_auto_error_names_the_format() -> None:
    day = fixture_page(DAY / "1.html")
    assert extract("wikipedia", day)[0] == "wikipedia"
    with pytest.raises(ExtractError, match="Wikipedia Current Events day pages"):
        extract("auto", Page(DAY_URL, "hello world"))  # no content type: no format claims it


# --- end to end: a day page on the local site, checked and edited -----------------------------


def add(engine: Engine, url: str) -> int:
    with transaction(engine) as session:
        added, _ = add_source(session, url, kind="auto")
        assert added.id is not None
        return added.id


def check_all(engine: Engine, when: datetime) -> dict[str, str]:
    return {r.url: r.outcome for r in check_round(engine, now=when, all_sources=True)}


def by_headline(engine: Engine) -> dict[str, tuple[Item, list[Version], list[Change]]]:
    """Every item, keyed by the headline it had first, with its versions and changes."""
    with transaction(engine) as session:
        tracked = {}
        for item in queries.all_items(session):
            assert item.id is not None
            versions = list(queries.versions_of(session, item.id))
            first = versions[0].headline
            assert first is not None
            tracked[first] = (item, versions, list(queries.changes_of(session, item.id)))
        return tracked


def find(tracked: dict, start: str) -> tuple[Item, list[Version], list[Change]]:
    [match] = [value for headline, value in tracked.items() if headline.startswith(start)]
    return match


def publish_state(site: Site, path: str, state: int) -> str:
    return site.publish(path, (DAY / f"{state}.html").read_text(encoding="utf-8"), HTML)


def test_a_day_page_is_tracked_bullet_by_bullet_through_its_edits(
    site: Site, engine: Engine
) -> None:
    path = "/wiki/Portal:Current_events/2017_March_2"
    url = publish_state(site, path, 1)
    source_id = add(engine, url)
    assert check_all(engine, START) == {url: "changed"}
    with transaction(engine) as session:
        added = session.get(Source, source_id)
        assert added is not None and added.kind == "wikipedia"
    first = by_headline(engine)
    assert len(first) == 6
    assert all(len(versions) == 1 for _, versions, _ in first.values())
    assert all(item.event_date == MARCH_2 for item, _, _ in first.values())
    _, [palmyra_v1], _ = find(first, "The Syrian Army")
    assert palmyra_v1.category == "Syrian Civil War › Palmyra offensive (2017)"
    assert palmyra_v1.tags == ["Armed conflicts and attacks"]
    assert palmyra_v1.sources == [
        "Reuters <https://www.reuters.example/article/us-mideast-crisis-syria-palmyra-idUSKBN1692BZ>"
    ]

    # State 2: wording edited, a bullet moved, a source added, a bullet added.
    publish_state(site, path, 2)
    assert check_all(engine, START + timedelta(hours=1)) == {url: "changed"}
    second = by_headline(engine)

    # identity by source link: see tracker/identity/match.py
    # Bullets have no URL or guid; they are followed by their source links, so the
    # reworded Palmyra bullet (same Reuters link) is the same item, edited.
    assert len(second) == 7
    palmyra, palmyra_versions, palmyra_changes = second[palmyra_v1.headline or ""]
    assert [v.headline for v in palmyra_versions] == [
        palmyra_v1.headline,
        "The Syrian Army, backed by Russian airstrikes, recaptures the ancient city of Palmyra "
        "from ISIL, the second time in a year that the city has changed hands.",
    ]
    assert [c.kind for c in palmyra_changes] == ["created", "edited"]
    assert palmyra_changes[-1].fields == ["headline"] and palmyra.removed_at is None
    assert palmyra.headline == palmyra_versions[-1].headline
    with transaction(engine) as session:
        assert len(session.exec(select(Version)).all()) == 10

    _, manbij_versions, manbij_changes = find(second, "Turkish-backed rebel groups")
    assert [v.category for v in manbij_versions] == [
        "Syrian Civil War › Turkish military intervention in Syria",
        "Syrian Civil War › Manbij offensive (March 2017)",
    ]
    assert manbij_changes[-1].kind == "edited" and manbij_changes[-1].fields == ["category"]

    _, ulster_versions, ulster_changes = find(second, "Voters in Northern Ireland")
    assert [len(v.sources or []) for v in ulster_versions] == [1, 2]
    assert ulster_changes[-1].fields == ["sources"]

    bridge, bridge_versions, bridge_changes = find(second, "The Iraqi Army says")
    assert [c.kind for c in bridge_changes] == ["created"] and len(bridge_versions) == 1
    assert bridge.event_date == MARCH_2
    for unchanged in ("Iraqi forces advance", "Shares of Snap", "United States Attorney"):
        assert len(find(second, unchanged)[1]) == 1, unchanged

    # State 3: the Sessions bullet is removed; nothing else changes.
    publish_state(site, path, 3)
    assert check_all(engine, START + timedelta(hours=2)) == {url: "changed"}
    third = by_headline(engine)
    assert len(third) == 7
    sessions, _, sessions_changes = find(third, "United States Attorney")
    assert sessions.removed_at == START + timedelta(hours=2)
    assert [c.kind for c in sessions_changes] == ["created", "removed"]
    with transaction(engine) as session:
        assert len(session.exec(select(Version)).all()) == 10
    removed = [item for item, _, _ in third.values() if item.removed_at is not None]
    assert removed == [sessions]

    # The same state again: 304, nothing new.
    assert check_all(engine, START + timedelta(hours=3)) == {url: "not_modified"}


def test_the_front_page_is_tracked_with_each_bullets_day(site: Site, engine: Engine) -> None:
    text = (WIKIPEDIA / "front" / "portal.html").read_text(encoding="utf-8")
    url = site.publish("/wiki/Portal:Current_events", text, HTML)
    add(engine, url)
    assert check_all(engine, START) == {url: "changed"}
    tracked = by_headline(engine)
    assert len(tracked) == 6
    days = sorted(item.event_date for item, _, _ in tracked.values() if item.event_date)
    assert days == [date(2017, 2, 28)] * 2 + [date(2017, 3, 1)] * 2 + [date(2017, 3, 2)] * 2
    # Re-rendered with other whitespace and a new footer: no edit of any bullet.
    retouched = text.replace("at 02:20", "at 03:40").replace("</li>\n<li>", "</li>  <li>")
    site.publish("/wiki/Portal:Current_events", retouched, HTML)
    assert check_all(engine, START + timedelta(hours=1)) == {url: "unchanged"}
