"""Wikipedia Current Events day pages, in the HTML the portal serves: each bullet is an item.

A day page (``Portal:Current_events/2017_March_2``), a month page and the front page
(``Portal:Current_events``) all render one block per day::

    <div class="current-events-main vevent" id="2017_March_2">
      <div class="current-events-heading"> ... <span class="summary">March 2, 2017
        <span style="display:none"> (<span class="bday dtstart published updated">2017-03-02
        </span>)</span> (Thursday)</span> ... </div>
      <div class="current-events-content description">
        <p><b>Armed conflicts and attacks</b></p>       (or <div role="heading"
        <ul><li><a href="/wiki/Syrian_Civil_War">…</a>      class="current-events-content-heading">)
          <ul><li><a href="/wiki/Palmyra_offensive_(2017)">…</a>
            <ul><li>The <a href="/wiki/Syrian_Army">Syrian Army</a> retakes … <a rel="nofollow"
                class="external text" href="https://…">(Reuters)</a></li></ul>
        …

Rules:

* Only ``current-events-content`` blocks are read; the front page's sidebars (topics in the
  news, ongoing events, recent deaths) and the navigation are not.
* A section header (``<p><b>…</b></p>``, a ``role="heading"`` or
  ``current-events-content-heading`` element, an ``<h2>``–``<h6>`` or a ``<dt>``) names the
  section of the lists after it: the item's ``tags`` (None before any header).
* A bullet is an **item** when its own content (everything but its nested lists) cites a
  source (an external link), or when it has no nested list and says more than a few wiki
  links would (a sentence, not a bare topic). Any other bullet with a nested list is a
  **topic**: its text is pushed onto the ``category`` path (" › "-joined) of the bullets
  below it. An item's own sub-bullets stay under the item's topic path.
* The headline is the item's own text with the citations taken out: links whose text is in
  parentheses, ``(BBC)``, and groups of links in parentheses, ``(<a>BBC</a>, <a>AP</a>)``,
  wherever they stand (a bullet can cite after each of its sentences). Whitespace is
  collapsed. Every external http(s) link of the bullet is a source, ``"Name <url>"``.
* ``event_date`` is the day block's ``bday``/``dtstart`` date, else the date in its
  ``summary`` heading, its id, or the page's own title (``…/2017_March_2``).

The page is parsed by lxml's HTML parser (libxml2): no network, no entities to resolve,
comments and processing instructions dropped, nesting capped by libxml2 at 255 levels.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from urllib.parse import unquote, urljoin, urlsplit

import lxml.etree as etree
import lxml.html

from tracker.errors import ExtractError
from tracker.extract.base import Observation, Page
from tracker.normalise import sanitise_text

CATEGORY_SEPARATOR = " › "

_CONTENT_CLASS = "current-events-content"
_DAY_CLASSES = frozenset({"current-events-main", "vevent", "current-events"})
_DATE_CLASSES = frozenset({"bday", "dtstart"})
_HEADING_CLASSES = frozenset({"current-events-content-heading"})
_LISTS = frozenset({"ul", "ol"})
_INVISIBLE = frozenset({"script", "style", "noscript", "template", "head", "title"})
_WEB_SCHEMES = ("http", "https")
_WIKI_HOSTS = ("wikipedia.org", "wikimedia.org", "wikidata.org")

# Sniffs (over raw text, only to decide whether to try this extractor). The content class
# is found by its name first, then the attribute is checked in a short window before it:
# a pattern starting at "class=" rescanned the rest of the page at each one (quadratic).
_TITLE_SNIFF_RE = re.compile(r"<title>\s*Portal:Current[ _]events\b", re.IGNORECASE)
_CLASS_OPEN_RE = re.compile(r"""class\s*=\s*["']?""", re.IGNORECASE)
_CLASS_WINDOW = 200  # characters of the class value before the name
_CLASS_TRIES = 1000  # mentions of the name looked at: real pages have a few
# Plain-text patterns over already extracted text.
_PLACEHOLDER = "\x00{}\x01"
_PLACEHOLDER_RE = re.compile("\x00(\\d+)\x01")
# A parenthesised group of links only: "(<a>BBC</a>)", "(<a>BBC</a>, <a>AP</a>)".
_CITATION_GROUP_RE = re.compile("\\(\\s*(?:\x00\\d+\x01[\\s,;/|]*(?:and\\s+)?)+\\)")
# What is left of a bare topic once its wiki links are taken out: "A, B and C".
_TOPIC_LEFTOVER_RE = re.compile(r"^(?:[\s,;/&|:·•–—-]|\band\b)*$")
_ISO_DATE_RE = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
_LONG_DATE_RE = re.compile(r"\b([A-Z][a-z]+)\s+(\d{1,2}),\s*(\d{4})\b")
_PAGE_DATE_RE = re.compile(r"(\d{4})[_ ]([A-Za-z]+)[_ ](\d{1,2})(?!\d)")
_CUT = "\x02"  # where a citation was taken out
# Matched from the start of a run of spaces and cuts only, without backtracking: tried at
# every position of a long run ("(A) (B) (C) …" with no full stop), it took quadratic time.
_CUT_BEFORE_PUNCT_RE = re.compile("(?<![\\s\x02])(?=[\\s\x02]*\x02)[\\s\x02]++([.,;:!?])")
# Control characters never reach the text (the markers above are made of them).
_CONTROL_RE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def is_wikipedia_current_events(page: Page) -> bool:
    """Cheap sniff: does the page hold Current Events day blocks (or say it is the portal)?"""
    return bool(_TITLE_SNIFF_RE.search(page.text)) or _has_content_class(page.text)


