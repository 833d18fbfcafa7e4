"""Article pages: one news article per page, its main text read with trafilatura.

The page is one item. Its fields:

* ``headline``: the page's declared title (``og:title``, else a JSON-LD ``Article``
  headline, else the page's only ``<h1>``, else ``<title>``, else trafilatura's guess),
  with a trailing ``" | Site name"`` taken off only when it is the page's ``og:site_name``;
* ``summary``: ``<meta name="description">``, else ``og:description``, else the JSON-LD
  description;
* ``body``: the main text as trafilatura finds it in precision mode, reader comments
  left out (``include_comments=False``), one paragraph per block, separated by a blank
  line. Navigation, sidebars, share buttons, related stories, cookie banners, comment
  counts and footers are trafilatura's to drop; what it keeps of the article (headings,
  list items, quotes) stays;
* ``event_date``: ``article:published_time``, else the JSON-LD ``datePublished``, as a UTC
  date like the feed extractor's (a page dated 21:40 on 21 May at -04:00 is the 22nd),
  else trafilatura's (htmldate's) date from the markup, without its free-text search,
  which takes a footer's "© 2026" for 1 January;
* ``tags``: ``article:tag``, else JSON-LD ``keywords``, else ``keywords`` /
  ``news_keywords`` meta, else ``rel="tag"`` links (not ``rel="category tag"``);
* ``category``: ``article:section``, else the JSON-LD ``articleSection``;
* ``url``: the page's own URL (a ``<link rel="canonical">`` is not used: identity code
  deals with aliases); ``guid`` and ``sources`` are None.

A page whose main text has no paragraph of prose (at least ``MIN_PARAGRAPH`` characters),
such as a sign-in form or an index of links, is an ExtractError.

trafilatura is only ever handed a parsed lxml tree, never a URL or a file name: it
fetches nothing and opens nothing. The tree comes from the page's text decoded the way a
browser would: the HTTP charset (as ``Page.text`` already is), else a byte-order mark or
a ``<meta charset>`` in the first bytes, else UTF-8, else windows-1252. Given bytes,
trafilatura would decode them itself, but it ignores ``<meta charset>`` and guesses with
charset_normalizer instead, which can misread a short Latin-1 page.
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

import lxml.html
import trafilatura
from lxml.etree import ParserError

from tracker.errors import ExtractError
from tracker.extract.base import Observation, Page
from tracker.normalise import sanitise_text

MIN_PARAGRAPH = 80  # characters: shorter than any article's longest paragraph

_SNIFF_CHARS = 2048
_SNIFF_RE = re.compile(
    r"\A\s*(?:<\?xml[^>]*>\s*)?(?:<!--.*?-->\s*)*(?:<!doctype\s+html[\s>]|<html[\s>])",
    re.IGNORECASE | re.DOTALL,
)
_HTML_TYPES = ("text/html", "application/xhtml+xml")
_XML_DECLARATION = re.compile(r"\A\s*<\?xml[^>]*>")
# The first element of a document, after any XML declaration, comments and doctype.
_ROOT_RE = re.compile(
    r"\A\s*(?:<\?[^>]*>\s*|<!--.*?-->\s*|<!doctype[^>]*>\s*)*<([A-Za-z][\w:.-]*)",
    re.IGNORECASE | re.DOTALL,
)
_META_CHARSET = re.compile(
    rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""",
    re.IGNORECASE,
)
_PRESCAN_BYTES = 4096
_BOMS = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
# Separators between a headline and the site's name in a title: "Headline | Site".
_SEPARATORS = "|-–—:·•»/"
_SCRIPT_OR_STYLE = re.compile(r"<(script|style)\b.*?(?:</\1\s*>|\Z)", re.IGNORECASE | re.DOTALL)
_TAG = re.compile(r"</?[A-Za-z][^<>]*>")
_ARTICLE_TYPES = frozenset({"article", "blogposting", "liveblogposting", "report"})


def is_article(page: Page) -> bool:
    """Cheap sniff: is this an HTML document? (The catch-all: register it last.)"""
    content_type = (page.content_type or "").split(";")[0].strip().lower()
    if content_type in _HTML_TYPES:
        return True
    return bool(_SNIFF_RE.match(page.text[:_SNIFF_CHARS].lstrip("\ufeff")))


