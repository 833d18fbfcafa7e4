"""RSS (0.9x, 1.0, 2.0) and Atom feeds, read with feedparser: each entry is an item.

feedparser is only ever handed the page's bytes in a BytesIO: given a plain string it
would treat one that looks like a URL or a file name as something to fetch or open.
Its own defences stay on: HTML is sanitised, a DOCTYPE's external entities are dropped
and never resolved, and expat limits entity expansion.
"""

from __future__ import annotations

import io
import re
import time
from datetime import date
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import feedparser

from tracker.errors import ExtractError
from tracker.extract.base import Observation

_SNIFF_CHARS = 4096
_SNIFF_RE = re.compile(
    r"<rss[\s>]"  # RSS 0.9x and 2.0
    r"|<rdf:RDF[\s>]"  # RSS 1.0
    # Atom 1.0 (or 0.3): a <feed> root declaring the Atom namespace.
    r"|<(?:\w+:)?feed\b[^>]*\bxmlns(?::\w+)?\s*=\s*[\"']"
    r"http://(?:www\.w3\.org/2005/Atom|purl\.org/atom/ns#)",
    re.IGNORECASE,
)
# Elements that end a paragraph when HTML is turned into plain text.
_BLOCK_TAGS = frozenset({
    "address", "article", "aside", "blockquote", "br", "dd", "div", "dl", "dt", "figcaption",
    "footer", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "li", "ol", "p", "pre",
    "section", "table", "td", "th", "tr", "ul",
})  # fmt: skip
_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")
_WEB_SCHEMES = ("http", "https")


def is_feed(text: str) -> bool:
    """Cheap sniff: does the start of ``text`` look like an RSS, RDF or Atom document?"""
    return bool(_SNIFF_RE.search(text[:_SNIFF_CHARS]))


def parse_feed(
    data: str | bytes, url: str, content_type: str = "application/xml"
) -> list[Observation]:
    """One Observation per entry of the feed fetched from ``url`` (absolute), in feed order.

    Given bytes, feedparser decodes them itself (HTTP charset, then the XML declaration),
    so an ISO-8859-1 feed reads right; given text, it is taken as already decoded.
    Raises ExtractError when the data is not a feed feedparser can read at all.
    """
    if isinstance(data, str):
        data, content_type = data.lstrip("\ufeff").encode("utf-8"), "application/xml; charset=utf-8"
    parsed = feedparser.parse(
        io.BytesIO(data),
        # No Content-Location: feedparser would resolve relative permalink guids against
        # it, so a feed that moved would change them all; links are resolved here instead.
        response_headers={"content-type": content_type},
    )
    entries = parsed.get("entries") or []
    if not entries and (parsed.get("bozo") and not parsed.feed.get("title")):
        reason = _one_line(str(parsed.get("bozo_exception") or "")) or "empty document"
        raise ExtractError(f"not a readable feed at {url}: {reason}")
    if not entries and not parsed.get("version"):
        raise ExtractError(f"not a readable feed at {url}: no RSS or Atom document found")
    observations = (_observation(entry, url) for entry in entries)
    return [obs for obs in observations if obs is not None]


def _observation(entry: feedparser.FeedParserDict, feed_url: str) -> Observation | None:
    """The entry as an Observation; None for an entry with no link, id or title."""
    guid = (entry.get("id") or "").strip() or None
    link = (entry.get("link") or "").strip()
    if entry.get("guidislink") and not _is_web_url(link):
        link = ""  # an RSS <guid> without isPermaLink="false" that is no URL: "12345"
    absolute = urljoin(feed_url, link) if link else None
    if absolute and not _is_web_url(absolute):
        absolute = None  # javascript:, data:, mailto: ... are no item's page
    headline = _text(entry, "title", paragraphs=False)
    if absolute is None and guid is None and headline is None:
        return None
    return Observation(
        url=absolute,
        headline=headline,
        summary=_text(entry, "summary", paragraphs=True),
        tags=_tags(entry),
        event_date=_date(entry.get("published_parsed") or entry.get("updated_parsed")),
        guid=guid,
    )


def _text(entry: feedparser.FeedParserDict, name: str, paragraphs: bool) -> str | None:
    """Field ``name`` as plain text (feedparser says in ``<name>_detail`` if it is HTML).

    A summary without a detail is one feedparser copied from the entry's full content
    (Atom ``content``, RSS ``content:encoded``): that is the body, not a summary.
    """
    value = entry.get(name)
    detail = entry.get(f"{name}_detail")
    if not value or detail is None:
        return None
    if "html" in (detail.get("type") or ""):
        value = _HTMLText.convert(value)
    if paragraphs:
        found = (_one_line(part) for part in _PARAGRAPH_BREAK.split(value))
        return "\n\n".join(part for part in found if part) or None
    return _one_line(value) or None


def _tags(entry: feedparser.FeedParserDict) -> list[str] | None:
    """Category labels (else terms), in feed order without repeats; None if there are none."""
    tags: dict[str, None] = {}
    for tag in entry.get("tags") or []:
        name = _one_line(tag.get("label") or tag.get("term") or "")
        if name:
            tags.setdefault(name, None)
    return list(tags) or None


def _date(parsed: time.struct_time | None) -> date | None:
    """feedparser's parsed times are already in UTC."""
    return date(parsed.tm_year, parsed.tm_mon, parsed.tm_mday) if parsed else None


def _is_web_url(url: str) -> bool:
    return urlsplit(url).scheme.lower() in _WEB_SCHEMES


def _one_line(text: str) -> str:
    return " ".join(text.split())


class _HTMLText(HTMLParser):
    """HTML to plain text: tags dropped, entities decoded, block elements as paragraph breaks."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skip = 0  # inside <script> or <style> (the sanitiser removes them already)

    @classmethod
    def convert(cls, html: str) -> str:
        parser = cls()
        parser.feed(html)
        parser.close()
        return "".join(parser.parts)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self.skip += 1
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self.skip = max(0, self.skip - 1)
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        if not self.skip:
            # Newlines inside the markup are only spaces; paragraphs come from the tags.
            self.parts.append(re.sub(r"\s+", " ", data))
