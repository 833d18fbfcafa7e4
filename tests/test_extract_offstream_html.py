"""The HTML (``.html``) rendition of Offstream pages: it reads to the same Observations as the
Markdown (``.md``) rendition of the same page.

The corpus holds only ``.md`` pages; the HTML fixtures (tests/fixtures/offstream/html, see its
README) were written for the project from them, in an assumed page template.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import fields
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from tracker.errors import ExtractError
from tracker.extract import Page, extract
from tracker.extract.base import HistoryEntry, Observation
from tracker.extract.offstream import is_offstream, parse_offstream

FIXTURES = Path(__file__).parent / "fixtures"
OFFSTREAM = FIXTURES / "offstream"
HTML = OFFSTREAM / "html"
SITE = "https://thecontext.net"
SEED_URLS = json.loads((OFFSTREAM / "seeds" / "seeds.json").read_text(encoding="utf-8"))
SEED = "000_0c411d6d2d5ef8ba.txt"
BOAT = "news/2018/01/1/a-boat-capsizes-in-the-north-of-indonesian-borneo-"
INDEX = "pages/48c0b44439/news/2018/02/2/index.md"

# (Markdown fixture under tests/fixtures/offstream, its path on the site)
MARKDOWN_PAGES = [
    (f"seeds/{SEED}", SEED_URLS[SEED]),
    *(
        (f"pages/{commit}/{BOAT}{slug}.md", f"/{BOAT}{slug}.md")
        for commit, slug in [
            ("a97248a8cd", "with-at-least-8-people-dead"),
            ("b2840ecad8", "leaving-at-least-8-people-dead"),
            ("960f3e7f2c", "leaving-at-least-eight-people-dead"),
        ]
    ),
    (INDEX, "/news/2018/02/2/index.md"),
]
PAGE_IDS = ["seed-000", "boat-1", "boat-2", "boat-3", "day-index"]

ARTICLE_PAGES = sorted((FIXTURES / "articles").glob("*.html"))
WIKIPEDIA_PAGES = sorted((FIXTURES / "wikipedia").glob("**/*.html"))


def _html_file(markdown_file: str) -> Path:
    """The HTML fixture written from a Markdown fixture: html/<same path>.html."""
    stem = markdown_file.rsplit(".", 1)[0]
    return HTML / f"{stem}.html"


def _html_url(markdown_url: str) -> str:
    return SITE + markdown_url.removesuffix(".md") + ".html"


def _as_md(url: str | None) -> str | None:
    """A URL with the rendition suffix put back to .md, for comparing renditions."""
    return None if url is None else re.sub(r"\.html$", ".md", url)


def _parse_markdown(markdown_file: str, markdown_url: str) -> list[Observation]:
    text = (OFFSTREAM / markdown_file).read_text(encoding="utf-8")
    return parse_offstream(text, SITE + markdown_url)


def _parse_html(markdown_file: str, markdown_url: str) -> list[Observation]:
    text = _html_file(markdown_file).read_text(encoding="utf-8")
    return parse_offstream(text, _html_url(markdown_url))


def _assert_same_history(got: list[HistoryEntry], want: list[HistoryEntry]) -> None:
    assert len(got) == len(want)
    for html_entry, md_entry in zip(got, want, strict=True):
        assert html_entry.headline == md_entry.headline
        assert html_entry.url is not None and html_entry.url.endswith(".html")
        assert _as_md(html_entry.url) == md_entry.url
        assert html_entry.reported_at == md_entry.reported_at
        assert html_entry.label == md_entry.label


def _assert_same_observations(got: list[Observation], want: list[Observation]) -> None:
    """Field by field; URLs may differ only in the .md / .html suffix."""
    assert len(got) == len(want)
    for html_obs, md_obs in zip(got, want, strict=True):
        for spec in fields(Observation):
            html_value, md_value = getattr(html_obs, spec.name), getattr(md_obs, spec.name)
            if spec.name == "url":
                assert html_value is not None and html_value.endswith(".html")
                assert _as_md(html_value) == md_value
            elif spec.name == "history":
                _assert_same_history(html_value, md_value)
            else:
                assert html_value == md_value, spec.name


# --- the fixtures: same content, same Observations -------------------------------------------


def test_every_html_fixture_has_its_markdown_page() -> None:
    written = sorted(path.relative_to(HTML).as_posix() for path in HTML.rglob("*.html"))
    expected = sorted(_html_file(file).relative_to(HTML).as_posix() for file, _ in MARKDOWN_PAGES)
    assert written == expected


@pytest.mark.parametrize(("markdown_file", "markdown_url"), MARKDOWN_PAGES, ids=PAGE_IDS)
def test_html_rendition_reads_like_markdown(markdown_file: str, markdown_url: str) -> None:
    want = _parse_markdown(markdown_file, markdown_url)
    got = _parse_html(markdown_file, markdown_url)

    assert want and all(obs.headline for obs in want)  # not two empty results
    _assert_same_observations(got, want)


def test_boat_chain_in_html() -> None:
    *_, (file, url), _index = MARKDOWN_PAGES
    [obs] = _parse_html(file, url)

    assert obs.url == _html_url(url)
    assert obs.headline == (
        "A boat capsizes in the north of Indonesian Borneo, leaving at least eight people dead."
    )
    assert obs.category == "Indonesia"
    assert obs.event_date == date(2018, 1, 1)
    assert obs.summary == (
        "Several others are missing after the vessel, whose passengers included children, "
        "sank near Borneo."
    )
    assert obs.sources == ["BBC <http://www.bbc.com/news/world-asia-42534117>"]
    assert [(e.reported_at, e.label) for e in obs.history] == [
        (datetime(2018, 1, 1, 20, 30, 5, tzinfo=UTC), "First version"),
        (datetime(2018, 1, 1, 21, 30, 5, tzinfo=UTC), "Update"),
        (None, "Current version"),
    ]
    assert obs.history[0].url == SITE + f"/{BOAT}with-at-least-8-people-dead.html"
    assert obs.history[-1].url == obs.url


def test_day_index_in_html() -> None:
    observations = _parse_html(INDEX, "/news/2018/02/2/index.md")

    assert len(observations) == 9
    assert all(o.event_date == date(2018, 2, 2) for o in observations)
    assert all(o.url and o.url.endswith(".html") for o in observations)
    mexico = observations[3]
    assert mexico.headline is not None and mexico.headline.startswith("Mexico's Secretary")
    assert mexico.summary is None
    assert mexico.tags is not None and mexico.tags[:2] == [
        "United States Secretary of State",
        "Mexico-United States relations",
    ]
    youtube = observations[1]
    assert youtube.headline is not None and '"egregious"' in youtube.headline  # &#34; unescaped


# --- tolerance: the template may differ from the assumed one ---------------------------------


def _no_main(text: str) -> str:
    return text.replace("<main", "<div").replace("</main>", "</div>")


def _shift_headings(step: int) -> Callable[[str], str]:
    """Heading levels off by one (h1, the headline, stays)."""

    def shift(text: str) -> str:
        def level(match: re.Match[str]) -> str:
            n = int(match[2])
            return f"<{match[1]}h{n + step if n > 1 else n}"

        return re.sub(r"<(/?)h([1-6])", level, text)

    return shift


def _minified(text: str) -> str:
    return re.sub(r">\s+<", "><", text)


def _upper_case_tags(text: str) -> str:
    return re.sub(r"</?[a-z][a-z0-9]*", lambda m: m[0].upper(), text)


def _noisy_markup(text: str) -> str:
    """Attributes, line breaks inside tags, other entity spellings, spaced end tags."""
    text = text.replace("<a href=", '<a\n   class="link" data-note="a > b"\n   href=')
    text = re.sub(r"</(h[1-6]|a|li|em)>", r"</\1 >", text)
    text = text.replace("&#39;", "&#x27;").replace("&#34;", "&quot;")
    text = text.replace("<li>", '<li class="entry">\n  ')
    return "\ufeff" + text.replace("\n", "\r\n")


def _divs_for_landmarks(text: str) -> str:
    """No <main>, <header> or <footer>: the site banner's <h1> is read, then set aside."""
    for tag in ("main", "header", "footer"):
        text = text.replace(f"<{tag}", "<div").replace(f"</{tag}>", "</div>")
    return text


