"""Fuzzing: whatever a page holds, an extractor returns Observations that are safe to store
or raises the project's ExtractError; and the diff and the normaliser return, or raise a
RedlineError. Never another exception.

Arbitrary text and bytes rarely get past a parser's first step, so there are also
documents built near-valid (JSON, CSV, RSS/Atom, Markdown, HTML with random content and
random damage) and real fixture pages mutated at random. Each test runs a bounded number
of examples, a few seconds.
"""

from __future__ import annotations

import csv
import io
import json
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tracker.compare.diff import (
    MAX_DIFF_TOKENS,
    diff_fields,
    diff_text,
    new_text,
    old_text,
    patch_text,
    similarity,
)
from tracker.errors import ExtractError, RedlineError
from tracker.extract import KINDS, Page, extract
from tracker.normalise import clean_text, content_hash, normalise_text, sanitise_text

from .conftest import FIXTURES
from .test_hostile_extract import UNSAFE, assert_sane

PAGE_URL = "https://news.example/news/2017/03/2/page.md"
CONTENT_TYPES = [
    None,
    "text/html; charset=utf-8",
    "application/json",
    "text/csv",
    "application/rss+xml",
    "text/markdown; charset=utf-8",
    "text/plain; charset=iso-8859-1",
]
# Hypothesis draws examples fast; trafilatura takes tens of milliseconds a page.
FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SLOW = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Any code point, lone surrogates included (st.text() leaves them out).
any_char = st.characters(exclude_categories=())
any_text = st.text(any_char)
# Pieces a parser cares about: markup, references, brackets, separators, controls, odd
# Unicode; and plain words.
SPICY = [
    *"<>&;#\"'[]()_*-:,/.=?!| \t\n\r\x00\x01\x0b\x85\u202e\u200d\u0301\ud800\ufeff",
    "&#", "&#x", "D800", "55296", "110000", "&amp;", "&lt;", "&nbsp;", "<![CDATA[", "]]>",
    "<!--", "-->", "](", "<a href=", "<br>", "</p>", "\\u0000", "https://", "//", ":99999",
    "http://[", "[::1]",
    "word", "bridge", " closed ", "2017-03-2", "(Current version)",
]  # fmt: skip
spicy_text = st.lists(st.one_of(st.sampled_from(SPICY), st.characters()), max_size=12).map("".join)


def check_extract(kind: str, page: Page) -> None:
    """The one property: Observations safe to store, or a one-line ExtractError."""
    started = time.perf_counter()
    try:
        _, observations = extract(kind, page)
    except ExtractError as error:
        message = str(error)
        assert message and "\n" not in message and not UNSAFE.search(message), message
    else:
        assert isinstance(observations, list)
        assert_sane(observations)
    assert time.perf_counter() - started < 20, "an extraction took far too long"


def page_of(text: str, content_type: str | None, body: bytes | None = None) -> Page:
    if body is None:
        body = text.encode("utf-8", "surrogatepass")  # bytes that are no UTF-8, too
    return Page(PAGE_URL, text, body, content_type, {})


# --- anything at all ----------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
@FAST
@given(text=any_text, content_type=st.sampled_from(CONTENT_TYPES))
def test_any_text(kind: str, text: str, content_type: str | None) -> None:
    check_extract(kind, page_of(text, content_type))


@pytest.mark.parametrize("kind", KINDS)
@FAST
@given(body=st.binary(max_size=2000), content_type=st.sampled_from(CONTENT_TYPES))
def test_any_bytes(kind: str, body: bytes, content_type: str | None) -> None:
    check_extract(kind, page_of(body.decode("utf-8", "replace"), content_type, body))


@pytest.mark.parametrize("kind", ["listing"])
@FAST
@given(
    text=st.text(any_char, max_size=200),
    items=st.one_of(st.none(), spicy_text),
    field_map=st.dictionaries(
        st.sampled_from(["id", "headline", "summary", "url", "updated", "tags", "category"]),
        spicy_text,
        max_size=3,
    ),
)
def test_any_listing_options(
    kind: str, text: str, items: str | None, field_map: dict[str, str]
) -> None:
    options = {"map": field_map, **({"items": items} if items else {})}
    check_extract(kind, Page(PAGE_URL, text, b"", "application/json", options))


