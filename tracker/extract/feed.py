"""RSS (0.9x, 1.0, 2.0) and Atom feeds, read with feedparser: each entry is an item.

feedparser is only ever handed the page's bytes in a BytesIO: given a plain string it
would treat one that looks like a URL or a file name as something to fetch or open.
Its own defences stay on: HTML is sanitised, and external entities are never resolved
(its SAX parser, expat, runs with external general entities off).

The DOCTYPE's internal subset (``<!DOCTYPE rss [ ... ]>``) is taken out before feedparser
sees the document, in whatever encoding it came: feedparser only drops the entity
declarations that start a line, and expat expands the rest up to a hundredfold, so a
"billion laughs" of a few megabytes took a minute and gigabytes of memory. A feed's own
entities are therefore never defined: a reference to one stays as written (``&co;``).
"""

from __future__ import annotations

import io
import re
import time
from datetime import date
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import feedparser
from feedparser.encodings import convert_to_utf8

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
# A numeric character reference, also as escaped HTML holds it. feedparser's fallback
# parser turns each into a character unchecked, and fails on a surrogate (which broken
# sites write emoji as: "&#55357;&#56832;"), on one past U+10FFFF and on a long number.
_CHAR_REF_RE = re.compile(rb"(&(?:amp;)?#)(?:[xX]([0-9a-fA-F]+)|([0-9]+))")
# The prolog's parts before the root element, and the internal subset's: a token that
# is not closed runs to the end of the document (which then cannot be read).
_PROLOG_RE = re.compile(rb"\s+|<\?.*?(?:\?>|\Z)|<!--.*?(?:-->|\Z)|<!DOCTYPE\b", re.DOTALL)
_DOCTYPE_HEAD_RE = re.compile(rb"\"[^\"]*(?:\"|\Z)|'[^']*(?:'|\Z)|[\[>]")
_SUBSET_RE = re.compile(
    rb"\"[^\"]*(?:\"|\Z)|'[^']*(?:'|\Z)|<!--.*?(?:-->|\Z)|<\?.*?(?:\?>|\Z)|\]", re.DOTALL
)


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
    try:
        if isinstance(data, str):
            data = data.lstrip("\ufeff").encode("utf-8")
            content_type = "application/xml; charset=utf-8"
        else:
            # To UTF-8 as feedparser would (HTTP charset, BOM, XML declaration), so that the
            # DOCTYPE is found in any encoding; feedparser's own pass then changes nothing.
            # (An encoding name holding a NUL is a ValueError there, not a LookupError.)
            found: dict[str, object] = {}
            utf8 = convert_to_utf8({"content-type": content_type}, data, found)
            if found.get("encoding"):
                data, content_type = utf8, "application/xml; charset=utf-8"
        parsed = feedparser.parse(
            io.BytesIO(_safe_char_refs(_without_internal_subset(data))),
            # No Content-Location: feedparser would resolve relative permalink guids against
            # it, so a feed that moved would change them all; links are resolved here instead.
            response_headers={"content-type": content_type},
        )
    except (ValueError, OverflowError, UnicodeError) as error:
        # What feedparser's fallback parser still trips on ("&#38;#0000…65;" in HTML content).
        reason = f"the feed parser failed ({type(error).__name__})"
        raise ExtractError(f"not a readable feed at {url}: {reason}") from None
    entries = parsed.get("entries") or []
    if not entries and (parsed.get("bozo") and not parsed.feed.get("title")):
        reason = _one_line(str(parsed.get("bozo_exception") or "")) or "empty document"
        raise ExtractError(f"not a readable feed at {url}: {reason}")
    if not entries and not parsed.get("version"):
        raise ExtractError(f"not a readable feed at {url}: no RSS or Atom document found")
    observations = (_observation(entry, url) for entry in entries)
    return [obs for obs in observations if obs is not None]


def _without_internal_subset(data: bytes) -> bytes:
    """The document without its DOCTYPE's internal subset, where entities are declared.

    The prolog is read token by token (declaration, comments, processing instructions),
    so a DOCTYPE after a comment is found and one inside a comment is not; in the subset,
    a "]" inside a quoted value, comment or processing instruction does not end it.
    """
    at = 0
    while (token := _PROLOG_RE.match(data, at)) is not None:
        at = token.end()
        if token[0] == b"<!DOCTYPE":
            break
    else:
        return data  # the root element (or no XML): no DOCTYPE before it
    head = next((t for t in _DOCTYPE_HEAD_RE.finditer(data, at) if t[0] in b"[>"), None)
    if head is None or head[0] == b">":
        return data  # a DOCTYPE naming only an external DTD, which is never loaded
    start = head.start()
    end = next((t.end() for t in _SUBSET_RE.finditer(data, start + 1) if t[0] == b"]"), len(data))
    return data[:start] + data[end:]


def _safe_char_refs(data: bytes) -> bytes:
    """Character references to no character (a surrogate, past U+10FFFF) as U+FFFD's, and
    long ones (leading zeros) without their zeros."""
    return _CHAR_REF_RE.sub(_safe_char_ref, data)


def _safe_char_ref(match: re.Match[bytes]) -> bytes:
    start, hexadecimal, decimal = match[1], match[2], match[3]
    digits = (hexadecimal or decimal).lstrip(b"0") or b"0"
    code = int(digits, 16 if hexadecimal else 10) if len(digits) <= 8 else -1
    if not 0 <= code <= 0x10FFFF or 0xD800 <= code <= 0xDFFF:
        return start + b"xFFFD"  # what follows (";") is kept
    if len(match[0]) <= 16:
        return match[0]
    return start + (b"x%x" % code if hexadecimal else b"%d" % code)  # same base: same end


def _observation(entry: feedparser.FeedParserDict, feed_url: str) -> Observation | None:
    """The entry as an Observation; None for an entry with no link, id or title."""
    guid = (entry.get("id") or "").strip() or None
    link = (entry.get("link") or "").strip()
    # feedparser sets guidislink also for an Atom <id> seen before its <link>: only a
    # link that is the guid itself is suspect.
    if entry.get("guidislink") and link == guid and not _is_web_url(link):
        link = ""  # an RSS <guid> without isPermaLink="false" that is no URL: "12345"
    absolute = _join(feed_url, link) if link else None
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
    if not parsed:
        return None
    try:
        return date(parsed.tm_year, parsed.tm_mon, parsed.tm_mday)
    except ValueError:  # "Mon, 01 Jan 0000" moved to UTC is year -1
        return None


def _is_web_url(url: str) -> bool:
    try:
        return urlsplit(url).scheme.lower() in _WEB_SCHEMES
    except ValueError:  # "https://]]>": a bracket where a host goes, no URL at all
        return False


def _join(base: str, link: str) -> str | None:
    try:
        return urljoin(base, link)
    except ValueError:
        return None


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