def _links_around_headings(text: str) -> str:
    """``<a href=X><h3>T</h3></a>`` instead of ``<h3><a href=X>T</a></h3>``."""
    return re.sub(
        r'<(h[1-6])([^>]*)><a href="([^"]*)">(.*?)</a></\1>',
        r'<a href="\3"><\1\2>\4</\1></a>',
        text,
    )


def _paragraphs_in_list_items(text: str) -> str:
    return text.replace("<li>", "<li><p>").replace("</li>", "</p></li>")


def _italics(text: str) -> str:
    return text.replace("<em>", "<i>").replace("</em>", "</i>")


TRANSFORMS: dict[str, Callable[[str], str]] = {
    "no-main": _no_main,
    "headings-down": _shift_headings(1),
    "headings-up": _shift_headings(-1),
    "minified": _minified,
    "upper-case-tags": _upper_case_tags,
    "noisy-markup": _noisy_markup,
    "divs-for-landmarks": _divs_for_landmarks,
    "links-around-headings": _links_around_headings,
    "paragraphs-in-list-items": _paragraphs_in_list_items,
    "italics": _italics,
}


@pytest.mark.parametrize("transform", TRANSFORMS.values(), ids=TRANSFORMS.keys())
@pytest.mark.parametrize(("markdown_file", "markdown_url"), MARKDOWN_PAGES, ids=PAGE_IDS)
def test_template_variations_read_the_same(
    markdown_file: str, markdown_url: str, transform: Callable[[str], str]
) -> None:
    text = transform(_html_file(markdown_file).read_text(encoding="utf-8"))
    assert text != _html_file(markdown_file).read_text(encoding="utf-8")

    assert is_offstream(text)
    got = parse_offstream(text, _html_url(markdown_url))
    _assert_same_observations(got, _parse_markdown(markdown_file, markdown_url))


