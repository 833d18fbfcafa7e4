"""Hostile content: each extractor ends in Observations or a clear ExtractError, quickly,
and what it hands on is safe to store.

Malformed documents of every format; XML entity bombs and external entities (never
expanded, never fetched); feeds over the item cap; megabyte fields; NULs and control
characters; odd Unicode. Some go through a real check of a local site on both databases,
to show that the check is recorded and an earlier version stays as it was.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import time
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from storage import Check, Item, ItemAlias, Source, Version, transaction
from tracker.errors import ExtractError
from tracker.extract import Observation, Page, extract, sanitise
from tracker.extract.feed import _without_internal_subset
from tracker.extract.sanitise import (
    CUT,
    MAX_CATEGORY,
    MAX_HEADLINE,
    MAX_ITEMS,
    MAX_KEY_BYTES,
    MAX_MESSAGE,
    MAX_SOURCES,
    MAX_SUMMARY,
    MAX_TAG,
    MAX_TAGS,
)
from tracker.normalise import MAX_COMBINING_RUN, canonical_url

from .conftest import FIXTURES, Site, text_fields
from .test_listing import add
from .test_tracking import START, check_all

HOSTILE = FIXTURES / "hostile"
PAGE_URL = "https://news.example/news/2017/03/2/page.html"
JSON_TYPE = "application/json"
CSV_TYPE = "text/csv; charset=utf-8"
RSS_TYPE = "application/rss+xml"
HTML_TYPE = "text/html; charset=utf-8"
# What no stored text may hold: see tracker.normalise.sanitise_text.
UNSAFE = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff\ufffe\uffff]"
)
# Every kind of character sanitise_text takes out.
CONTROLS = "\x00\x01\x08\x0e\x1b\x7f\x80\x84\x86\x9f\u202a\u202e\u2066\u2069\ufffe\uffff"
# The same without C1 controls, which feedparser reads as the windows-1252 characters they
# almost always are in a feed ("\x85" as "…").
FEED_CONTROLS = "\x00\x01\x08\x0e\x1b\x7f\u202a\u202e\u2066\u2069\ufffe\uffff"
PROSE = (
    "The council said on Tuesday that the bridge would stay closed until the engineers "
    "had finished their survey of the damage."
)


def read(kind: str, text: str, content_type: str | None = None, **options: Any) -> list:
    """The page's observations through extract(), checked to be safe to store."""
    body = text.encode("utf-8", "replace")  # a lone surrogate has no UTF-8: "?" on the wire
    _, observations = extract(kind, Page(PAGE_URL, text, body, content_type, options))
    assert_sane(observations)
    return observations


def assert_sane(observations: list[Observation]) -> None:
    for observation in observations:
        history = [v for e in observation.history for v in (e.headline, e.url, e.label) if v]
        for text in [*text_fields([observation]), *history]:
            assert not UNSAFE.search(text), repr(text[:80])
            assert text and text == text.strip(), repr(text[:80])
        assert len(observation.headline or "") <= MAX_HEADLINE
        assert len(observation.summary or "") <= MAX_SUMMARY
        assert len(observation.category or "") <= MAX_CATEGORY
        assert len(observation.tags or []) <= MAX_TAGS
        assert all(len(tag) <= MAX_TAG for tag in observation.tags or [])
        assert len(observation.sources or []) <= MAX_SOURCES
        for key in (observation.url, observation.guid, *(observation.sources or [])):
            assert key is None or len(key.encode()) <= MAX_KEY_BYTES
        links = [re.search(r"<(https?://[^>\s]+)>\s*$", s) for s in observation.sources or []]
        urls = [observation.url, *(e.url for e in observation.history), *(m[1] for m in links if m)]
        for url in filter(None, urls):
            assert len(canonical_url(url).encode()) <= MAX_KEY_BYTES  # and no ValueError
        assert observation.url or observation.guid or observation.sources or observation.headline


def rss(*items: str, prolog: str = "") -> str:
    return (
        f'<?xml version="1.0"?>{prolog}<rss version="2.0"><channel><title>News</title>'
        f"<link>https://news.example/</link><description>d</description>{''.join(items)}"
        "</channel></rss>"
    )


def rss_item(guid: str, title: str, link: str = "", summary: str = "", extra: str = "") -> str:
    return (
        f"<item><guid>{guid}</guid><title>{title}</title><link>{link}</link>"
        f"<description>{summary}</description>{extra}</item>"
    )


def article(title: str = "Bridge closed", head: str = "", body: str = "") -> str:
    return (
        f"<!doctype html><html><head><title>{title}</title>{head}</head><body><article>"
        f"<h1>{title}</h1>{body}<p>{PROSE}</p><p>{PROSE}</p></article></body></html>"
    )


def wikipedia(bullets: str) -> str:
    return (
        "<html><head><title>Portal:Current events/2017 March 2</title></head><body>"
        '<div class="current-events-main vevent" id="2017_March_2">'
        f'<div class="current-events-content description">{bullets}</div></div></body></html>'
    )


def offstream_md(headline: str, summary: str = "A summary.", extra: str = "") -> str:
    return (
        "### [2017-03-2](/news/2017/03/2/index.md)\n\n##### Infrastructure\n\n"
        f"# {headline}\n\n{summary}\n\n{extra}"
    )


def offstream_html(headline: str, summary: str = "A summary.") -> str:
    return (
        '<html><body><main><h3><a href="/news/2017/03/2/index.html">2017-03-2</a></h3>'
        f"<h5>Infrastructure</h5><h1>{headline}</h1><p>{summary}</p></main></body></html>"
    )


