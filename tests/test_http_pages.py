"""The HTML pages (/, /items/{id}, /sources) over a database filled by the real tracker.

The database is filled by replaying Offstream corpus pages from a local site through
check_round, as the daemon would: edits, URL changes, an item leaving and rejoining a day
index, a failing source and a page whose headline is hostile HTML.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from feeds.app import create_app
from feeds.pages import CONTENT_SECURITY_POLICY, SWITCH_SCRIPT, SWITCH_SCRIPT_HASH
from feeds.settings import ServiceSettings
from storage import queries, transaction
from tracker.run.rounds import check_round
from tracker.run.sources import add_source

from .conftest import Site, filled_per_module, manifest_snapshots, offstream_page

START = datetime(2026, 1, 1, tzinfo=UTC)
HOSTILE = "<script>alert(1)</script><img src=x onerror=alert(2)>"
KHANASIR_PATH = "/news/2016/02/25/khanasir.md"
KHANASIR_HEADLINE = "The Syrian Army, backed by Russian airstrikes, recaptures the town of Khanasir"
BOAT_FIRST = "A boat capsizes in the north of Indonesian Borneo, with at least 8 people dead."
BOAT_LAST = "A boat capsizes in the north of Indonesian Borneo, leaving at least eight people dead."


@dataclass(frozen=True)
class Filled:
    """Item ids and URLs of the filled database."""

    boat: int
    nunes: int
    youtube: int
    hostile: int
    broken_url: str


def fill(site: Site, engine: Engine) -> Filled:
    """Four rounds of checks at START, START+1h, ...: the boat and Nunes memo pages are
    edited and moved, YouTube leaves the day index and comes back, the Khanasir page's
    headline gains hostile HTML, and one source answers 500 throughout."""
    chains = [manifest_snapshots(c) for c in ("boat-borneo-2018-01-01", "nunes-memo-2018-02-02")]
    day, _ = manifest_snapshots("day-index-2018-02-02")
    index = offstream_page(day["file"])
    youtube = index.index("##### History of YouTube")
    without_youtube = index[:youtube] + index[index.index("#####", youtube + 5) :]
    khanasir = offstream_page("seeds/001_d715acd15c94cb49.txt")
    hostile = khanasir.replace(f"# {KHANASIR_HEADLINE}", f"# {HOSTILE} {KHANASIR_HEADLINE}", 1)
    assert hostile != khanasir

    urls = [site.url(chain[0]["url"]) for chain in chains]
    urls += [site.url(day["url"]), site.url(KHANASIR_PATH), site.fail("/news/broken.md", 500)]
    with transaction(engine) as session:
        source_ids = [add_source(session, url)[0].id for url in urls]

    current: list[str | None] = [None] * len(chains)
    for step in range(4):
        for number, chain in enumerate(chains):
            snapshot = chain[step]
            if current[number] and current[number] != snapshot["url"]:
                site.move(str(current[number]), snapshot["url"])
            current[number] = snapshot["url"]
            site.publish(snapshot["url"], offstream_page(snapshot["file"]))
        site.publish(day["url"], index if step in (0, 3) else without_youtube)
        site.publish(KHANASIR_PATH, khanasir if step == 0 else hostile)
        check_round(engine, now=START + timedelta(hours=step), all_sources=True)

    with transaction(engine) as session:
        items = [
            (item.source_id, item.headline or "", item.id) for item in queries.all_items(session)
        ]

    def item_id(source_number: int, words: str) -> int:
        [found] = [i for s, h, i in items if s == source_ids[source_number] and words in h]
        assert found is not None
        return found

    return Filled(
        boat=item_id(0, "Indonesian Borneo"),
        nunes=item_id(1, "Nunes memo"),
        youtube=item_id(2, "YouTube"),
        hostile=item_id(3, "Khanasir"),
        broken_url=urls[-1],
    )


filled_database, db_url = filled_per_module("pages", fill, {"filled"})


@pytest.fixture
def filled(filled_database: tuple[str, Filled]) -> Filled:
    """The filled database's ids and URLs (the test's db_url is a copy of it)."""
    return filled_database[1]


@pytest.fixture
def client(engine: Engine) -> TestClient:
    return TestClient(create_app(engine, ServiceSettings(page_size=50)))


def html_text(page: str) -> str:
    """The page's text as a reader sees it: tags dropped, entities kept (escaped)."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]*>", " ", page))