ODD_ITEM_PAGE = """<!doctype html>
<html><head><title>Odd template</title>
<script>document.write("<h1>Not the headline</h1>")</script>
<style>h1 { color: red }</style></head>
<body>
<div class="banner"><h1><a href="/">The Context</a></h1></div>
<nav><h3><a href="/news/2018/01/8/other.html">Menu link</a></h3></nav>
<div class="page">
  <!-- <h1>commented out</h1> -->
  <h2><a href="../9/index.html">2018-01-9</a></h2>
  <h4>Ivorian &amp; other soldiers</h4>
  <h2>  New   <span>headline</span> with &lt;angle&gt; &#8220;quotes&#8221; </h2>
  <p>First paragraph,<br>still first with <em>emphasis</em>.</p>
  <p>Second <strong>paragraph</strong>.</p>
  <h4>Sources:</h4>
  <ul>
    <li><span><a href="https://en.wikipedia.org/wiki/Foo_(bar)">Wiki</a></span></li>
    <li><a href="http://example.com/a?x=1&amp;y=2"> Example&nbsp;News </a></li>
    <li><a href="/img/cover.jpg">Cover Image</a></li>
  </ul>
  <h4>Changes:</h4>
  <ol>
    <li><a href="old-headline.html">Old   headline</a>
        <i> 2018-01-09 10:00:00 (First version) </i></li>
    <li><a href="new-headline.html">New headline with &lt;angle&gt; &#8220;quotes&#8221;</a>
        <em>(Current version)</em></li>
  </ol>
  <h4>Related:</h4>
  <ol><li><a href="/news/2017/1/1/x.html">Related item</a> <em>Context: A, B</em></li></ol>
</div>
<div class="footer"><p>CC BY-SA 3.0</p></div>
</body></html>
"""