def _has_content_class(text: str) -> bool:
    """Does a class attribute name current-events-content (as a whole word)?"""
    lowered = text.lower()
    at = lowered.find(_CONTENT_CLASS)
    for _ in range(_CLASS_TRIES):
        if at < 0:
            return False
        end = at + len(_CONTENT_CLASS)
        whole_word = not (at and _is_name_char(lowered[at - 1])) and not (
            end < len(lowered) and _is_name_char(lowered[end])
        )
        window = lowered[max(0, at - _CLASS_WINDOW) : at]
        # The last "class=" before the name; a quote or ">" after it ends its value.
        openings = list(_CLASS_OPEN_RE.finditer(window))
        value = window[openings[-1].end() :] if openings else '"'
        if whole_word and not any(char in "\"'>" for char in value):
            return True
        at = lowered.find(_CONTENT_CLASS, end)
    return False


def _is_name_char(char: str) -> bool:
    return char.isalnum() or char == "_"  # \w, as the \b of a pattern would see it


def parse_wikipedia(page: Page) -> list[Observation]:
    """One Observation per news bullet of every day block on the page, in page order.

    Raises ExtractError (one line) when the page is no HTML with Current Events content.
    """
    root = _parse_html(page.text, page.url)
    blocks = [
        element
        for element in root.iter(etree.Element)
        if _has_class(element, _CONTENT_CLASS)
        and not any(_has_class(a, _CONTENT_CLASS) for a in element.iterancestors())
    ]
    if not blocks:
        raise ExtractError(
            f"not a Wikipedia Current Events page at {page.url}: "
            f"no '{_CONTENT_CLASS}' day block found"
        )
    observations: list[Observation] = []
    for block, day in zip(blocks, _block_dates(root, blocks, page.url), strict=True):
        walker = _Walker(page.url, day)
        walker.walk_block(block)
        observations.extend(walker.observations)
    return observations


# --- the document ------------------------------------------------------------------------------