# --- near-valid documents ----------------------------------------------------------------

FIELD_NAMES = [
    "id", "guid", "title", "headline", "summary", "description", "url", "link", "href",
    "updated", "published", "tags", "categories", "category", "section", "body", "content",
]  # fmt: skip
json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    any_text,
    spicy_text,
    st.sampled_from(["https://news.example/a", "/a", "//x", "http://[::1", "2026-01-02T03:04Z"]),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(st.sampled_from(FIELD_NAMES), any_text), inner, max_size=4),
    ),
    max_leaves=20,
)
records = st.lists(
    st.one_of(
        st.dictionaries(
            st.sampled_from(FIELD_NAMES), st.one_of(spicy_text, json_values), max_size=8
        ),
        json_values,
    ),
    max_size=6,
)


@st.composite
def damaged(draw: st.DrawFn, text: str) -> str:
    """The text, or the text cut short, or with a piece cut out or put in."""
    how = draw(st.sampled_from(["whole", "whole", "whole", "cut", "hole", "insert"]))
    if how == "whole" or not text:
        return text
    at = draw(st.integers(0, len(text)))
    if how == "cut":
        return text[:at]
    if how == "hole":
        return text[:at] + text[at + draw(st.integers(1, 20)) :]
    return text[:at] + draw(spicy_text) + text[at:]


@st.composite
def json_listings(draw: st.DrawFn) -> str:
    data = draw(
        st.one_of(
            records,
            st.dictionaries(st.sampled_from(["items", "data", "x"]), records, max_size=2),
            json_values,
        )
    )
    text = json.dumps(data, ensure_ascii=draw(st.booleans()))
    return draw(damaged(text))


@st.composite
def csv_listings(draw: st.DrawFn) -> str:
    header = draw(st.lists(st.sampled_from([*FIELD_NAMES, "x"]), min_size=1, max_size=6))
    rows = draw(st.lists(st.lists(spicy_text, max_size=len(header) + 2), max_size=6))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator=draw(st.sampled_from(["\n", "\r\n", "\r"])))
    writer.writerow(header)
    writer.writerows(rows)
    return draw(damaged(out.getvalue()))


def xml_text(draw: st.DrawFn) -> str:
    """Element content: escaped, raw (markup characters and all) or in CDATA."""
    text = draw(spicy_text)
    way = draw(st.sampled_from(["escaped", "raw", "cdata", "html"]))
    if way == "escaped":
        return text.replace("&", "&amp;").replace("<", "&lt;")
    if way == "cdata":
        return f"<![CDATA[{text}]]>"
    if way == "html":
        return f"&lt;p&gt;{text.replace('&', '&amp;').replace('<', '&lt;')}&lt;/p&gt;"
    return text


@st.composite
def feeds(draw: st.DrawFn) -> str:
    atom = draw(st.booleans())
    names = ["id", "title", "summary", "updated", "category"] if atom else [
        "guid", "title", "link", "description", "pubDate", "category", "dc:date",
    ]  # fmt: skip
    entries = []
    for _ in range(draw(st.integers(0, 4))):
        fields = []
        for name in draw(st.lists(st.sampled_from(names), max_size=6)):
            fields.append(f"<{name}>{xml_text(draw)}</{name}>")
        if atom and draw(st.booleans()):
            fields.append(f'<link href="{xml_text(draw)}"/>')
        tag = "entry" if atom else "item"
        entries.append(f"<{tag}>{''.join(fields)}</{tag}>")
    doctype = draw(
        st.sampled_from(
            [
                "",
                '<!DOCTYPE rss [<!ENTITY a "A">]>',
                '<!DOCTYPE rss [\n<!ENTITY b "&a;&a;">\n<!ENTITY a SYSTEM "file:///etc/passwd">]>',
                '<!DOCTYPE rss PUBLIC "-//Netscape Communications//DTD RSS 0.91//EN" "x.dtd">',
            ]
        )
    )
    if atom:
        body = (
            f'<feed xmlns="http://www.w3.org/2005/Atom"><title>t</title>{"".join(entries)}</feed>'
        )
    else:
        body = f'<rss version="2.0"><channel><title>t</title>{"".join(entries)}</channel></rss>'
    encoding = draw(st.sampled_from(["utf-8", "iso-8859-1", "utf-16", "bogus"]))
    return draw(damaged(f'<?xml version="1.0" encoding="{encoding}"?>{doctype}{body}'))