def marked(tag: str, text: str) -> str:
    """A pattern for an inline diff's <del>/<ins> with its visible markers."""
    start, end = ("\\[−", "−\\]") if tag == "del" else ("\\[\\+", "\\+\\]")
    mark = '<span class="mark">{}</span>'
    return f"<{tag} [^>]*>{mark.format(start)}{text}{mark.format(end)}</{tag}>"


def test_front_page_lists_edits_newest_first_with_their_diffs(
    client: TestClient, filled: Filled
) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    page = response.text
    assert f'href="/items/{filled.boat}"' in page
    assert BOAT_LAST in page
    # The stored diffs inline: "with" → "leaving", then "8" → "eight".
    assert re.search(marked("del", "with") + marked("ins", "leaving"), page)
    assert re.search(marked("del", "8") + marked("ins", "eight"), page)
    assert "[−8−][+eight+]" in html_text(page).replace(" ", "")  # read without colour
    # Newest first: the last round's edits come before the first round's.
    assert page.index("eight<span") < page.index("leaving<span")
    # By default (kind=editorial, as the edits feed) edits, not removals and restorations;
    # creations never.
    assert "badge removed" not in page and "badge restored" not in page
    assert "badge created" not in page
    listing = client.get("/", params={"kind": "listing"}).text
    assert "badge removed" in listing and "badge restored" in listing
    assert "badge rewording" not in listing
    # Each edit's class and its reasons: "8" -> "eight" is style (a spelled-out number),
    # and the category the page shows from then on makes the change rewording, not
    # "substantive, 0 % similar".
    assert 'badge rewording">rewording</span>' in page
    assert "<li>headline: spelled-out number</li><li>category: added</li>" in page
    # Feeds are announced and the header links everywhere.
    assert '<link rel="alternate" type="application/atom+xml"' in page
    for href in ("/", "/sources", "/feeds/edits.atom", "/docs"):
        assert f'href="{href}"' in page
    assert 'name="q"' in page


def test_front_page_pages_with_before(engine: Engine, filled: Filled) -> None:
    client = TestClient(create_app(engine, ServiceSettings(page_size=2)))
    first = client.get("/")
    ids = [int(i) for i in re.findall(r'id="change-(\d+)"', first.text)]
    assert len(ids) == 2 and ids[0] > ids[1]
    older = re.search(r'href="(/\?before=(\d+))" rel="next"', first.text)
    assert older and int(older[2]) == ids[-1]

    seen = list(ids)
    link = older[1]
    while link:
        page = client.get(link)
        assert page.status_code == 200
        page_ids = [int(i) for i in re.findall(r'id="change-(\d+)"', page.text)]
        assert page_ids and max(page_ids) < min(seen)
        seen += page_ids
        found = re.search(r'href="(/\?before=\d+)" rel="next"', page.text)
        link = found[1] if found else ""
    with transaction(engine) as session:
        edits = queries.changes_before(session, ["edited", "headline_test"], 99)
        all_ids = [c.id for c in edits if c.classification in ("substantive", "rewording")]
    assert len(all_ids) > 4 and seen == all_ids


def test_front_page_rejects_a_bad_before(client: TestClient, filled: Filled) -> None:
    response = client.get("/", params={"before": "x<b>"})
    assert response.status_code == 400
    assert "not a change id" in response.text
    assert "<b>" not in response.text
    assert client.get("/", params={"before": "1"}).status_code == 200


def test_search_finds_items_by_current_headline(client: TestClient, filled: Filled) -> None:
    response = client.get("/", params={"q": "  indonesian BORNEO "})
    assert response.status_code == 200
    assert f'href="/items/{filled.boat}"' in response.text
    assert f'href="/items/{filled.nunes}"' not in response.text
    assert 'value="indonesian BORNEO"' in response.text
    # An earlier headline is not searched: "with at least 8" is gone from the boat item.
    assert (
        f'href="/items/{filled.boat}"' not in client.get("/", params={"q": "with at least 8"}).text
    )
    # LIKE wildcards match themselves.
    nothing = client.get("/", params={"q": "%"})
    assert nothing.status_code == 200 and "/items/" not in nothing.text.split("<h1>")[1]
    assert "No item" in client.get("/", params={"q": "zzzz-no-such-words"}).text