def _parse_html(text: str, url: str) -> etree._Element:
    """The document's root; ExtractError if there is nothing to parse."""
    parser = lxml.html.HTMLParser(
        encoding="utf-8",
        remove_comments=True,
        remove_pis=True,
        no_network=True,
        huge_tree=False,
    )
    # Controls go first: libxml2 would keep a NUL as U+FFFD ("Some\ufffdthing").
    data = sanitise_text(text.lstrip("\ufeff")).encode("utf-8", errors="replace")
    try:
        root = etree.fromstring(data, parser) if data.strip() else None
    except (etree.LxmlError, ValueError) as error:
        message = " ".join(str(error).split()) or type(error).__name__
        raise ExtractError(f"not a Wikipedia Current Events page at {url}: {message}") from None
    if root is None:
        raise ExtractError(f"not a Wikipedia Current Events page at {url}: empty document")
    return root


def _classes(element: etree._Element) -> set[str]:
    return set((element.get("class") or "").split())


def _has_class(element: etree._Element, name: str) -> bool:
    return name in _classes(element)


def _tag(element: etree._Element) -> str:
    tag = element.tag
    return tag.lower() if isinstance(tag, str) else ""


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _plain_text(element: etree._Element) -> str:
    """The element's visible text (scripts, styles and footnote marks left out)."""
    parts: list[str] = []

    def visit(node: etree._Element) -> None:
        if _skipped(node):
            return
        parts.append(node.text or "")
        for child in node.iterchildren(etree.Element):
            visit(child)
            parts.append(child.tail or "")

    visit(element)
    return _clean("".join(parts))


def _clean(text: str | None) -> str:
    return _CONTROL_RE.sub("", text) if text else ""


def _skipped(element: etree._Element) -> bool:
    """Invisible elements and footnote marks ([1]) are no part of the text."""
    tag = _tag(element)
    if tag in _INVISIBLE:
        return True
    if tag == "br":
        return False
    return tag == "sup" and bool(_classes(element) & {"reference", "noprint", "Inline-Template"})


# --- dates ------------------------------------------------------------------------------------


def _block_dates(
    root: etree._Element, blocks: list[etree._Element], page_url: str
) -> list[date | None]:
    """The date of each day block, in one pass over the document.

    A block's date is the last date written before it (the hidden ISO ``bday``/``dtstart``
    date, else the ``summary`` heading "March 2, 2017 (Thursday)") that stands after the
    previous block and inside the block's own day element (``current-events-main``,
    ``vevent``), if it has one; else the day element's id ("2017_March_2"); else, for a
    page of one block, the page's title or URL.
    """
    day_elements = [
        next((a for a in block.iterancestors(etree.Element) if _classes(a) & _DAY_CLASSES), None)
        for block in blocks
    ]
    # Elements kept alive in these lists keep their proxies, so id() names them safely.
    block_ids = {id(block) for block in blocks}
    watched = block_ids | {id(day) for day in day_elements if day is not None}
    positions: dict[int, int] = {}
    markers: list[tuple[int, date]] = []
    inside_block_until = -1
    for position, element in enumerate(root.iter(etree.Element)):
        if id(element) in watched:
            positions[id(element)] = position
        if id(element) in block_ids:
            inside_block_until = position + sum(1 for _ in element.iterdescendants(etree.Element))
        if position <= inside_block_until:
            continue  # a date inside the news is no day's date
        classes = _classes(element)
        found = None
        if classes & _DATE_CLASSES:
            found = _iso_date(_plain_text(element))
        elif "summary" in classes:
            found = _long_date(_plain_text(element))
        if found:
            markers.append((position, found))
    marker_positions = [p for p, _ in markers]
    days: list[date | None] = []
    previous = -1
    for block, day_element in zip(blocks, day_elements, strict=True):
        position = positions[id(block)]
        after = previous
        if day_element is not None:
            after = max(after, positions[id(day_element)])
        before = bisect_left(marker_positions, position) - 1
        found = markers[before][1] if before >= 0 and markers[before][0] > after else None
        if found is None and day_element is not None:
            found = _named_date(day_element.get("id") or "")
        if found is None and len(blocks) == 1:
            found = _date_from_page_title(root, page_url)
        days.append(found)
        previous = position
    return days


