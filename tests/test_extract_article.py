"""The article extractor (one article page, main text by trafilatura) and articles end to end.

The fixtures under tests/fixtures/articles are written for the project; each ``NAME.html``
has a ``NAME.json`` beside it with what parse_article must give (see their README).
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from storage import Change, Item, Source, Version, queries, transaction
from tracker.errors import ExtractError
from tracker.extract import Page, extract
from tracker.extract.article import MIN_PARAGRAPH, is_article, parse_article
from tracker.extract.base import Observation
from tracker.record import history
from tracker.run.rounds import check_round
from tracker.run.sources import add_source

from .conftest import FIXTURES, Site, offstream_page, text_fields
from .test_stored_diff import assert_whole_diff

# What is tested here does not depend on the database (see conftest.py).
pytestmark = pytest.mark.one_database

ARTICLES = FIXTURES / "articles"
PAGES = sorted(ARTICLES.glob("*.html"))
HTML = "text/html; charset=utf-8"
URL = "https://news.example/2026/05/story.html"
START = datetime(2026, 6, 1, tzinfo=UTC)
PROSE = (
    "The harbour board met on Friday evening to discuss the plans for the new terminal, "
    "and the dredging of the main berth, for more than four hours."
)
assert len(PROSE) >= MIN_PARAGRAPH


def article_html(name: str) -> str:
    return (ARTICLES / f"{name}.html").read_text(encoding="utf-8")


def expected_of(path: Path) -> dict:
    return json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))


def page(text: str, url: str = URL, content_type: str | None = HTML) -> Page:
    return Page(url=url, text=text, body=text.encode(), content_type=content_type)


def parse_one(text: str, url: str = URL) -> Observation:
    [observation] = parse_article(page(text, url))
    return observation


def html_doc(head: str = "", body: str = f"<article><p>{PROSE}</p></article>") -> str:
    return f"<!DOCTYPE html><html><head>{head}</head><body>{body}</body></html>"


# --- parse_article on the fixtures ------------------------------------------------------------


@pytest.mark.parametrize("path", PAGES, ids=lambda p: p.stem)
def test_fixture_gives_its_expected_fields(path: Path) -> None:
    expected = expected_of(path)
    text = path.read_text(encoding="utf-8")
    if "error" in expected:
        with pytest.raises(ExtractError, match=f"^{expected['error']} at {URL}$"):
            parse_article(page(text))
        return
    obs = parse_one(text)
    assert (obs.url, obs.guid, obs.sources, obs.history) == (URL, None, None, [])
    assert obs.headline == expected["headline"]
    assert obs.summary == expected["summary"]
    assert obs.category == expected["category"]
    assert obs.tags == expected["tags"]
    assert obs.event_date == date.fromisoformat(expected["event_date"])
    assert obs.body is not None
    paragraphs = obs.body.split("\n\n")
    assert paragraphs[0] == expected["body_first"]
    assert paragraphs[-1] == expected["body_last"]
    assert len(paragraphs) == expected["paragraphs"]
    assert all(p and p == " ".join(p.split()) for p in paragraphs)  # one line each, no blanks
    for passage in expected["body_contains"]:
        assert passage in obs.body


@pytest.mark.parametrize(
    "path", [p for p in PAGES if "not_anywhere" in expected_of(p)], ids=lambda p: p.stem
)
def test_no_comment_or_boilerplate_phrase_reaches_any_field(path: Path) -> None:
    obs = parse_one(path.read_text(encoding="utf-8"))
    fields = text_fields([obs])
    for phrase in expected_of(path)["not_anywhere"]:
        assert not [f for f in fields if phrase in f], phrase


def test_the_edit_is_all_that_differs_and_more_comments_change_nothing() -> None:
    first, edited, more_comments = (
        parse_one(article_html(name)) for name in ("wordpress-1", "wordpress-2", "wordpress-3")
    )
    assert edited == more_comments
    assert first.headline != edited.headline
    assert first.body is not None and edited.body is not None
    old, new = first.body.split("\n\n"), edited.body.split("\n\n")
    assert [i for i, (a, b) in enumerate(zip(old, new, strict=False)) if a != b] == [2]
    assert new[: len(old)][3:] == old[3:] and len(new) == len(old) + 1
    same = ("summary", "category", "tags", "event_date", "url")
    assert all(getattr(first, name) == getattr(edited, name) for name in same)


def test_the_seed_shaped_page_quotes_the_article_in_comments_only_once() -> None:
    """Two comments quote the article in a <blockquote>: the body has each sentence once."""
    body = parse_one(article_html("wordpress-1")).body or ""
    assert body.count("The army withdrew from Kessra on Tuesday") == 1
    assert body.count("or had been abandoned before it.") == 1


# --- fields in detail -------------------------------------------------------------------------


def test_headline_prefers_og_title_and_drops_only_the_sites_own_suffix() -> None:
    site_name = '<meta property="og:site_name" content="Harbour Herald">'
    cases = {
        # og:title wins over <title> and <h1>, and loses " | Site" when Site is og:site_name.
        '<meta property="og:title" content="Storm hits coast | Harbour Herald">'
        "<title>Other</title>" + site_name: "Storm hits coast",
        # <title> when there is no og:title, no JSON-LD headline and no single <h1>.
        "<title>Storm hits coast \u2013 Harbour Herald</title>" + site_name: "Storm hits coast",
        # A suffix that is not the site's name stays, and so does everything without one.
        "<title>Storm hits coast - live updates</title>" + site_name: (
            "Storm hits coast - live updates"
        ),
        "<title>U.S. troops leave | The Herald</title>" + site_name: (
            "U.S. troops leave | The Herald"
        ),
        "<title>Harbour Herald</title>" + site_name: "Harbour Herald",
    }
    for head, headline in cases.items():
        assert parse_one(
            html_doc(head, f"<div><h1>a</h1><h1>b</h1><p>{PROSE}</p></div>")
        ).headline == (headline), head
    # With one <h1> and no og:title, the <h1> is the headline, not the <title>.
    only_h1 = html_doc(
        "<title>Site | Home</title>", f"<article><h1>Ferry delayed</h1><p>{PROSE}</p></article>"
    )
    obs = parse_one(only_h1)
    assert obs.headline == "Ferry delayed"
    assert obs.body == PROSE  # the headline is not repeated as the body's first paragraph


def test_json_ld_article_in_a_graph() -> None:
    ld = {
        "@context": "https://schema.org",
        "@graph": [
            {"@type": "WebPage", "headline": "Not this"},
            {
                "@type": ["BlogPosting"],
                "headline": "Graph headline",
                "description": "From JSON-LD.",
                "datePublished": "2026-04-01T01:00:00+02:00",
                "keywords": "ports, shipping ,, ports",
                "articleSection": ["Local", "News"],
            },
        ],
    }
    head = (
        '<script type="application/ld+json">{broken</script>'
        f'<script type="application/ld+json">{json.dumps(ld)}</script>'
    )
    obs = parse_one(html_doc(head))
    assert obs.headline == "Graph headline"
    assert obs.summary == "From JSON-LD."
    assert obs.event_date == date(2026, 3, 31)  # 01:00 at +02:00 is the evening before in UTC
    assert obs.tags == ["ports", "shipping"]
    assert obs.category == "Local"


def test_json_ld_of_unexpected_shapes_is_ignored_not_fatal() -> None:
    ld = (
        '{"@type": "NewsArticle", "description": {"x": 1}, "headline": ["First", 2],'
        ' "keywords": 5, "datePublished": 17, "articleSection": null}'
    )
    deep = "[" * 5000 + "]" * 5000
    head = "".join(f'<script type="application/ld+json">{data}</script>' for data in (deep, ld))
    obs = parse_one(html_doc(head))
    assert obs.headline == "First"
    assert (obs.summary, obs.tags, obs.event_date, obs.category) == (None, None, None, None)


def test_summary_tags_category_and_date_sources_in_order() -> None:
    head = (
        '<meta property="og:description" content="The og description.">'
        '<meta name="description" content="  The   meta description. ">'
        '<meta name="keywords" content="ports, , shipping, ports">'
        '<meta property="article:published_time" content="2026-02-03T23:30:00">'
    )
    obs = parse_one(html_doc(head))
    assert obs.summary == "The meta description."
    assert obs.tags == ["ports", "shipping"]
    assert obs.event_date == date(2026, 2, 3)  # no zone: the date as written
    assert obs.category is None
    only_og = parse_one(html_doc('<meta property="og:description" content="The og one.">'))
    assert only_og.summary == "The og one."


def test_rel_tag_links_are_tags_but_category_links_are_not() -> None:
    body = (
        f"<article><p>{PROSE}</p><footer>Filed under "
        '<a rel="category tag" href="/c/ports">Ports</a>. Tags: '
        '<a rel="tag" href="/t/cranes">Cranes</a>, <a rel="tag" href="/t/tides">Tides</a>'
        "</footer></article>"
    )
    assert parse_one(html_doc("", body)).tags == ["Cranes", "Tides"]


def test_a_page_that_declares_nothing_gives_none_not_empty() -> None:
    obs = parse_one(html_doc("", f"<div><p>{PROSE}</p></div>"))
    assert obs.body == PROSE
    assert (obs.headline, obs.summary, obs.category, obs.tags) == (None, None, None, None)
    assert (obs.event_date, obs.guid, obs.sources) == (None, None, None)


def test_an_unreadable_published_time_falls_back_to_the_markup() -> None:
    head = '<meta property="article:published_time" content="last Tuesday">'
    body = f'<article><time datetime="2026-02-01">1 February</time><p>{PROSE}</p></article>'
    assert parse_one(html_doc(head, body)).event_date == date(2026, 2, 1)


def test_a_copyright_year_is_no_date() -> None:
    body = f"<article><p>{PROSE}</p></article><footer><p>\u00a9 2026 Harbour Herald</p></footer>"
    assert parse_one(html_doc("", body)).event_date is None


def test_the_canonical_url_is_not_the_url() -> None:
    head = '<link rel="canonical" href="https://elsewhere.example/a">'
    obs = parse_one(html_doc(head))
    assert obs.url == URL and obs.guid is None


# --- decoding ---------------------------------------------------------------------------------


def test_meta_charset_decides_when_http_names_none() -> None:
    html = html_doc('<meta charset="iso-8859-1"><title>Caf\u00e9 prices rise</title>')
    body = html.encode("latin-1")
    text = body.decode("utf-8", errors="replace")  # what the fetcher made of it
    [obs] = parse_article(Page(URL, text, body, "text/html"))
    assert obs.headline == "Caf\u00e9 prices rise"


def test_the_http_charset_wins_over_meta_charset() -> None:
    html = html_doc('<meta charset="iso-8859-1"><title>Caf\u00e9 prices rise</title>')
    [obs] = parse_article(Page(URL, html, html.encode(), "text/html; charset=utf-8"))
    assert obs.headline == "Caf\u00e9 prices rise"


def test_undeclared_non_utf8_bytes_read_as_windows_1252() -> None:
    body = html_doc("<title>\u201cQuoted\u201d caf\u00e9</title>").encode("windows-1252")
    [obs] = parse_article(Page(URL, body.decode("utf-8", "replace"), body, None))
    assert obs.headline == "\u201cQuoted\u201d caf\u00e9"


def test_an_xhtml_page_with_an_xml_declaration() -> None:
    xhtml = (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        '<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Strict//EN" '
        '"http://www.w3.org/TR/xhtml1/DTD/xhtml1-strict.dtd">\n'
        '<html xmlns="http://www.w3.org/1999/xhtml"><head><title>Tide tables</title></head>'
        f"<body><p>{PROSE}</p></body></html>"
    )
    assert parse_one(xhtml).headline == "Tide tables"
    assert is_article(page(xhtml, content_type=None))


# --- hostile and broken input -----------------------------------------------------------------


def test_markup_in_titles_and_text_ends_up_plain_or_dropped() -> None:
    head = (
        "<title><script>alert(1)</script>Harbour news</title>"
        '<meta name="description" content="&lt;b onmouseover=alert(1)&gt;Calm&lt;/b&gt; seas">'
        '<meta property="article:tag" content="&lt;script&gt;alert(2)&lt;/script&gt;Tides">'
    )
    body = (
        '<article><h1>Big <script>alert(3)</script>news <img src=x onerror="alert(4)"></h1>'
        f'<p>{PROSE} <img src="x" onerror="alert(5)"><script>alert(6)</script></p>'
        '<p onclick="alert(7)">Second <iframe src="javascript:alert(8)"></iframe>part.</p>'
        "</article>"
    )
    obs = parse_one(html_doc(head, body))
    assert obs.headline == "Big news"
    assert obs.summary == "Calm seas"
    assert obs.tags == ["Tides"]
    assert obs.body == f"{PROSE}\n\nSecond part."
    for value in text_fields([obs]):
        assert "alert" not in value and "<" not in value and "onerror" not in value
    title_only = parse_one(html_doc(head.split("<meta")[0]))
    assert title_only.headline == "Harbour news"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   \n ",
        "hello world",
        "\x00\x01\x02 binary \xff\xfe",
        "<!-- only a comment -->",
        "<html><head><title>Only a title</title></head><body></body></html>",
        "<html><body>" + "<div>" * 3000 + "deep" + "</div>" * 3000 + "</body></html>",
        "<html><body><p>Too short to be an article.</p><p>Nor is this.</p></body></html>",
        '<?xml version="1.0"?><rss version="2.0"><channel><title>A feed</title></channel></rss>',
        '<feed xmlns="http://www.w3.org/2005/Atom"><title>An Atom feed</title></feed>',
        '{"headline": "a JSON document"}',
    ],
    ids=[
        "empty", "blank", "text", "binary", "comment", "title-only", "deep", "short", "rss",
        "atom", "json",
    ],
)  # fmt: skip
def test_what_holds_no_article_is_an_extract_error(text: str) -> None:
    with pytest.raises(ExtractError) as raised:
        parse_article(page(text))
    message = str(raised.value)
    assert message.startswith(("no article text found at ", "not an HTML page at "))
    assert URL in message and "\n" not in message


def test_html_that_names_a_url_or_file_is_parsed_never_fetched(site: Site) -> None:
    article_url = site.publish("/article.html", article_html("wordpress-1"), HTML)
    for text in (article_url, "/etc/passwd", "file:///etc/passwd"):
        with pytest.raises(ExtractError):
            parse_article(page(text, url=article_url))
    links = html_doc(
        f'<link rel="canonical" href="{article_url}"><meta property="og:url" '
        f'content="{article_url}"><link rel="stylesheet" href="{site.url("/s.css")}">',
        f'<article><p>{PROSE}</p><img src="{site.url("/i.png")}">'
        f'<iframe src="{site.url("/frame")}"></iframe></article>',
    )
    assert parse_one(links, url=article_url).body == PROSE
    assert site.requests == []


# --- sniffing and dispatch --------------------------------------------------------------------


@pytest.mark.parametrize("path", PAGES, ids=lambda p: p.stem)
def test_every_fixture_is_sniffed_as_html(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert is_article(page(text))
    assert is_article(page(text, content_type=None))


@pytest.mark.parametrize(
    ("text", "content_type", "expected"),
    [
        ("<p>a fragment</p>", "text/html", True),
        ("anything", "application/xhtml+xml; charset=utf-8", True),
        ("\ufeff  \n<!doctype HTML>\n<html>", None, True),
        ("<!-- generated -->\n<html lang=en>", "text/plain", True),
        ("<HTML><BODY>old</BODY></HTML>", None, True),
        ("# Headline\n\nSome *markdown* text.", "text/markdown; charset=utf-8", False),
        (offstream_page("seeds/000_0c411d6d2d5ef8ba.txt"), None, False),
        ('<?xml version="1.0"?><rss version="2.0"><channel/></rss>', "application/rss+xml", False),
        ("<p>a fragment</p>", None, False),
        ("<htmlish>", None, False),
        ("", None, False),
    ],
)
def test_the_sniff(text: str, content_type: str | None, expected: bool) -> None:
    assert is_article(Page(URL, text, content_type=content_type)) is expected


def test_auto_picks_article_last_after_the_other_kinds() -> None:
    kind, [obs] = extract("auto", page(article_html("newsarticle")))
    assert kind == "article" and obs.headline is not None
    rss = '<?xml version="1.0"?><rss version="2.0"><channel><title>T</title></channel></rss>'
    assert extract("auto", page(rss, content_type="text/html"))[0] == "feed"
    markdown = offstream_page("seeds/000_0c411d6d2d5ef8ba.txt")
    assert extract("auto", page(markdown, content_type="text/html"))[0] == "offstream"
    assert extract("article", page(article_html("wordpress-1")))[0] == "article"
    with pytest.raises(ExtractError, match="article pages"):
        extract("auto", page("hello world", content_type="text/plain"))


# --- end to end: an article on the local site, checked, edited, commented on ------------------


def add(engine: Engine, url: str, kind: str = "auto") -> int:
    with transaction(engine) as session:
        source, _ = add_source(session, url, kind=kind)
        assert source.id is not None
        return source.id


def check_all(engine: Engine, when: datetime) -> dict[str, str]:
    return {r.url: r.outcome for r in check_round(engine, now=when, all_sources=True)}


def tracked(engine: Engine) -> list[tuple[Item, list[Version], list[Change]]]:
    with transaction(engine) as session:
        return [
            (
                item,
                list(queries.versions_of(session, item.id or 0)),
                list(queries.changes_of(session, item.id or 0)),
            )
            for item in queries.all_items(session)
        ]


def test_an_article_is_tracked_through_an_edit_but_not_through_comments(
    site: Site, engine: Engine
) -> None:
    path = "/2026/05/insurgents-release-footage-from-kessra.php"
    url = site.publish(path, article_html("wordpress-1"), HTML)
    source_id = add(engine, url)
    assert check_all(engine, START) == {url: "changed"}
    with transaction(engine) as session:
        source = session.get(Source, source_id)
        assert source is not None and source.kind == "article"
    [(item, [first], [created])] = tracked(engine)
    assert created.kind == "created"
    assert item.url == url and item.event_date == date(2026, 5, 22)
    assert first.headline == "Insurgents release footage from captured river port of Kessra"
    assert first.tags == ["Valley Liberation Front", "Kessra"]
    assert first.category == "Sarn Valley"
    assert first.body is not None and "says:" not in first.body

    site.publish(path, article_html("wordpress-2"), HTML)
    assert check_all(engine, START + timedelta(hours=1)) == {url: "changed"}
    [(item, versions, changes)] = tracked(engine)
    assert [v.n for v in versions] == [1, 2]
    assert [c.kind for c in changes] == ["created", "edited"]
    edit = changes[-1]
    assert edit.fields == ["headline", "body"]
    assert edit.diff is not None and {"headline", "body"} <= set(edit.diff)
    inserted = " ".join(str(text) for op, text in edit.diff["body"] if op == 1)
    deleted = " ".join(str(text) for op, text in edit.diff["body"] if op == -1)
    assert "60" in inserted and "retaken the airstrip" in inserted and "40" in deleted
    # The body's unchanged paragraphs are stored as lengths, not as the article again.
    assert_whole_diff(history.whole_diff(edit, versions[0]), edit, versions)
    assert len(json.dumps(edit.diff["body"])) < len(versions[0].body or "") / 2
    assert item.headline == "Insurgents parade captured armour through river port of Kessra"

    # Only more comments (a new count, a new "recent comments" sidebar): no new version.
    site.publish(path, article_html("wordpress-3"), HTML)
    assert check_all(engine, START + timedelta(hours=2)) == {url: "unchanged"}
    [(_, versions, changes)] = tracked(engine)
    assert len(versions) == 2 and len(changes) == 2
    assert versions[-1].last_observed_at == START + timedelta(hours=2)


def test_a_page_without_an_article_is_a_failed_check(site: Site, engine: Engine) -> None:
    url = site.publish("/account/sign-in", article_html("login"), HTML)
    add(engine, url, kind="article")
    [result] = check_round(engine, now=START, all_sources=True)
    assert result.outcome == "error"
    assert result.error == f"no article text found at {url}"
    assert tracked(engine) == []


def test_a_latin_1_article_without_an_http_charset(site: Site, engine: Engine) -> None:
    html = html_doc('<meta charset="iso-8859-1"><title>Caf\u00e9 prices rise to \u00a33</title>')
    url = site.publish("/cafe.html", html.encode("latin-1"), "text/html")
    add(engine, url)
    assert check_all(engine, START) == {url: "changed"}
    [(item, _, _)] = tracked(engine)
    assert item.headline == "Caf\u00e9 prices rise to \u00a33"


def test_the_cli_tracks_an_article_with_an_explicit_kind(site: Site, cli) -> None:
    path = "/business/2026/03/14/port-authority-approves-eastquay-expansion"
    url = site.publish(path, article_html("newsarticle"), HTML)
    assert "(kind article)" in cli("add", url, "--kind", "article").stdout
    assert "changed" in cli("check").stdout
    history = cli("history", url, "--json").json()
    [version] = history["versions"]
    assert version["headline"] == "Port authority approves \u00a340m container terminal expansion"
    assert version["tags"] == ["Ports", "Planning", "Eastquay"]
    assert version["category"] == "Business"

    edited = article_html("newsarticle").replace("seven to two", "six to three")
    site.publish(path, edited, HTML)
    assert "changed" in cli("check", "--all").stdout
    diff = cli("diff", url, "--format", "json").json()
    changed = {name: [op for op in ops if op[0] != 0] for name, ops in diff["fields"].items()}
    assert [name for name, ops in changed.items() if ops] == ["body"]
    assert [text for op, text in changed["body"] if op == -1] == ["seven", "two"]
    assert [text for op, text in changed["body"] if op == 1] == ["six", "three"]