def test_odd_item_page() -> None:
    url = "https://offstream.news/news/2018/01/9/new-headline.html"
    [obs] = parse_offstream(ODD_ITEM_PAGE, url)

    headline = "New headline with <angle> \u201cquotes\u201d"
    assert obs.headline == headline  # an <h2> headline, as the page has no other
    assert obs.event_date == date(2018, 1, 9)
    assert obs.category == "Ivorian & other soldiers"
    assert obs.summary == "First paragraph,\nstill first with _emphasis_.\n\nSecond paragraph."
    assert obs.sources == [
        "Wiki <https://en.wikipedia.org/wiki/Foo_(bar)>",
        "Example\xa0News <http://example.com/a?x=1&y=2>",
    ]
    assert obs.tags is None and obs.guid is None and obs.body is None
    assert obs.history == [
        HistoryEntry(
            "Old headline",
            "https://offstream.news/news/2018/01/9/old-headline.html",
            datetime(2018, 1, 9, 10, tzinfo=UTC),
            "First version",
        ),
        HistoryEntry(headline, url, None, "Current version"),
    ]


ODD_FRONT_PAGE = """<html><body>
<header><h1>The Context</h1><p>News, and how it was edited</p></header>
<main>
<section class="day">
  <h2 class="date"><a href="/news/2018/03/10/index.html">2018-03-10</a></h2>
  <div class="item">
    <h3><a href="/news/2018/03/10/item-one.html">Item one [sic] </a></h3>
    <p><em>Context:</em> A, B</p>
  </div>
</section>
<section class="day">
  <h2 class="date"><a href="/news/2018/03/9/index.html">2018-03-9</a></h2>
  <div class="item">
    <h6>Cat</h6>
    <h4><a href="/news/2018/03/9/item-two.html">Item two</a></h4>
    <p>Summary two.</p>
  </div>
</section>
<h2><a href="/news/2018/03/8/index.html">Previous Day...</a></h2>
<p>Not a summary of item two.</p>
</main>
<footer><p>Licence: CC BY-SA 3.0</p></footer>
</body></html>
"""


def test_odd_front_page() -> None:
    one, two = parse_offstream(ODD_FRONT_PAGE, "https://offstream.news/index.html")

    assert (one.headline, one.url, one.event_date, one.category, one.tags, one.summary) == (
        "Item one [sic]",
        "https://offstream.news/news/2018/03/10/item-one.html",
        date(2018, 3, 10),
        None,
        ["A", "B"],
        None,
    )
    assert (two.headline, two.url, two.event_date, two.category, two.tags, two.summary) == (
        "Item two",
        "https://offstream.news/news/2018/03/9/item-two.html",
        date(2018, 3, 9),
        "Cat",
        None,
        "Summary two.",
    )


def test_markdown_look_alikes_in_html_text_stay_text() -> None:
    page = (
        '<html><body><h3><a href="/news/2018/01/9/index.html">2018-01-9</a></h3>'
        "<h1>Headline</h1><p># 1 hit</p><h3>Sources:</h3></body></html>"
    )
    [obs] = parse_offstream(page, "https://offstream.news/news/2018/01/9/headline.html")

    assert obs.headline == "Headline"
    assert obs.summary == "# 1 hit"


# --- the sniff --------------------------------------------------------------------------------


@pytest.mark.parametrize(("markdown_file", "markdown_url"), MARKDOWN_PAGES, ids=PAGE_IDS)
def test_html_rendition_is_sniffed(markdown_file: str, markdown_url: str) -> None:
    text = _html_file(markdown_file).read_text(encoding="utf-8")
    url = _html_url(markdown_url)

    assert is_offstream(text)
    page = Page(url, text, text.encode(), "text/html; charset=utf-8")
    kind, observations = extract("auto", page)
    assert kind == "offstream"
    assert observations == parse_offstream(text, url)


def test_sniff_by_changes_list_alone() -> None:
    page = (
        "<html><body><h1>Headline</h1><h3>Changes:</h3><ol>"
        '<li><a href="old.html">Old</a> <em>2018-01-09 10:00:00 (First version)</em></li>'
        '<li><a href="headline.html">Headline</a> <em>(Current version)</em></li>'
        "</ol></body></html>"
    )
    assert is_offstream(page)
    [obs] = parse_offstream(page, "https://offstream.news/news/2018/01/9/headline.html")
    assert obs.headline == "Headline" and obs.event_date is None
    assert [e.label for e in obs.history] == ["First version", "Current version"]