def _date_from_page_title(root: etree._Element, page_url: str) -> date | None:
    """A lone block's date from the page: its <title> or its own URL (…/2017_March_2)."""
    titles = [_clean("".join(e.itertext())) for e in root.iter("title")]
    for text in [*titles, unquote(urlsplit(page_url).path)]:
        if "current" in text.lower() and "events" in text.lower():
            found = _named_date(text)
            if found:
                return found
    return None


def _iso_date(text: str) -> date | None:
    match = _ISO_DATE_RE.search(text)
    if not match:
        return None
    try:
        return date(int(match[1]), int(match[2]), int(match[3]))
    except ValueError:
        return None


def _long_date(text: str) -> date | None:
    """ "March 2, 2017 (Thursday)" """
    match = _LONG_DATE_RE.search(_one_line(text))
    return _month_day_year(match[1], match[2], match[3]) if match else None


def _named_date(text: str) -> date | None:
    """ "2017_March_2", "2017 March 2" (ids and page titles)"""
    match = _PAGE_DATE_RE.search(text)
    return _month_day_year(match[2], match[3], match[1]) if match else None


def _month_day_year(month: str, day: str, year: str) -> date | None:
    try:
        return datetime.strptime(f"{month} {day} {year}", "%B %d %Y").date()
    except ValueError:
        return None


# --- the bullets -------------------------------------------------------------------------------


@dataclass
class _Link:
    text: str
    href: str | None  # resolved, http(s) only; None for another scheme
    external: bool


class _Walker:
    """Walks one day block in document order, keeping the section and the topic path."""

    def __init__(self, page_url: str, day: date | None) -> None:
        self.page_url = page_url
        self.day = day
        self.section: str | None = None
        self.observations: list[Observation] = []

    def walk_block(self, element: etree._Element) -> None:
        for child in element.iterchildren(etree.Element):
            tag = _tag(child)
            if _skipped(child):
                continue
            if tag in _LISTS:
                self.walk_list(child, [])
            elif self._is_heading(child):
                self.section = _one_line(_plain_text(child)) or None
            elif tag == "dl":
                self.walk_block(child)  # ";Header" renders as <dl><dt>…</dt></dl>
            elif tag in ("div", "section", "article", "main", "span", "center", "dd"):
                self.walk_block(child)  # wrappers (Parsoid sections, layout divs)

    def _is_heading(self, element: etree._Element) -> bool:
        tag = _tag(element)
        if tag in ("h2", "h3", "h4", "h5", "h6", "dt"):
            return True
        if element.get("role") == "heading" or _classes(element) & _HEADING_CLASSES:
            return True
        if tag == "p":
            # A paragraph that is nothing but bold text: "<p><b>Armed conflicts…</b></p>".
            bold = [c for c in element.iterchildren(etree.Element) if _tag(c) in ("b", "strong")]
            text = _one_line(_plain_text(element))
            return bool(text) and len(bold) == 1 and _one_line(_plain_text(bold[0])) == text
        return False

    def walk_list(self, element: etree._Element, path: list[str]) -> None:
        for child in element.iterchildren(etree.Element):
            tag = _tag(child)
            if tag == "li":
                self.walk_bullet(child, path)
            elif tag in _LISTS:
                self.walk_list(child, path)  # a list directly inside a list (bad markup)

    def walk_bullet(self, bullet: etree._Element, path: list[str]) -> None:
        pieces = list(_own_pieces(bullet, self.page_url))
        nested = [c for c in bullet.iterchildren(etree.Element) if _tag(c) in _LISTS]
        text = _one_line("".join(p if isinstance(p, str) else p.text for p in pieces))
        cites = any(isinstance(p, _Link) and p.external for p in pieces)
        if cites or (not nested and text and not _is_bare_topic(pieces)):
            self.observations.append(self._observation(pieces, path))
            below = path
        else:
            below = [*path, text] if text else path
        for child in nested:
            self.walk_list(child, below)

    def _observation(self, pieces: list[str | _Link], path: list[str]) -> Observation:
        headline, sources = _headline_and_sources(pieces)
        return Observation(
            url=None,
            headline=headline or None,
            category=CATEGORY_SEPARATOR.join(path) if path else None,
            tags=[self.section] if self.section else None,
            sources=sources or None,
            event_date=self.day,
        )