def hostile(name: str, secret: str = "") -> str:
    return (HOSTILE / name).read_text(encoding="utf-8").replace("{SECRET}", secret)


# --- malformed documents -------------------------------------------------------------------

GOOD_RSS = rss(
    rss_item("a", "First headline", "https://news.example/a"),
    rss_item("b", "Second headline", "https://news.example/b"),
)
GOOD_ATOM = (
    '<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><title>t</title>'
    '<entry><id>a</id><title>First headline</title><link href="https://news.example/a"/></entry>'
    '<entry><id>b</id><title>Second</title><link href="https://news.example/b"/></entry></feed>'
)
BULLET = (
    "<ul><li>The bridge is closed after the storm. "
    '<a class="external text" href="https://news.example/bridge">(Reuters)</a></li></ul>'
)

# (kind, name, text, content type, what comes out: a number of items or an error's words)
MALFORMED: list[tuple[str, str, str, str | None, int | str]] = [
    # XML: RSS and Atom. The fallback parser reads what it can of a broken feed.
    ("feed", "rss cut in its second item", GOOD_RSS[: GOOD_RSS.index("<item><guid>b") + 20],
     RSS_TYPE, 2),
    ("feed", "rss cut in its channel", GOOD_RSS[:150], RSS_TYPE, 1),
    ("feed", "rss with unclosed tags", GOOD_RSS.replace("</title>", "", 1), RSS_TYPE, 2),
    ("feed", "rss with stray end tags", GOOD_RSS.replace("</link>", "</b></i></link>"),
     RSS_TYPE, 2),
    ("feed", "atom cut in the id of its second", GOOD_ATOM[: GOOD_ATOM.index("<entry><id>b") + 15],
     RSS_TYPE, 1),
    ("feed", "rss with no items", rss(), RSS_TYPE, 0),
    ("feed", "rss with an item of nothing", rss("<item></item>"), RSS_TYPE, 0),
    ("feed", "an unclosed root", "<rss", RSS_TYPE, "not a readable feed"),
    ("feed", "plain text", "hello", RSS_TYPE, "not a readable feed"),
    ("feed", "an XML declaration only", '<?xml version="1.0"?>', RSS_TYPE, "not a readable feed"),
    ("feed", "an HTML page", "<html><body><p>hi</p></body></html>", RSS_TYPE, "no RSS or Atom"),
    ("feed", "JSON", '{"items": []}', RSS_TYPE, "not a readable feed"),
    ("feed", "binary", "\x00\x01\x02\xff\xfe" * 50, RSS_TYPE, "not a readable feed"),
    # JSON listings.
    ("listing", "JSON cut short", '[{"id": "a", "title": "x"', JSON_TYPE, "not valid JSON"),
    ("listing", "JSON with an unclosed string", '[{"title": "x}]', JSON_TYPE, "not valid JSON"),
    ("listing", "JSON nested 100,000 deep", "[" * 100_000 + "]" * 100_000, JSON_TYPE,
     "nested too deeply"),
    ("listing", "JSON with a 5,000-digit number", '[{"id": ' + "9" * 5000 + "}]", JSON_TYPE,
     "a number is too long"),
    ("listing", "items a string", '{"items": "abc"}', JSON_TYPE, "say where the items are"),
    ("listing", "items a number", '{"items": 5}', JSON_TYPE, "say where the items are"),
    ("listing", "items null", '{"items": null}', JSON_TYPE, "say where the items are"),
    ("listing", "records that are not objects", '[1, "a", null, [1], true]', JSON_TYPE,
     "are not JSON objects (the first is a number)"),
    ("listing", "records without id, headline or URL", '[{"colour": "red"}, {}]', JSON_TYPE,
     "none of the 2 items"),
    ("listing", "a JSON string", '"abc"', JSON_TYPE, "is a string, not a list of items"),
    ("listing", "a JSON number", "42", JSON_TYPE, "is a number, not a list of items"),
    ("listing", "JSON null", "null", JSON_TYPE, "is null, not a list of items"),
    ("listing", "an empty list", "[]", JSON_TYPE, 0),
    ("listing", "fields of every wrong type",
     '[{"id": {"a": 1}, "title": [1, 2], "url": 123, "tags": 5, "summary": true,'
     ' "updated": 7}, {"id": "b", "title": "Fine", "url": "http://[::1"}]', JSON_TYPE, 2),
    ("listing", "dates out of range",
     '[{"id": "a", "title": "x", "updated": "0001-01-01T00:00:00+05:00"},'
     ' {"id": "b", "title": "y", "updated": "9999-12-31T23:00:00-05:00"}]', JSON_TYPE, 2),
    # CSV listings.
    ("listing", "CSV with ragged rows", "title,url\na\nb,https://news.example/b,extra,more\n,,\n",
     CSV_TYPE, 2),
    ("listing", "CSV of a single column", "title\nFirst\nSecond\n", CSV_TYPE, 2),
    ("listing", "CSV of a header only", "title,url\n", CSV_TYPE, 0),
    ("listing", "CSV with an unclosed quote", 'title,url\n"abc,https://x.example/\nd,e\n',
     CSV_TYPE, 1),
    ("listing", "CSV with lone CRs for line ends", "title,url\r\na,https://x.example/a\rb,c\n",
     CSV_TYPE, 2),
    ("listing", "CSV with a 1 MB cell", "title,url\n" + "x" * 1_000_000 + ",https://x.example/\n",
     CSV_TYPE, 1),
    ("listing", "CSV of binary", "title,url\n\x00\x01\xff,\x00\n\x02,\x03\n", CSV_TYPE, 1),
    ("listing", "CSV naming no usable column", "colour,size\nred,2\n", CSV_TYPE,
     "no id, headline or URL column"),
    ("listing", "an HTML error page", "<html><body>Service unavailable</body></html>",
     "text/html", "no id, headline or URL column"),
    # Markdown: Offstream's .md rendition.
    ("offstream", "a lone hash", "# ", None, "not an Offstream page"),
    ("offstream", "a headline left open", "### [2017-03-2](/x/index.md)\n# [Headline", None, 1),
    ("offstream", "an index heading left open", "### [Headline](", None, "not an Offstream page"),
    ("offstream", "lists of broken entries", offstream_md(
        "Headline", extra="### Sources:\n1. [Reuters](\n2. [](http://x)\n3. [A](http://a.example/)"
        "\n\n### Changes:\n1. [Old](/x.md) _2017-13-45 99:99:99 (First version)_\n"
        "2. [](/y.md) _(Current version)_\n3. [New](/z.md) _(Current version_"), None, 1),
    ("offstream", "an index of odd entries", "## [2018-02-2](/a)\n### [](/b)\n### [H](/c)\n"
     "_Context: , ,_", None, 1),
    # HTML: Offstream's .html rendition, Wikipedia, articles.
    ("offstream", "HTML cut in the headline", offstream_html("Headline")[:120], HTML_TYPE, 1),
    ("offstream", "HTML of a Changes list only",
     "<h3>Changes:</h3><ol><li><a>x</a> <em>(Current version)</em>", HTML_TYPE,
     "not an Offstream page"),
    ("wikipedia", "a bullet cut short", wikipedia(BULLET)[:260], HTML_TYPE, 1),
    ("wikipedia", "an empty day block", wikipedia(""), HTML_TYPE, 0),
    ("wikipedia", "empty bullets", wikipedia("<ul><li></li><li><ul></ul></li></ul>"), HTML_TYPE,
     0),
    # libxml2 stops at 255 levels: the innermost bullet it keeps is an item.
    ("wikipedia", "lists nested 3,000 deep", wikipedia("<ul><li>t" * 3000 + BULLET), HTML_TYPE,
     1),
    ("wikipedia", "no day block", "<html><body><p>hi</p></body></html>", HTML_TYPE,
     "no 'current-events-content' day block"),
    ("article", "tags left open", article(body="<div><span><b>"), HTML_TYPE, 1),
    ("article", "cut before the text", article()[:120], HTML_TYPE, "no article text found"),
    ("article", "text nested 5,000 deep", article(body="<div>" * 5000), HTML_TYPE,
     "no article text found"),
    ("article", "JSON-LD nested 100,000 deep", article(
        head='<script type="application/ld+json">' + "[" * 100_000 + "</script>"), HTML_TYPE, 1),
    ("article", "JSON-LD of every wrong type", article(
        head='<script type="application/ld+json">{"@type": "NewsArticle", "headline": {"a": 1},'
        ' "keywords": [1, null], "datePublished": 5, "articleSection": [null, 3]}</script>'),
     HTML_TYPE, 1),
    ("article", "dates out of range", article(
        head='<meta property="article:published_time" content="0001-01-01T00:00:00+05:00">'),
     HTML_TYPE, 1),
    ("article", "binary", "\x00\xff\xfe" * 1000, "text/html", 1),  # "ÿþÿþ…" is its text
]  # fmt: skip
for _kind in ("feed", "listing", "offstream", "wikipedia", "article"):
    MALFORMED += [
        (_kind, "an empty document", "", None, "ExtractError"),
        (_kind, "whitespace only", " \n\t\r\n ", None, "ExtractError"),
    ]