@st.composite
def offstream_markdown(draw: st.DrawFn) -> str:
    t = draw
    lines = []
    templates = [
        lambda: f"# {t(spicy_text)}",
        lambda: f"##### {t(spicy_text)}",
        lambda: f"### [{t(spicy_text)}]({t(spicy_text)})",
        lambda: f"## [{t(st.sampled_from(['2017-03-2', '2017-13-45', '0000-00-00']))}](/i.md)",
        lambda: "### " + t(st.sampled_from(["Sources:", "Source:", "Changes:", "Related:"])),
        lambda: f"{t(st.sampled_from(['1.', '-', '*', '2)']))} [{t(spicy_text)}]({t(spicy_text)})",
        lambda: f"1. [{t(spicy_text)}](/x.md) _{t(spicy_text)} ({t(spicy_text)})_",
        lambda: f"_Context: {t(spicy_text)}_",
        lambda: f"Formats: [HTML]({t(spicy_text)})",
        lambda: t(spicy_text),
    ]
    for _ in range(t(st.integers(0, 12))):
        lines.append(t(st.sampled_from(templates))())
    return t(damaged("\n".join(lines)))


HTML_TAGS = ["div", "ul", "li", "p", "b", "span", "h1", "h3", "h5", "article", "main", "ol", "em"]


@st.composite
def html_fragments(draw: st.DrawFn, depth: int = 0) -> str:
    parts = []
    for _ in range(draw(st.integers(0, 4 if depth < 3 else 0))):
        kind = draw(st.sampled_from(["text", "element", "link", "meta"]))
        if kind == "text":
            parts.append(draw(spicy_text).replace("<", "&lt;"))
        elif kind == "link":
            href = draw(st.one_of(spicy_text, st.just("https://news.example/s")))
            css = draw(st.sampled_from(["external text", "extiw", ""]))
            parts.append(f'<a class="{css}" href="{href}">{draw(spicy_text)}</a>')
        elif kind == "meta":
            name = draw(st.sampled_from(["og:title", "description", "article:tag", "keywords"]))
            parts.append(f'<meta property="{name}" content="{draw(spicy_text)}">')
        else:
            tag = draw(st.sampled_from(HTML_TAGS))
            classes = draw(st.sampled_from(["", "current-events-content", "summary", "bday"]))
            inner = draw(html_fragments(depth + 1))
            parts.append(f'<{tag} class="{classes}">{inner}</{tag}>')
    return "".join(parts)


@st.composite
def html_pages(draw: st.DrawFn) -> str:
    title = draw(st.sampled_from(["Portal:Current events/2017 March 2", "News"]))
    prose = draw(st.sampled_from(["", "<p>" + "A sentence of plain prose, long enough. " * 3]))
    date = '<h3><a href="/news/2017/03/2/index.html">2017-03-2</a></h3>'
    heading = draw(st.sampled_from(["", date]))
    body = f"{heading}{draw(html_fragments())}{prose}"
    page = f"<!doctype html><html><head><title>{title}</title></head><body>{body}</body></html>"
    return draw(damaged(page))