def test_sniff_looks_past_a_long_head() -> None:
    page = _html_file(INDEX).read_text(encoding="utf-8")
    padded = page.replace("</head>", "<style>" + "p{}" * 10_000 + "</style></head>")
    assert is_offstream(padded)


@pytest.mark.parametrize(
    "path",
    ARTICLE_PAGES + WIKIPEDIA_PAGES,
    ids=lambda p: p.relative_to(FIXTURES).as_posix(),
)
def test_other_html_pages_are_not_offstream(path: Path) -> None:
    text = path.read_text(encoding="utf-8")

    assert not is_offstream(text)
    with pytest.raises(ExtractError, match="not an Offstream page"):
        parse_offstream(text, "https://example.com/page.html")


@pytest.mark.parametrize(
    ("path", "kind"),
    [
        (FIXTURES / "articles" / "newsarticle.html", "article"),
        (FIXTURES / "wikipedia" / "day-2017-03-02" / "1.html", "wikipedia"),
        (FIXTURES / "wikipedia" / "front" / "portal.html", "wikipedia"),
    ],
    ids=["article", "wikipedia-day", "wikipedia-front"],
)
def test_auto_does_not_take_other_html_for_offstream(path: Path, kind: str) -> None:
    text = path.read_text(encoding="utf-8")
    page = Page("https://example.com/page.html", text, text.encode(), "text/html")
    assert extract("auto", page)[0] == kind


@pytest.mark.parametrize(
    "text",
    [
        "<html><body><h1>News</h1><p>2018-02-2</p></body></html>",
        # a blog's date heading: no day index link
        '<html><body><h2><a href="/2018/02/02/">2018-02-02</a></h2><h1>Post</h1></body></html>',
        # the date link is not a heading
        '<html><body><p><a href="/news/2018/02/2/index.html">2018-02-2</a></p></body></html>',
        # a "Changes:" heading without the Current version entry
        "<html><body><h1>Release notes</h1><h3>Changes:</h3><ul><li>x</li></ul></body></html>",
        "",
        "# Just Markdown\n\ntext\n",
    ],
    ids=["plain", "blog-date", "date-not-heading", "changes-only", "empty", "markdown"],
)
def test_not_sniffed(text: str) -> None:
    assert not is_offstream(text)


# --- not an Offstream page --------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "<html></html>",
        "<!doctype html><html><body><h1>Only a headline</h1><p>Text.</p></body></html>",
        '<?xml version="1.0"?><item><headline>A boat capsizes</headline></item>',
        '<html><body><h3><a href="/news/2018/01/1/index.html">2018-01-1</a></h3>'
        "<p>no headline</p></body></html>",
        '<html><body><h3><a href="/news/2018/01/1/index.html">2018-01-1',
        "<html><body><nav><h1>Headline</h1>"
        '<h3><a href="/news/2018/01/1/index.html">2018-01-1</a></h3></nav></body></html>',
        "<div>\x00\x01<<<>>>&#xffffffff;</div>",
    ],
    ids=["empty", "headline-only", "xml", "no-headline", "truncated", "all-in-nav", "junk"],
)
def test_garbage_raises(text: str) -> None:
    with pytest.raises(ExtractError, match="not an Offstream page"):
        parse_offstream(text, "https://offstream.news/news/2018/01/1/x.html")


@pytest.mark.parametrize(
    "text",
    [
        "<html>" + '<h1 "' * 20_000,
        "<html>" + "<h2 a='>' " * 10_000,
        "<html>" + '<a b="x" ' * 10_000,
        "<html>" + '<h2><a href="/2018/01/1/index.html' * 3_000,
        "<html>" + "<div>" * 50_000 + "<h3>x</h3>",
        "<html>" + "<ul><li><em><a href=x>" * 20_000,
    ],
    ids=["open-quotes", "gt-in-attributes", "attributes", "open-links", "deep", "deep-inline"],
)
def test_hostile_html_is_refused_quickly(text: str) -> None:
    started = time.perf_counter()
    assert not is_offstream(text)
    with pytest.raises(ExtractError, match="not an Offstream page"):
        parse_offstream(text, "https://offstream.news/news/x.html")
    assert time.perf_counter() - started < 2  # linear: milliseconds, not minutes