def parse_article(page: Page) -> list[Observation]:
    """The page as one Observation; ExtractError when it holds no article text."""
    tree = _parse(page)
    meta = _Meta(tree)
    document = trafilatura.bare_extraction(
        tree,  # a tree: trafilatura works on a copy and never fetches anything
        url=page.url,
        favor_precision=True,
        include_comments=False,
        include_tables=True,
        include_images=False,
        include_links=False,
        with_metadata=True,
        date_extraction_params={"original_date": True, "extensive_search": False},
    )
    if document is None:
        raise ExtractError(f"no article text found at {page.url}")
    headline = _headline(meta, document.title)
    paragraphs = _paragraphs(document.text or "")
    if paragraphs and headline and _one_line(paragraphs[0]) == headline:
        paragraphs.pop(0)  # the headline repeated as the text's first line
    if not any(len(paragraph) >= MIN_PARAGRAPH for paragraph in paragraphs):
        raise ExtractError(f"no article text found at {page.url}")
    return [
        Observation(
            url=page.url,
            headline=headline,
            summary=_first(
                meta.get("description"), meta.og("description"), _first_text(meta.ld("description"))
            ),
            category=_first(meta.og("article:section"), _first_text(meta.ld("articleSection"))),
            tags=_tags(meta),
            body="\n\n".join(paragraphs),
            event_date=_event_date(meta, document.date),
        )
    ]


# --- the page as a tree -----------------------------------------------------------------------


def _parse(page: Page) -> lxml.html.HtmlElement:
    text = _decoded(page)
    root = _ROOT_RE.match(text[:_SNIFF_CHARS].lstrip("\ufeff"))
    name = root.group(1).lower() if root else "html"
    if name != "html" and (
        ":" in name or name in ("rss", "feed") or text.lstrip().startswith("<?xml")
    ):
        raise ExtractError(f"not an HTML page at {page.url}: an XML document with a <{name}> root")
    # lxml refuses a str that keeps its XML declaration (the text is decoded already).
    text = _XML_DECLARATION.sub("", text.lstrip("\ufeff"), count=1)
    # One control character anywhere makes trafilatura give up on the whole page (lxml
    # will not serialise it), so they go before parsing, as they would after.
    text = sanitise_text(text)
    try:
        # libxml2's HTML parser: no network, no entities to resolve, nesting capped.
        tree = lxml.html.document_fromstring(text)
    except (ParserError, ValueError) as error:
        raise ExtractError(f"no article text found at {page.url}: not HTML ({error})") from None
    return tree


def _decoded(page: Page) -> str:
    """The page's text, decoded as a browser would when the HTTP header names no charset."""
    body = page.body
    if not body:
        return page.text
    for bom, encoding in _BOMS:
        if body.startswith(bom):
            return body[len(bom) :].decode(encoding, errors="replace")
    if "charset=" in (page.content_type or "").lower():
        return page.text
    declared = _META_CHARSET.search(body[:_PRESCAN_BYTES])
    if declared:
        try:
            encoding = codecs.lookup(declared.group(1).decode("ascii")).name
        except LookupError:
            encoding = ""
        if encoding and not encoding.startswith("utf-16"):  # a meta tag read as ASCII is no UTF-16
            try:
                return body.decode(encoding, errors="replace")
            except (LookupError, UnicodeError):
                pass  # a codec that is no text encoding ("hex", "rot13") or refuses "replace"
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        return body.decode("windows-1252", errors="replace")


class _Meta:
    """The metadata a page declares: <meta> tags, <title>, <h1>, JSON-LD, rel="tag" links."""

    def __init__(self, tree: lxml.html.HtmlElement) -> None:
        self.tree = tree
        self.values: dict[str, list[str]] = {}
        for element in tree.iter("meta"):
            key = (element.get("property") or element.get("name") or "").strip().lower()
            content = _one_line(_plain(element.get("content") or ""))
            if key and content:
                self.values.setdefault(key, []).append(content)
        self.article = _json_ld_article(tree)

    def get(self, key: str) -> str | None:
        found = self.values.get(key)
        return found[0] if found else None

    def og(self, key: str) -> str | None:
        """An Open Graph property (``og:`` is added unless the key has a prefix)."""
        return self.get(key if ":" in key else f"og:{key}")

    def all(self, key: str) -> list[str]:
        return self.values.get(key, [])

    def ld(self, key: str) -> Any:
        return self.article.get(key) if self.article else None

    def title_element(self) -> str | None:
        title = self.tree.find(".//title")
        return None if title is None else _element_text(title)

    def only_h1(self) -> str | None:
        headings = self.tree.findall(".//h1")
        return _element_text(headings[0]) if len(headings) == 1 else None

    def rel_tags(self) -> list[str]:
        found = []
        for link in self.tree.iter("a"):
            rel = (link.get("rel") or "").lower().split()
            if "tag" in rel and "category" not in rel:
                found.append(_element_text(link) or "")
        return found