def test_item_page_shows_timeline_urls_and_first_to_current_diff(
    client: TestClient, filled: Filled
) -> None:
    response = client.get(f"/items/{filled.boat}")
    assert response.status_code == 200
    page = response.text
    assert f'<h1 class="headline">{BOAT_LAST}</h1>' in page
    assert f'href="/feeds/items/{filled.boat}.atom"' in page
    assert 'type="application/atom+xml"' in page
    # Every version in the timeline, and every URL the item has had.
    assert len(re.findall(r'<tr id="v\d+">', page)) == 3
    assert BOAT_FIRST in page
    for path in ("with-at-least-8", "leaving-at-least-8", "leaving-at-least-eight"):
        assert re.search(rf'<a href="http://[^"]*{path}[^"]*" rel="noopener noreferrer">', page)
    # Default comparison: first → current, in both views; inline shown, side by side hidden.
    assert "Version 1 → version 3" in page
    assert re.search(r'<div class="panel diff" id="diff-inline" data-view-panel="inline">', page)
    assert re.search(r'id="diff-side" data-view-panel="side" hidden>', page)
    inline = page.split('id="diff-inline"')[1].split('id="diff-side"')[0]
    assert re.search(marked("del", "with"), inline)
    assert re.search(marked("ins", "leaving"), inline)
    side = page.split('id="diff-side"')[1].split("</section>")[0]
    assert "<table" in side and ">Before</th>" in side and ">After</th>" in side
    # Side by side the columns say which is which: no markers there.
    assert re.search(r"<del [^>]*>with</del>", side) and 'class="mark"' not in side
    # The view switch works without JavaScript: links reload with ?view=.
    assert 'href="?from=first&amp;to=current&amp;view=side#compare" data-view="side"' in page
    assert f"<script>{SWITCH_SCRIPT}</script>" in page


def test_item_page_side_by_side_view_and_any_two_versions(
    client: TestClient, filled: Filled
) -> None:
    page = client.get(f"/items/{filled.boat}", params={"from": "2", "to": "3", "view": "side"})
    assert page.status_code == 200
    assert "Version 2 → version 3" in page.text
    assert re.search(r'id="diff-inline" data-view-panel="inline" hidden>', page.text)
    assert re.search(r'id="diff-side" data-view-panel="side">', page.text)
    assert 'data-view="side" aria-current="true"' in page.text
    side = page.text.split('id="diff-side"')[1]
    assert re.search(r"<del [^>]*>8</del>", side) and re.search(r"<ins [^>]*>eight</ins>", side)

    previous = client.get(f"/items/{filled.boat}", params={"from": "previous", "to": "current"})
    assert "Version 2 → version 3" in previous.text
    backwards = client.get(f"/items/{filled.boat}", params={"from": "3", "to": "first"})
    assert "Version 3 → version 1" in backwards.text
    same = client.get(f"/items/{filled.boat}", params={"from": "2", "to": "2"})
    assert same.status_code == 200 and "the same version" in same.text
    assert "No differences" in same.text
    # An unknown view is the inline one.
    odd = client.get(f"/items/{filled.boat}", params={"view": "<x>"})
    assert odd.status_code == 200 and 'data-view="inline" aria-current="true"' in odd.text


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"from": "7"}, "no version 7: the item has versions 1 to 3"),
        ({"to": "latest!"}, "not a version: &#39;latest!&#39;"),
        ({"from": "previous", "to": "first"}, "version 1 is the first: there is no previous one"),
        ({"from": "<script>alert(3)</script>"}, "not a version: &#39;&lt;script&gt;alert(3)"),
    ],
)
def test_item_page_compare_errors_are_messages(
    client: TestClient, filled: Filled, params: dict[str, str], message: str
) -> None:
    response = client.get(f"/items/{filled.boat}", params=params)
    assert response.status_code == 400
    assert '<p class="error" role="alert">' in response.text
    assert message in response.text
    assert "<script>alert(3)" not in response.text
    # The rest of the page is still there.
    assert len(re.findall(r'<tr id="v\d+">', response.text)) == 3