@st.composite
def offstream_html(draw: st.DrawFn) -> str:
    """The HTML rendition: date heading, category, headline, summary, Sources, Changes."""
    t = draw
    sources = [
        f'<li><a href="{t(spicy_text)}">{t(spicy_text)}</a></li>'
        for _ in range(t(st.integers(0, 3)))
    ]
    changes = [
        f'<li><a href="/x.html">{t(spicy_text)}</a> <em>{t(spicy_text)} ({t(spicy_text)})</em></li>'
        for _ in range(t(st.integers(0, 3)))
    ]
    parts = [
        '<h3><a href="/news/2017/03/2/index.html">2017-03-2</a></h3>',
        f"<h5>{t(spicy_text)}</h5><h1>{t(spicy_text)}</h1><p>{t(spicy_text)}</p>",
        f"<h3>Sources:</h3><ol>{''.join(sources)}</ol>",
        f"<h3>Changes:</h3><ol>{''.join(changes)}</ol>",
    ]
    kept = [part for part in parts if t(st.integers(0, 4))]  # each, four times in five
    page = f"<html><body><main>{''.join(kept)}{t(html_fragments())}</main></body></html>"
    return t(damaged(page))


@st.composite
def bullets(draw: st.DrawFn, depth: int = 0) -> str:
    items = []
    for _ in range(draw(st.integers(1 if depth == 0 else 0, 3))):
        text = draw(spicy_text).replace("<", "&lt;")
        cite = draw(st.sampled_from(["", '<a class="external text" href="https://news.example/s">(S)</a>',
                                     '(<a class="external" href="//news.example/t">T</a>)',
                                     '<a href="/wiki/Topic">Topic</a>']))  # fmt: skip
        nested = draw(bullets(depth + 1)) if depth < 3 and draw(st.booleans()) else ""
        items.append(f"<li>{text} {cite}{nested}</li>")
    return f"<ul>{''.join(items)}</ul>"


@st.composite
def wikipedia_html(draw: st.DrawFn) -> str:
    """Day blocks of section headers and nested bullets with citations."""
    blocks = []
    for _ in range(draw(st.integers(1, 3))):
        header = f"<p><b>{draw(spicy_text)}</b></p>" if draw(st.booleans()) else ""
        day = draw(st.sampled_from(["2017-03-02", "2017-13-45", draw(spicy_text)]))
        blocks.append(
            f'<div class="current-events-main vevent"><span class="bday dtstart">{day}</span>'
            f'<div class="current-events-content description">{header}{draw(bullets())}'
            "</div></div>"
        )
    page = f"<html><head><title>Portal:Current events</title></head><body>{''.join(blocks)}"
    return draw(damaged(page + "</body></html>"))


STRUCTURED = [
    ("listing", json_listings(), "application/json"),
    ("listing", csv_listings(), "text/csv"),
    ("feed", feeds(), "application/xml"),
    ("offstream", offstream_markdown(), "text/markdown"),
    ("offstream", offstream_html(), "text/html"),
    ("wikipedia", wikipedia_html(), "text/html"),
]


@pytest.mark.parametrize(
    ("kind", "documents", "content_type"),
    STRUCTURED,
    ids=["json", "csv", "feed", "markdown", "offstream-html", "wikipedia-html"],
)
@FAST
@given(data=st.data(), auto=st.booleans())
def test_near_valid_documents(
    kind: str, documents: st.SearchStrategy[str], content_type: str, data: st.DataObject, auto: bool
) -> None:
    text = data.draw(documents)
    check_extract("auto" if auto else kind, page_of(text, content_type))


@SLOW
@given(document=html_pages())
def test_near_valid_articles(document: str) -> None:
    check_extract("article", page_of(document, "text/html"))


# --- real pages, damaged ------------------------------------------------------------------

SEEDS = [
    ("feed", "feeds/rss2/1.xml", "application/rss+xml"),
    ("feed", "feeds/atom/1.xml", "application/atom+xml"),
    ("feed", "feeds/rdf/1.xml", "application/rdf+xml"),
    ("listing", "listings/api-1.json", "application/json"),
    ("listing", "listings/frontpage-1.csv", "text/csv"),
    ("offstream", "offstream/seeds/000_0c411d6d2d5ef8ba.txt", "text/markdown"),
    ("offstream", "offstream/html/seeds/000_0c411d6d2d5ef8ba.html", "text/html"),
    ("wikipedia", "wikipedia/day-2017-03-02/1.html", "text/html"),
]


@st.composite
def mutated(draw: st.DrawFn, text: str) -> str:
    """A few random cuts, holes and insertions anywhere in the text."""
    for _ in range(draw(st.integers(1, 4))):
        text = draw(damaged(text))
    return text