def _json_ld_article(tree: lxml.html.HtmlElement) -> dict[str, Any] | None:
    """The first JSON-LD object of an Article type (NewsArticle, BlogPosting ...)."""
    for script in tree.iter("script"):
        if (script.get("type") or "").strip().lower() != "application/ld+json":
            continue
        try:
            data = json.loads(script.text or "")
        except (ValueError, RecursionError):
            continue
        for candidate in _json_objects(data):
            types = candidate.get("@type")
            names = [types] if isinstance(types, str) else types if isinstance(types, list) else []
            if any(isinstance(n, str) and _is_article_type(n) for n in names):
                return candidate
    return None


def _json_objects(data: Any, depth: int = 0) -> Iterator[dict[str, Any]]:
    """Objects at the top of a JSON-LD document, in a list or an @graph."""
    if depth > 3:
        return
    if isinstance(data, list):
        for entry in data:
            yield from _json_objects(entry, depth + 1)
    elif isinstance(data, dict):
        yield data
        yield from _json_objects(data.get("@graph"), depth + 1)


def _is_article_type(name: str) -> bool:
    name = name.rsplit("/", 1)[-1].lower()
    return name.endswith("article") or name in _ARTICLE_TYPES


# --- fields -----------------------------------------------------------------------------------


def _headline(meta: _Meta, trafilatura_title: str | None) -> str | None:
    title = _first(
        meta.og("title"),
        _first_text(meta.ld("headline")),
        meta.only_h1(),
        meta.title_element(),
        _one_line(_plain(trafilatura_title or "")),
    )
    site = meta.og("site_name")
    if title and site:
        title = _without_site_name(title, site)
    return title


def _without_site_name(title: str, site: str) -> str:
    """The title without a trailing " | Site" when Site is the page's og:site_name."""
    if not title.casefold().endswith(site.casefold()):
        return title
    rest = title[: len(title) - len(site)].rstrip()
    if rest and rest[-1] in _SEPARATORS and rest[:-1].strip():
        return rest[:-1].strip()
    return title


def _paragraphs(text: str) -> list[str]:
    """trafilatura's text, one block a line, as whitespace-collapsed paragraphs."""
    found = (_one_line(line) for line in text.splitlines())
    return [line for line in found if line]


def _tags(meta: _Meta) -> list[str] | None:
    candidates: list[list[str]] = [
        meta.all("article:tag"),
        _keywords(meta.ld("keywords")),
        _keywords(meta.get("keywords") or meta.get("news_keywords")),
        meta.rel_tags(),
    ]
    for found in candidates:
        tags = dict.fromkeys(_one_line(_plain(tag)) for tag in found)
        tags.pop("", None)
        if tags:
            return list(tags)
    return None


def _keywords(value: Any) -> list[str]:
    """JSON-LD keywords (a list, or a comma-separated string) or a keywords meta tag."""
    if isinstance(value, str):
        return value.split(",")
    if isinstance(value, list):
        return [entry for entry in value if isinstance(entry, str)]
    return []


def _event_date(meta: _Meta, trafilatura_date: str | None) -> date | None:
    for value in (meta.og("article:published_time"), _first_text(meta.ld("datePublished"))):
        parsed = _parse_date(value)
        if parsed is not None:
            return parsed
    return _parse_date(trafilatura_date)


def _parse_date(value: str | None) -> date | None:
    """An ISO 8601 date or time as a date; an aware time is taken to UTC first."""
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    if moment.tzinfo is not None:
        try:
            moment = moment.astimezone(UTC)
        except OverflowError:  # 0001-01-01T00:00+05:00 is before year 1 in UTC
            return None
    return moment.date()


# --- text -------------------------------------------------------------------------------------


def _element_text(element: lxml.html.HtmlElement) -> str | None:
    """An element's text, without what any <script> or <style> inside it holds."""
    return _one_line(_plain(" ".join(_texts(element)))) or None


def _texts(node: lxml.html.HtmlElement) -> Iterator[str]:
    if not isinstance(node.tag, str) or node.tag in ("script", "style"):
        return  # a comment, a processing instruction, or code
    if node.text:
        yield node.text
    for child in node:
        yield from _texts(child)
        if child.tail:
            yield child.tail


def _plain(text: str) -> str:
    """Text with anything that looks like markup taken out (scripts with their content)."""
    return _TAG.sub(" ", _SCRIPT_OR_STYLE.sub(" ", text))


def _first(*values: str | None) -> str | None:
    return next((value for value in values if value), None)


def _first_text(value: Any) -> str | None:
    """A JSON-LD value as one line of plain text (the first, if it is a list)."""
    if isinstance(value, list):
        value = next((entry for entry in value if isinstance(entry, str)), None)
    if not isinstance(value, str):
        return None
    return _one_line(_plain(value)) or None


def _one_line(text: str) -> str:
    return " ".join(text.split())