@pytest.mark.parametrize(
    ("kind", "name", "text", "content_type", "expected"),
    MALFORMED,
    ids=[f"{kind}: {name}" for kind, name, *_ in MALFORMED],
)
def test_malformed_documents(
    kind: str, name: str, text: str, content_type: str | None, expected: int | str
) -> None:
    started = time.perf_counter()
    if isinstance(expected, int):
        assert len(read(kind, text, content_type)) == expected
    else:
        with pytest.raises(ExtractError) as raised:
            read(kind, text, content_type)
        message = str(raised.value)
        assert expected == "ExtractError" or expected in message
        assert "\n" not in message and len(message) <= MAX_MESSAGE
    assert time.perf_counter() - started < 10


def test_what_a_broken_feed_still_gives() -> None:
    """The fallback parser keeps the complete items of a cut feed, and what it can of the
    one cut short (its guid): the item is seen, not recorded as removed."""
    [first, second] = read("feed", GOOD_RSS[: GOOD_RSS.index("<item><guid>b") + 20], RSS_TYPE)
    assert (first.guid, first.headline) == ("a", "First headline")
    assert first.url == "https://news.example/a"
    assert (second.guid, second.headline) == ("b", None)


MALFORMED_BY_NAME = {name: text for _, name, text, _, _ in MALFORMED}