def _own_pieces(bullet: etree._Element, page_url: str) -> Iterator[str | _Link]:
    """The bullet's own content, nested lists left out: text runs and links, in order."""

    def visit(node: etree._Element) -> Iterator[str | _Link]:
        yield _clean(node.text)
        for child in node.iterchildren(etree.Element):
            tag = _tag(child)
            if tag == "a":
                yield _link(child, page_url)
            elif tag == "br":
                yield " "
            elif not (_skipped(child) or (node is bullet and tag in _LISTS)):
                yield from visit(child)
            yield _clean(child.tail)

    yield from visit(bullet)


def _link(anchor: etree._Element, page_url: str) -> _Link:
    """A link of a bullet: its text, where it points (http(s) only), and if it leaves the wiki.

    A source is a link MediaWiki marks ``external``, or one written with a scheme or as
    ``//host/…`` to a host outside Wikipedia; interwiki links (``extiw``) are not sources.
    """
    text = _one_line(_plain_text(anchor))
    raw = (anchor.get("href") or "").strip()
    classes = _classes(anchor)
    try:
        absolute = urljoin(page_url, "https:" + raw if raw.startswith("//") else raw)
        parts = urlsplit(absolute)
        written_absolute = bool(urlsplit(raw).scheme) or raw.startswith("//")
    except ValueError:  # "http://[broken" and the like
        return _Link(text, None, external="external" in classes)
    href = absolute if raw and parts.scheme.lower() in _WEB_SCHEMES and parts.netloc else None
    host = (parts.hostname or "").lower()
    outside = written_absolute and not host.endswith(_WIKI_HOSTS)
    external = "extiw" not in classes and ("external" in classes or outside)
    return _Link(text, href, external)


def _is_bare_topic(pieces: list[str | _Link]) -> bool:
    """Only wiki links and separators: "Syrian Civil War", "A, B and C"."""
    if not any(isinstance(p, _Link) for p in pieces):
        return False
    leftover = "".join(p for p in pieces if isinstance(p, str))
    return bool(_TOPIC_LEFTOVER_RE.match(leftover))


def _headline_and_sources(pieces: list[str | _Link]) -> tuple[str, list[str]]:
    """The sentence without its citations, and every cited source as "Name <url>"."""
    links: list[_Link] = []
    parts: list[str] = []
    for piece in pieces:
        if isinstance(piece, str):
            parts.append(piece)
        elif piece.external:
            parts.append(_PLACEHOLDER.format(len(links)))
            links.append(piece)
        else:
            parts.append(piece.text)
    text = _CITATION_GROUP_RE.sub(_CUT, "".join(parts))

    def inline(match: re.Match[str]) -> str:
        link = links[int(match[1])]
        return _CUT if _is_parenthesised(link.text) else link.text

    text = _PLACEHOLDER_RE.sub(inline, text)
    # "happened (BBC)." loses the citation and the space it leaves before the full stop.
    text = _one_line(_CUT_BEFORE_PUNCT_RE.sub(r"\1", text).replace(_CUT, " "))
    sources: dict[str, None] = {}
    for link in links:
        if link.href:
            name = _one_line(link.text.strip().removeprefix("(").removesuffix(")"))
            name = name or urlsplit(link.href).hostname or link.href
            sources.setdefault(f"{name} <{link.href}>", None)
    return text, list(sources)


def _is_parenthesised(text: str) -> bool:
    text = text.strip()
    return len(text) >= 2 and text.startswith("(") and text.endswith(")")
