"""Classes on the pages: the front page's ?kind= filter and the item page's timeline strip,
over changes the real tracker recorded and graded (test_http_pages.fill, recorded.py)."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from feeds import feed_query, timeline
from feeds.app import create_app
from feeds.settings import ServiceSettings
from storage import Change, queries, transaction

from .conftest import Site, filled_per_module
from .recorded import FLOODS_CLASSES, FLOODS_HEADLINES, record_floods
from .test_http_pages import HOSTILE, Filled, fill


@dataclass(frozen=True)
class Recorded:
    filled: Filled
    floods: int
    changes: list[Change]  # every change recorded, oldest first


@pytest.fixture
def recorded(filled_database: tuple[str, Recorded]) -> Recorded:
    """What the filled database holds (the test's db_url is a copy of it)."""
    return filled_database[1]


def record(site: Site, engine: Engine) -> Recorded:
    filled = fill(site, engine)
    floods = record_floods(engine)
    with transaction(engine) as session:
        changes = list(reversed(queries.changes_before(session, feed_query.FEED_KINDS, 1000)))
        session.expunge_all()
    return Recorded(filled, floods, changes)


filled_database, db_url = filled_per_module("classes", record, {"recorded"})


@pytest.fixture
def client(engine: Engine) -> TestClient:
    return TestClient(create_app(engine, ServiceSettings(page_size=50)))


def wanted(changes: list[Change], kind: str) -> list[int]:
    """The ids ?kind= should list, newest first, as the README defines each kind."""
    edits = [c for c in changes if c.kind in ("edited", "headline_test")]
    keep = {
        "editorial": [c for c in edits if c.classification in ("substantive", "rewording", None)],
        "all": edits,
        "substantive": [c for c in edits if c.classification == "substantive"],
        "rewording": [c for c in edits if c.classification == "rewording"],
        "style": [c for c in edits if c.classification == "style"],
        "minor": [c for c in edits if c.classification == "style"],
        "listing": [c for c in changes if c.kind in ("removed", "restored")],
    }[kind]
    return sorted((c.id for c in keep if c.id is not None), reverse=True)


def listed(page: str) -> list[int]:
    return [int(i) for i in re.findall(r'<li id="change-(\d+)">', page)]


@pytest.mark.parametrize("kind", feed_query.KINDS)
def test_front_page_filters_by_class_as_the_feed_does(
    client: TestClient, recorded: Recorded, kind: str
) -> None:
    response = client.get("/", params={"kind": kind})
    assert response.status_code == 200
    ids = listed(response.text)
    assert ids == wanted(recorded.changes, kind)
    assert ids, kind  # every kind has changes in this database
    # The page and the edits feed of that kind list the same changes.
    feed = client.get("/feeds/edits.atom", params={"kind": kind})
    assert [int(i) for i in re.findall(r":change/(\d+)</id>", feed.text)] == ids


def test_front_page_defaults_to_the_edits_feeds_default(
    client: TestClient, recorded: Recorded
) -> None:
    page = client.get("/").text
    assert listed(page) == wanted(recorded.changes, "editorial")
    # Style edits only with kind=all or style: the floods item has two.
    style = wanted(recorded.changes, "style")
    assert len(style) == 2 and not set(style) & set(listed(page))
    assert 'data-kind="editorial" aria-current="true"' in page


def test_front_page_links_to_every_class(client: TestClient, recorded: Recorded) -> None:
    page = client.get("/", params={"kind": "substantive"}).text
    links = dict(re.findall(r'<a href="([^"]+)" data-kind="(\w+)"', page))
    assert sorted(links.values()) == sorted(k for k in feed_query.KINDS if k != "minor")
    for href, kind in links.items():
        assert href == f"/?kind={kind}"
        assert listed(client.get(href).text) == wanted(recorded.changes, kind)
    assert re.findall(r'data-kind="(\w+)" aria-current="true"', page) == ["substantive"]
    minor = client.get("/", params={"kind": "minor"}).text  # the old name of style
    assert re.findall(r'data-kind="(\w+)" aria-current="true"', minor) == ["style"]
    assert 'href="/feeds/edits.atom?kind=substantive"' in page
    assert "Showing substantive edits only." in page


@pytest.mark.parametrize("kind", ["style", "editorial", "listing"])
def test_older_pages_keep_the_class(engine: Engine, recorded: Recorded, kind: str) -> None:
    client = TestClient(create_app(engine, ServiceSettings(page_size=1)))
    link, seen = f"/?kind={kind}", []
    while link:
        page = client.get(link)
        assert page.status_code == 200
        seen += listed(page.text)
        if "before=" in link:
            assert f'<a href="/?kind={kind}">« Newest</a>' in page.text
        found = re.search(r'<a href="([^"]+)" rel="next">', page.text)
        link = html.unescape(found[1]) if found else ""
        assert not link or link.startswith(f"/?kind={kind}&before=")
    assert seen == wanted(recorded.changes, kind) and len(seen) >= 2


@pytest.mark.parametrize("kind", ["nonsense", "<b>x</b>", "STYLE", "created", "x" * 500])
def test_an_unknown_kind_is_a_400_with_one_line(
    client: TestClient, recorded: Recorded, kind: str
) -> None:
    response = client.get("/", params={"kind": kind})
    assert response.status_code == 400
    [message] = re.findall(r'<p class="error" role="alert">([^<\n]*)</p>', response.text)
    assert message.startswith("unknown kind &#39;")
    assert message.endswith("one of " + ", ".join(feed_query.KINDS))
    assert "<b>x" not in response.text and len(message) < 200
    # With a bad before too, still a 400, never a 500.
    assert client.get("/", params={"kind": kind, "before": "x"}).status_code == 400


def test_an_empty_class_says_so(client: TestClient, engine: Engine) -> None:
    record_floods(engine)
    page = client.get("/", params={"kind": "listing"}).text
    assert listed(page) == []
    assert "No removals or restorations recorded yet" in page
    assert "No substantive edits" not in client.get("/", params={"kind": "substantive"}).text


# The item page


def strip_marks(page: str) -> list[dict[str, str]]:
    svg = page.split('<svg class="strip"')[1].split("</svg>")[0]
    return [
        {"href": href, "count": count, "tone": tone, "title": html.unescape(title)}
        for href, count, tone, title in re.findall(
            r'<a class="mark" href="([^"]+)" data-count="(\d+)" data-tone="(\w+)">'
            r"<title>([^<]*)</title>",
            svg,
        )
    ]


def test_item_page_strip_has_a_mark_per_change_coloured_by_class(
    client: TestClient, recorded: Recorded
) -> None:
    page = client.get(f"/items/{recorded.floods}").text
    marks = strip_marks(page)
    tones = [cls or "other" for cls in FLOODS_CLASSES]
    assert [m["tone"] for m in marks] == tones
    assert [m["href"] for m in marks] == [f"#v{n}" for n in range(1, 6)]
    assert all(m["count"] == "1" for m in marks)
    for mark, headline in zip(marks, FLOODS_HEADLINES, strict=True):
        assert mark["title"].startswith("2026-03-01 ")
        assert f"“{headline}”" in mark["title"]
    assert "substantive edit: version 2: headline: number changed: 8 → 12" in marks[1]["title"]
    # Every anchor is an element of the page.
    for mark in marks:
        assert f'id="{mark["href"][1:]}"' in page
    # Each colour in the marks is the tone's; the legend names them in words, with counts.
    for tone in ("substantive", "style", "rewording", "other"):
        colour = timeline.TONE_BY_NAME[tone].colour
        assert f'class="tone-{tone}"' in page and f'fill="{colour}"' in page
    legend = re.findall(r'<li class="tone-(\w+)">.*?</svg> ([^<]+)</li>', page)
    assert legend == [
        ("substantive", "substantive edit (1)"),
        ("rewording", "rewording (1)"),
        ("style", "style or minor edit (2)"),
        ("other", "first version or other (1)"),
    ]


def test_item_page_shows_each_versions_class_score_and_reasons(
    client: TestClient, recorded: Recorded
) -> None:
    page = client.get(f"/items/{recorded.floods}").text
    rows = {int(n): row for n, row in re.findall(r'<tr id="v(\d+)">(.*?)</tr>', page, re.S)}
    assert 'badge substantive">substantive</span>' in rows[2]
    assert re.search(r"score 0\.\d\d", rows[2])
    assert "<li>headline: number changed: 8 → 12</li>" in rows[2]
    assert 'badge style">style</span>' in rows[3] and "<li>headline: dashes</li>" in rows[3]
    assert 'badge rewording">rewording</span>' in rows[4]
    assert "<li>headline: case</li>" in rows[5]
    assert "badge created" in rows[1] and "score" not in rows[1]  # no class, no score


def test_item_page_strip_links_removals_to_their_lines(
    client: TestClient, recorded: Recorded
) -> None:
    page = client.get(f"/items/{recorded.filled.youtube}").text
    marks = strip_marks(page)
    assert [m["tone"] for m in marks] == ["other", "listing", "listing"]
    assert marks[0]["href"] == "#v1"
    for mark in marks[1:]:
        assert re.fullmatch(r"#change-\d+", mark["href"])
        assert f'<li id="{mark["href"][1:]}">' in page
    assert "no longer listed by its source" in marks[1]["title"]
    assert "listed by its source again" in marks[2]["title"]


def test_item_page_strip_escapes_a_hostile_headline(client: TestClient, recorded: Recorded) -> None:
    page = client.get(f"/items/{recorded.filled.hostile}").text
    svg = page.split('<svg class="strip"')[1].split("</svg>")[0]
    assert "<script>" not in svg and "<img" not in svg
    titles = [m["title"] for m in strip_marks(page)]
    assert titles and any(HOSTILE in title for title in titles)