def test_item_page_of_a_removed_and_restored_item(client: TestClient, filled: Filled) -> None:
    page = client.get(f"/items/{filled.youtube}").text
    assert "badge removed" in page and "badge restored" in page
    assert "no longer listed by its source" in page
    assert "the same version" in page  # one version: first and current are one


@pytest.mark.parametrize("path", ["/items/999999", "/items/abc", "/items/-1", "/items/1%3Cb%3E"])
def test_unknown_items_are_a_404_page(client: TestClient, filled: Filled, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "No such item" in response.text
    assert "<b>" not in response.text
    assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY


def test_sources_page_shows_health(client: TestClient, filled: Filled) -> None:
    response = client.get("/sources")
    assert response.status_code == 200
    page = response.text
    assert page.count('<tr id="source-') == 5
    assert filled.broken_url in page
    assert "HTTP 500" in page
    assert "failing" in page and "status-ok" in page
    row = page.split(f"{filled.broken_url}</a>")[1].split("</tr>")[0]
    assert "<td>4</td>" in row  # four consecutive failures
    assert "2026-01-01 03:00 UTC" in page  # last check of every source


def test_a_hostile_headline_is_text_everywhere(
    client: TestClient, filled: Filled, engine: Engine
) -> None:
    escaped = "&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(2)&gt;"
    with transaction(engine) as session:
        source, _ = add_source(session, "https://example.org/feed.xml", name=HOSTILE)
        source.last_error = f"bad page: {HOSTILE}"
        session.add(source)

    pages = {
        "/": client.get("/"),
        "item": client.get(f"/items/{filled.hostile}"),
        "search": client.get("/", params={"q": "onerror"}),
        "sources": client.get("/sources"),
    }
    for name, response in pages.items():
        assert response.status_code == 200, name
        page = response.text
        assert "<script>alert" not in page, name
        assert "<img src=x" not in page, name
        assert escaped in page or "alert(1)&lt;/script&gt;" in page, name
        # No element ever carries an event handler attribute.
        assert not re.search(r"<[a-z][^>]*\son[a-z]+\s*=", page), name
        # The only script is our own.
        assert re.findall(r"<script\b", page) == (["<script"] if name == "item" else []), name
    assert f'href="/items/{filled.hostile}"' in pages["search"].text
    item = pages["item"].text
    assert f'<h1 class="headline">{escaped} {KHANASIR_HEADLINE}' in item
    # The hostile text is also an insertion in the diff, escaped inside <ins>.
    assert re.search(r"<ins [^>]*><span class=\"mark\">\[\+</span>&lt;script&gt;alert\(1\)", item)


def test_a_javascript_url_is_never_a_link(client: TestClient, engine: Engine) -> None:
    with transaction(engine) as session:
        source, _ = add_source(session, "https://example.org/a.md")
        source.url = "javascript:alert(1)"  # as if stored by an older, laxer version
        session.add(source)
    page = client.get("/sources").text
    assert "javascript:alert(1)" in page
    assert 'href="javascript:' not in page


def test_pages_send_a_strict_content_security_policy(client: TestClient, filled: Filled) -> None:
    for path in ("/", f"/items/{filled.boat}", "/sources", "/?q=boat", "/items/0"):
        response = client.get(path)
        policy = response.headers["content-security-policy"]
        assert policy == CONTENT_SECURITY_POLICY
        directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
        assert directives["default-src"] == "'none'"
        assert directives["script-src"] == f"'{SWITCH_SCRIPT_HASH}'"
        assert "unsafe-inline" not in directives["script-src"]
        assert directives["base-uri"] == "'none'"
        assert response.headers["x-content-type-options"] == "nosniff"


def test_empty_database_pages(client: TestClient) -> None:
    assert "No edits recorded yet" in client.get("/").text
    assert "No sources yet" in client.get("/sources").text