def test_wrong_types_in_a_listing_are_left_out() -> None:
    odd, fine = read("listing", MALFORMED_BY_NAME["fields of every wrong type"], JSON_TYPE)
    # A number is a relative link; objects and lists are no text; a broken URL is no URL.
    assert odd.url == "https://news.example/news/2017/03/2/123"
    assert odd.guid is None and odd.headline is None
    assert odd.summary == "True" and odd.tags is None and odd.event_date is None
    assert (fine.guid, fine.headline, fine.url) == ("b", "Fine", None)


# --- entities: never expanded, never resolved, nothing fetched ------------------------------


def test_a_doctype_internal_subset_is_taken_out_wherever_it_is() -> None:
    subset = b"[<!ENTITY a \"]>\"><!-- ] --><?pi ]?><!ENTITY b 'x]'>]"
    cases = {
        b'<?xml version="1.0"?><!DOCTYPE rss ' + subset + b"><rss/>": b"<!DOCTYPE rss ><rss/>",
        b"<!-- <rss> ] --><!DOCTYPE rss " + subset + b">\n<rss/>": b"<!DOCTYPE rss >\n<rss/>",
        b'<?pi x?>\n<!DOCTYPE rss SYSTEM "x.dtd"\n' + subset + b"><rss/>": b"<!DOCTYPE rss "
        b'SYSTEM "x.dtd"\n><rss/>',
        # An unclosed subset runs to the end: nothing is left to parse.
        b'<!DOCTYPE rss [<!ENTITY a "x">': b"<!DOCTYPE rss ",
    }
    for document, expected in cases.items():
        assert _without_internal_subset(document).endswith(expected), document
        assert b"ENTITY" not in _without_internal_subset(document)
    # Left alone: a DOCTYPE without a subset, and one inside a comment or after the root.
    for document in (
        b'<!DOCTYPE rss PUBLIC "-//Netscape Communications//DTD RSS 0.91//EN" "x.dtd"><rss/>',
        b'<!-- <!DOCTYPE rss [<!ENTITY a "x">]> --><rss/>',
        b'<rss><!DOCTYPE rss [<!ENTITY a "x">]></rss>',
    ):
        assert _without_internal_subset(document) == document


def billion_laughs_padded(encoding: str) -> bytes:
    """The one-line billion laughs after a 1 MB comment: expat's expansion limit is 100
    times the document's size, so before the subset was taken out this took 15 s and
    800 MB; UTF-16, so that a search of the raw bytes finds no DOCTYPE."""
    text = hostile("laughs-one-line.atom").replace(
        "<feed", "<!--" + "x" * 1_000_000 + "-->\n<feed", 1
    )
    text = text.replace('<?xml version="1.0"?>', f'<?xml version="1.0" encoding="{encoding}"?>')
    return text.encode(encoding)


@pytest.mark.parametrize(
    "document",
    [
        pytest.param(hostile("laughs.rss").encode(), id="one entity a line"),
        pytest.param(hostile("laughs-one-line.atom").encode(), id="after a comment, one line"),
        pytest.param(billion_laughs_padded("utf-8"), id="1 MB, UTF-8"),
        pytest.param(billion_laughs_padded("utf-16"), id="1 MB, UTF-16"),
    ],
)
def test_a_billion_laughs_is_never_expanded(document: bytes) -> None:
    started = time.perf_counter()
    _, [observation] = extract("feed", Page(PAGE_URL, "", document, "application/xml"))
    assert time.perf_counter() - started < 5
    assert observation.headline == "Head &lol9; end"  # the reference stays as written
    assert "lollol" not in (observation.summary or "")


def test_entities_in_html_are_never_expanded() -> None:
    for kind, name in (
        ("article", "xxe-article.html"),
        ("wikipedia", "xxe-wikipedia.html"),
        ("offstream", "xxe-offstream.html"),
    ):
        [observation] = read(kind, hostile(name, "http://127.0.0.1:9/secret"), HTML_TYPE)
        assert "&lol9;" in (observation.headline or ""), kind
        assert not any("lollol" in text for text in text_fields([observation]))


HOSTILE_PAGES = [
    ("feed", "xxe.rss"),
    ("feed", "xxe-one-line.atom"),
    ("feed", "laughs.rss"),
    ("auto", "xxe.rss"),
    ("article", "xxe-article.html"),
    ("auto", "xxe-article.html"),
    ("wikipedia", "xxe-wikipedia.html"),
    ("offstream", "xxe-offstream.html"),
]


@pytest.mark.parametrize(("kind", "name"), HOSTILE_PAGES)
def test_external_entities_are_never_resolved(site: Site, kind: str, name: str) -> None:
    secret = site.publish("/secret", "SECRET-FROM-THE-SERVER", "text/plain")
    text = hostile(name, secret)
    content_type = HTML_TYPE if name.endswith(".html") else "application/xml"
    for page in (
        Page(PAGE_URL, text, text.encode(), content_type),
        Page(PAGE_URL, text, b"", content_type),  # as text only
    ):
        _, observations = extract(kind, page)
        assert observations
        assert_sane(observations)
        for text_found in text_fields(observations):
            assert "SECRET" not in text_found and "root:" not in text_found
    assert site.requests == []  # not the entity, nor the DTD, stylesheet, script or image


# --- pages made to take quadratic time ---------------------------------------------------------