@pytest.mark.parametrize(("kind", "path", "content_type"), SEEDS, ids=[p for _, p, _ in SEEDS])
@FAST
@given(data=st.data())
def test_damaged_real_pages(kind: str, path: str, content_type: str, data: st.DataObject) -> None:
    original = (FIXTURES / path).read_text(encoding="utf-8")
    check_extract(kind, page_of(data.draw(mutated(original)), content_type))


@SLOW
@given(data=st.data())
def test_damaged_real_articles(data: st.DataObject) -> None:
    original = (FIXTURES / "articles" / "section-index.html").read_text(encoding="utf-8")
    check_extract("article", page_of(data.draw(mutated(original)), "text/html"))


# --- the diff and the normaliser -----------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(old=any_text, new=any_text)
def test_diff_of_any_unicode(old: str, new: str) -> None:
    """Lone surrogates and NULs included: the diff is exact; a patch is written or refused
    with a RedlineError (its format has no room for a lone surrogate)."""
    ops = diff_text(old, new)
    assert old_text(ops) == old and new_text(ops) == new
    assert 0.0 <= similarity(ops) <= 1.0
    try:
        patch = patch_text(old, new)
    except RedlineError:
        assert any(0xD800 <= ord(c) <= 0xDFFF for c in old + new)
    else:
        assert isinstance(patch, str)


@settings(max_examples=200, deadline=None)
@given(
    old=st.dictionaries(
        st.sampled_from(["headline", "tags"]), st.one_of(any_text, st.lists(any_text))
    ),
    new=st.dictionaries(
        st.sampled_from(["headline", "tags"]), st.one_of(any_text, st.lists(any_text))
    ),
)
def test_field_diff_of_any_values(old: dict, new: dict) -> None:
    for name, ops in diff_fields(old, new).items():
        assert name in old and name in new
        assert all(op in (-1, 0, 1) and isinstance(text, str) for op, text in ops)


@settings(max_examples=300, deadline=None)
@given(text=any_text)
def test_normaliser_on_any_unicode(text: str) -> None:
    cleaned = clean_text(text)
    assert cleaned is None or (cleaned == cleaned.strip() and not UNSAFE.search(cleaned))
    assert sanitise_text(sanitise_text(text)) == sanitise_text(text)  # nothing left to take out
    normalise_text(text)
    content_hash({"headline": text, "tags": [text], "body": cleaned})


def words(count: int, prefix: str) -> str:
    return " ".join(f"{prefix}{i}" for i in range(count))


@pytest.mark.parametrize(
    ("old", "new"),
    [
        pytest.param(words(400_000, "a"), words(400_000, "b"), id="rewritten, 5 MB"),
        pytest.param(
            "x " * 1_500_000, ("x " * 1_500_000).replace("x", "y", 1), id="3 MB of one word"
        ),
        pytest.param(
            words(600_000, "w"), words(600_000, "v"), id="more distinct words than code points"
        ),
    ],
)
def test_diff_of_huge_texts_is_exact_and_bounded(old: str, new: str) -> None:
    started = time.perf_counter()
    ops = diff_text(old, new)
    seconds = time.perf_counter() - started
    print(f"diff of {len(old) / 1e6:.1f} MB and {len(new) / 1e6:.1f} MB: {seconds:.1f} s")
    assert old_text(ops) == old and new_text(ops) == new
    assert seconds < 60


@pytest.mark.slow  # over 2.5 s (--durations, 2026-12-07): left out by `make quick`
def test_huge_texts_with_a_few_edits_keep_their_word_diff() -> None:
    old = words(300_000, "w")
    tokens = old.split(" ")
    tokens[10] = "changed"
    tokens[150_000] = "edited"
    new = " ".join([*tokens, "appended"])
    assert len(old) + len(new) > MAX_DIFF_TOKENS * 2
    ops = diff_text(old, new)
    assert [(op, text) for op, text in ops if op] == [
        (-1, "w10"),
        (1, "changed"),
        (-1, "w150000"),
        (1, "edited"),
        (1, " appended"),
    ]