QUADRATIC: list[tuple[str, str, str | None]] = [
    # Each "](" once made a regular expression rescan the rest of the line.
    ("offstream", "### [" + "](" * 1_000_000, "text/markdown"),
    ("offstream", offstream_md("H", extra="### Sources:\n1. [" + "](" * 1_000_000), None),
    # Each "class=" once made the Wikipedia sniff rescan the rest of the page.
    ("auto", "class=" * 500_000, "text/plain"),
    # A bullet of citations without a full stop: each was a new start of a rescan.
    ("wikipedia", wikipedia("<ul><li>Cited " + '<a class="external" href="https://x.example/">'
                            "(S)</a>" * 100_000 + "</li></ul>"), HTML_TYPE),
]  # fmt: skip


@pytest.mark.parametrize(
    ("kind", "text", "content_type"),
    QUADRATIC,
    ids=["link heading", "source line", "sniff", "citations"],
)
def test_pages_made_to_take_quadratic_time_are_read_quickly(
    kind: str, text: str, content_type: str | None
) -> None:
    """Each took minutes to hours before (measured at a fraction of this size)."""
    started = time.perf_counter()
    with contextlib.suppress(ExtractError):  # not every one is a page: what counts is the time
        read(kind, text, content_type)
    assert time.perf_counter() - started < 15


# --- a feed of 10,000 entries ----------------------------------------------------------------


def feed_of(count: int, prefix: str = "g") -> str:
    return rss(
        *(
            rss_item(
                f"{prefix}{i}",
                f"Headline number {i} about the bridge",
                f"https://news.example/{prefix}/{i}",
                f"Summary &lt;b&gt;of&lt;/b&gt; item {i}, a sentence or two long.",
                "<pubDate>Mon, 02 Jan 2026 10:00:00 GMT</pubDate><category>World</category>",
            )
            for i in range(count)
        )
    )


@pytest.mark.slow  # over 2.5 s (--durations, 2026-12-07): left out by `make quick`
def test_a_feed_of_10000_entries_is_read_whole_then_cut_to_the_first(
    caplog: pytest.LogCaptureFixture,
) -> None:
    total = MAX_ITEMS + 2_000
    document = feed_of(total).encode()
    started = time.perf_counter()
    with caplog.at_level(logging.WARNING, logger="tracker.extract.sanitise"):
        _, kept = extract("feed", Page(PAGE_URL, "", document, RSS_TYPE))
    seconds = time.perf_counter() - started
    print(f"read {total} entries ({len(document) / 1e6:.1f} MB) in {seconds:.1f} s")
    # Every entry was read as an item (the count), then the first ones kept, in order.
    assert f"lists {total} items; only the first {MAX_ITEMS} are read" in caplog.text
    assert [o.guid for o in kept] == [f"g{i}" for i in range(MAX_ITEMS)]
    assert seconds < 60


@pytest.mark.slow  # over 2.5 s (--durations, 2026-12-07): left out by `make quick`
def test_a_check_of_a_feed_over_the_cap_records_the_first_items(
    site: Site, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A lower cap than the real one, and a feed just over it, keep this check's cost (and
    # the suite's) down: reading 12,000 entries is the test above's.
    cap = 2_000
    monkeypatch.setattr(sanitise, "MAX_ITEMS", cap)
    url = site.publish("/feed.xml", feed_of(3), RSS_TYPE)
    add(engine, url, "feed")
    assert check_all(engine, START) == {url: "changed"}
    before = stored(engine)

    site.publish("/feed.xml", feed_of(3_000), RSS_TYPE)
    started = time.perf_counter()
    [result] = check_results(engine, START + timedelta(hours=1))
    seconds = time.perf_counter() - started
    print(f"a check of a 3,000-entry feed took {seconds:.1f} s on {engine.dialect.name}")
    assert result.outcome == "changed"  # the three items are the same; the rest are new
    assert result.stats.items_seen == cap
    assert result.stats.items_created == cap - 3
    assert kept(stored(engine)["versions"][:3]) == kept(before["versions"])
    assert seconds < 120


# --- megabyte fields --------------------------------------------------------------------------

MEGA = "word " * 200_000  # 1 MB


def megabyte_pages() -> list[tuple[str, str, str | None]]:
    mega = MEGA.strip()
    return [
        ("feed", rss(rss_item("a", mega, "https://news.example/a", mega)), RSS_TYPE),
        ("listing", json.dumps([{"id": "a", "title": mega, "summary": mega}]), JSON_TYPE),
        ("listing", f"id,title,summary\na,{mega},{mega}\n", CSV_TYPE),
        ("offstream", offstream_md(mega, mega), None),
        ("offstream", offstream_html(mega, mega), HTML_TYPE),
        ("article", article(head=f'<meta property="og:title" content="{mega}">'
                                 f'<meta name="description" content="{mega}">'), HTML_TYPE),
        ("wikipedia", wikipedia(f"<ul><li>{mega}</li></ul>"), HTML_TYPE),
    ]  # fmt: skip


@pytest.mark.parametrize(("kind", "text", "content_type"), megabyte_pages())
def test_a_megabyte_headline_and_summary_are_cut_and_marked(
    kind: str, text: str, content_type: str | None
) -> None:
    started = time.perf_counter()
    [observation] = read(kind, text, content_type)
    assert time.perf_counter() - started < 20
    headline = observation.headline or ""
    assert len(headline) <= MAX_HEADLINE and headline.endswith(CUT)
    assert headline.startswith("word word")
    if kind != "wikipedia":  # a bullet has no summary
        summary = observation.summary or ""
        assert len(summary) <= MAX_SUMMARY and summary.endswith(CUT)


def test_lists_and_keys_are_kept_to_a_storable_size() -> None:
    long_link = "https://news.example/" + "a" * MAX_KEY_BYTES
    record = {
        "id": "é" * MAX_KEY_BYTES,  # 2 bytes a character: over the limit
        "title": "Many tags",
        "url": long_link,
        "tags": [f"tag {i}" for i in range(10_000)] + ["t" * 10_000],
    }
    [observation] = read("listing", json.dumps([record]), JSON_TYPE)
    assert observation.guid is not None and re.fullmatch("sha256:[0-9a-f]{64}", observation.guid)
    assert observation.url is None  # cut, it would be another page's address
    assert observation.tags == [f"tag {i}" for i in range(MAX_TAGS)]
    bullets = "".join(
        f'<a class="external" href="https://news.example/{i}">(S{i})</a>' for i in range(1000)
    )
    bullet = f'<ul><li>Many sources. {bullets}<a class="external" href="{long_link}">(L)</a>'
    [cited] = read("wikipedia", wikipedia(bullet), HTML_TYPE)
    assert cited.sources == [f"S{i} <https://news.example/{i}>" for i in range(MAX_SOURCES)]


BROKEN_URLS = ["http://news.example:99999/a", "http://[::1", "https://]]>", "http://[x/"]


def broken_url_pages() -> list[tuple[str, str, str | None]]:
    links = "".join(f'<a class="external" href="{u}">(S{i})</a>' for i, u in enumerate(BROKEN_URLS))
    sources = "".join(f"{i}. [S{i}]({u})\n" for i, u in enumerate(BROKEN_URLS))
    return [
        ("feed", rss(*(rss_item(u, f"T{i}", u) for i, u in enumerate(BROKEN_URLS))), RSS_TYPE),
        ("listing", json.dumps([{"id": i, "title": "T", "url": u}
                                for i, u in enumerate(BROKEN_URLS)]), JSON_TYPE),
        ("offstream", offstream_md("Bridge closed", extra=f"### Sources:\n{sources}"), None),
        ("offstream", "## [2018-02-2](/a)\n" + "".join(f"### [T{i}]({u})\n"
                                                    for i, u in enumerate(BROKEN_URLS)), None),
        ("wikipedia", wikipedia(f"<ul><li>Bridge closed. {links}</li></ul>"), HTML_TYPE),
    ]  # fmt: skip


@pytest.mark.parametrize(("kind", "text", "content_type"), broken_url_pages())
def test_links_that_are_no_urls_are_left_out(
    kind: str, text: str, content_type: str | None
) -> None:
    """A port past 65535, a bracket where the host goes: urljoin and canonical_url raise
    ValueError on them. The item stays; the link goes."""
    observations = read(kind, text, content_type)  # read() puts every URL in canonical form
    assert observations
    for observation in observations:
        assert observation.url in (None, PAGE_URL)
        assert not observation.sources


def test_a_long_guid_stands_for_the_same_item_each_time() -> None:
    page = json.dumps([{"id": "x" * 5000, "title": "A"}, {"id": "x" * 4999 + "y", "title": "B"}])
    first, second = read("listing", page, JSON_TYPE)
    assert first.guid != second.guid  # two items still
    assert read("listing", page, JSON_TYPE)[0].guid == first.guid


# --- control characters -----------------------------------------------------------------------


def control_pages() -> list[tuple[str, str, str | None]]:
    c, f = CONTROLS, FEED_CONTROLS
    return [
        ("feed", rss(rss_item(f"a{f}", f"Bridge{f} closed", f"https://news.example/a{f}",
                              f"Summary{f} here", f"<category>Local{f} news</category>")),
         RSS_TYPE),
        ("feed", rss(rss_item("a&#0;&#1;", "Bridge&#0;&#x1b;&#x7f;&#x202e;&#xffff; closed")),
         RSS_TYPE),
        ("listing", json.dumps([{"id": f"a{c}", "title": f"Bridge{c} closed",
                                 "summary": f"Summary{c} here", "url": f"/a{c}",
                                 "category": f"Local{c}", "tags": [f"t{c}", c],
                                 "body": f"Body{c}\n\ntext"}]), JSON_TYPE),
        ("listing", f"id,title,summary,url\na{c},Bridge{c} closed,Summary{c} here,/a{c}\n",
         CSV_TYPE),
        ("offstream", offstream_md(f"Bridge{c} closed", f"Summary{c} here",
                                   f"### Sources:\n1. [Reuters{c}](https://news.example/r{c})\n"),
         None),
        ("offstream", offstream_html(f"Bridge{c} closed", f"Summary{c} here"), HTML_TYPE),
        ("wikipedia", wikipedia(f"<p><b>Disasters{c}</b></p><ul><li>Bridge{c} closed. "
                                f'<a class="external" href="https://news.example/{c}">'
                                f"(Reuters{c})</a></li></ul>"), HTML_TYPE),
        ("article", article(f"Bridge{c} closed", f'<meta name="description" content="S{c}">'
                            f'<meta property="article:tag" content="t{c}">',
                            f"<p>{PROSE}{c}</p>"), HTML_TYPE),
    ]  # fmt: skip


@pytest.mark.parametrize(("kind", "text", "content_type"), control_pages())
def test_control_characters_never_reach_a_field(
    kind: str, text: str, content_type: str | None
) -> None:
    observations = read(kind, text, content_type)  # read() checks every field
    assert observations
    for observation in observations:
        assert re.fullmatch(r"Bridge ?closed\.?", observation.headline or ""), observation.headline


def test_controls_that_part_words_leave_a_space() -> None:
    page = json.dumps([{"id": "a", "title": "Bridge\x0bclosed\x0cafter\x1cthe\x85storm"}])
    [observation] = read("listing", page, JSON_TYPE)
    assert observation.headline == "Bridge closed after the storm"


# --- odd Unicode --------------------------------------------------------------------------------


def test_odd_unicode_is_made_storable() -> None:
    flood = "Z" + "\u0301\u0316" * 50_000  # a combining-mark flood: NFC sorts it in O(n²)
    emoji = "\U0001f469\u200d\U0001f692"  # woman firefighter: a zero-width joiner
    persian = "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645"  # a zero-width non-joiner
    record = {
        "id": "a\ud800",
        "title": "Lone \ud800 and \udfff surrogates",
        "summary": f"{flood} {emoji} {persian} \u202eevil\u202c \u2067isolated\u2069 \u200b.",
        "tags": ["\ud83d", "fine"],  # half of a surrogate pair
    }
    started = time.perf_counter()
    [observation] = read("listing", json.dumps([record]), JSON_TYPE)
    assert time.perf_counter() - started < 5
    assert observation.guid == "a\ufffd"
    assert observation.headline == "Lone \ufffd and \ufffd surrogates"
    assert observation.tags == ["\ufffd", "fine"]
    summary = observation.summary or ""
    assert summary.startswith("Z" + "\u0301\u0316" * (MAX_COMBINING_RUN // 2) + " ")
    assert f" {emoji} {persian} evil isolated \u200b." in summary  # joiners and ZWSP kept


def test_surrogates_written_as_character_references() -> None:
    """Broken sites write an emoji as its UTF-16 halves: "&#55357;&#56832;"."""
    page = rss(rss_item("a", "Smile &#55357;&#56832; &#x110000; &#99999999999; end"))
    [observation] = read("feed", page, RSS_TYPE)
    assert observation.headline == "Smile \ufffd\ufffd \ufffd \ufffd end"


# --- error messages ----------------------------------------------------------------------------


def test_an_error_quoting_the_page_is_one_short_safe_line() -> None:
    keys = {f"key\x00{i}\n\u202e\ud800": [] for i in range(100_000)}
    with pytest.raises(ExtractError) as raised:
        read("listing", json.dumps(keys), JSON_TYPE)
    message = str(raised.value)
    assert message.startswith("say where the items are with --items (top-level keys: key")
    assert len(message) <= MAX_MESSAGE and message.endswith(", …)")
    assert not UNSAFE.search(message) and "\n" not in message


# --- through a check, on every database -----------------------------------------------------------


def stored(engine: Engine) -> dict[str, list[dict[str, Any]]]:
    """Every row that holds what was seen: versions, items, aliases."""
    with transaction(engine) as session:
        return {
            name: [row.model_dump() for row in session.exec(select(model).order_by(model.id))]
            for name, model in (("versions", Version), ("items", Item), ("aliases", ItemAlias))
        }


def check_results(engine: Engine, when: Any) -> list:
    from tracker.run.rounds import check_round

    return check_round(engine, now=when, all_sources=True)


def kept(versions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Versions as stored, but for when they were last seen again (which a check updates)."""
    return [{k: v for k, v in version.items() if k != "last_observed_at"} for version in versions]


def last_check(engine: Engine) -> Check:
    with transaction(engine) as session:
        check = session.exec(select(Check).order_by(col(Check.id).desc())).first()
    assert check is not None
    return check


def test_a_feed_with_nuls_and_controls_is_stored_clean(site: Site, engine: Engine) -> None:
    url = site.publish("/feed.xml", rss(rss_item("a", "Bridge closed", "https://news.example/a")))
    add(engine, url, "feed")
    assert check_all(engine, START) == {url: "changed"}
    before = stored(engine)

    c = FEED_CONTROLS
    edited = rss_item(f"a{c}", f"Bridge{c} closed{c} again", f"https://news.example/a{c}",
                      f"Summary{c}", f"<category>Local{c}</category>")  # fmt: skip
    site.publish("/feed.xml", rss(edited))
    # On PostgreSQL a NUL in a text column would fail the whole check.
    assert check_all(engine, START + timedelta(hours=1)) == {url: "changed"}
    after = stored(engine)
    assert after["versions"][0] == before["versions"][0]
    latest = after["versions"][-1]
    assert (latest["headline"], latest["summary"], latest["tags"]) == (
        "Bridge closed again",
        "Summary",
        ["Local"],
    )
    assert [a["value"] for a in after["aliases"] if a["kind"] == "guid"] == ["a"]

    # The same content with other controls is the same version.
    site.publish("/feed.xml", rss(edited.replace("\x00", "\x01").replace("\u202e", "\u202d")))
    assert check_all(engine, START + timedelta(hours=2)) == {url: "unchanged"}


def test_odd_unicode_and_huge_fields_through_a_check(site: Site, engine: Engine) -> None:
    url = site.publish("/latest.json", json.dumps([{"id": "a", "title": "Fine"}]), JSON_TYPE)
    add(engine, url, "listing")
    assert check_all(engine, START) == {url: "changed"}
    before = stored(engine)

    record = {
        "id": "a",
        "title": "Lone \ud800 surrogate " + MEGA,
        "summary": "\u202eevil\u202c " + "Z" + "\u0301" * 10_000 + MEGA,
        "tags": ["\udfff", "x" * 1_000_000],
        "body": MEGA,
    }
    site.publish("/latest.json", json.dumps([record]), JSON_TYPE)
    assert check_all(engine, START + timedelta(hours=1)) == {url: "changed"}
    after = stored(engine)
    assert after["versions"][0] == before["versions"][0]
    latest = after["versions"][-1]
    assert latest["headline"].startswith("Lone \ufffd surrogate word word")
    assert len(latest["headline"]) <= MAX_HEADLINE and latest["headline"].endswith(CUT)
    assert latest["summary"].startswith("evil Z" + "\u0301" * MAX_COMBINING_RUN + "word")
    assert len(latest["summary"]) <= MAX_SUMMARY and latest["summary"].endswith(CUT)
    assert latest["tags"] == ["\ufffd", "x" * (MAX_TAG - 1) + CUT]
    assert latest["body"] == MEGA.strip()  # the body is kept whole


def test_overlong_keys_through_a_check(site: Site, engine: Engine) -> None:
    """A guid or a link too long for an index entry (PostgreSQL refuses one over about
    2,700 bytes) no longer fails the check."""
    url = site.publish("/feed.xml", rss(rss_item("a", "Fine", "https://news.example/a")))
    add(engine, url, "feed")
    assert check_all(engine, START) == {url: "changed"}
    before = stored(engine)

    long_guid, long_link = "g" * 3000, "https://news.example/" + "b" * 3000
    site.publish("/feed.xml", rss(rss_item("a", "Fine", "https://news.example/a"),
                                  rss_item(long_guid, "Long", long_link)))  # fmt: skip
    assert check_all(engine, START + timedelta(hours=1)) == {url: "changed"}
    after = stored(engine)
    assert kept(after["versions"][:1]) == kept(before["versions"])
    assert after["items"][-1]["url"] is None and after["versions"][-1]["headline"] == "Long"
    assert all(len(a["value"].encode()) <= MAX_KEY_BYTES for a in after["aliases"])


@pytest.mark.parametrize(
    ("text", "content_type", "message"),
    [
        ('[1, "a", null]', JSON_TYPE, "are not JSON objects"),
        ("<html><body>Service unavailable</body></html>", "text/html", "no id, headline or URL"),
        (json.dumps({f"k\x00{i}": [] for i in range(1000)}), JSON_TYPE, "top-level keys: k0"),
        ("[" * 100_000, JSON_TYPE, "nested too deeply"),
        ("", JSON_TYPE, "empty"),  # the fetch or the listing says so
    ],
    ids=["records not objects", "an error page", "keys with NULs", "deep nesting", "empty"],
)
def test_an_unreadable_listing_changes_nothing_stored(
    site: Site, engine: Engine, text: str, content_type: str, message: str
) -> None:
    """Read as an empty listing, such a page would record every item as removed."""
    url = site.publish("/latest.json", json.dumps([{"id": "a", "title": "Fine"}]), JSON_TYPE)
    add(engine, url, "listing")
    assert check_all(engine, START) == {url: "changed"}
    before = stored(engine)

    site.publish("/latest.json", text, content_type)
    assert check_all(engine, START + timedelta(hours=1)) == {url: "error"}
    assert stored(engine) == before
    check = last_check(engine)
    with transaction(engine) as session:
        source = session.exec(select(Source)).one()
    assert check.error is not None and message in check.error
    assert source.last_error == check.error and not UNSAFE.search(check.error)


@pytest.mark.parametrize(("kind", "name"), [("feed", "xxe.rss"), ("article", "xxe-article.html")])
def test_an_entity_attack_through_a_check(site: Site, engine: Engine, kind: str, name: str) -> None:
    secret = site.url("/secret")
    good = hostile(name, secret).replace("&file;", "").replace("&net;", "").replace("&lol9;", "")
    content_type = HTML_TYPE if name.endswith(".html") else RSS_TYPE
    url = site.publish("/page", good, content_type)
    add(engine, url, kind)
    assert check_all(engine, START) == {url: "changed"}
    before = stored(engine)

    site.publish("/page", hostile(name, secret), content_type)
    started = time.perf_counter()
    assert check_all(engine, START + timedelta(hours=1)) == {url: "changed"}
    assert time.perf_counter() - started < 30
    after = stored(engine)
    assert after["versions"][0] == before["versions"][0]
    assert "&file;" in (after["versions"][-1]["headline"] or "")
    assert [path for path in site.requests if path != "/page"] == []


def test_a_headline_with_terminal_escapes_cannot_drive_the_terminal(site: Site, cli) -> None:  # type: ignore[no-untyped-def]
    """ESC sequences in a headline (clear screen, retitle the window) never reach the
    user's terminal: they are removed before the text is stored."""
    hostile = "Calm \x1b[2J\x1b]0;owned\x07headline"
    document = json.dumps({"items": [{"id": "1", "title": hostile, "url": "https://n.example/1"}]})
    url = site.publish("/news.json", document, "application/json")
    cli("add", url, "--kind", "listing")
    cli("check")
    for args in (("history", "1"), ("items",), ("diff", "1", "--format", "color")):
        shown = cli(*args).stdout
        assert "\x1b[2J" not in shown and "\x1b]0" not in shown and "\x07" not in shown
    [item] = cli("items", "--json").json()
    assert item["headline"].startswith("Calm ") and item["headline"].endswith("headline")
    assert not any(ord(c) < 32 for c in item["headline"])
