"""Offstream / "the Context" pages in their Markdown (``.md``) and HTML (``.html``) renditions.

Two kinds of page:

* an **item page**: a ``### [date](…/index.md)`` line, an optional ``##### Category`` heading,
  the ``# Headline``, a summary paragraph, ``### Sources:`` (``### Source:`` in the older
  template), ``### Changes:`` (the page's own history; newer template only) and
  ``### Related:`` (other items, ignored here);
* a **day index** or the front page: ``## [date](…)`` headings, each followed by items written
  as an optional ``##### Category``, ``### [Headline](link)``, a summary line and an optional
  ``_Context: A, B, C_`` tag line.

``Formats:`` lines (links to the other renditions) are ignored everywhere.

The ``.html`` rendition carries the same content as elements (``<h3><a>2017-03-2</a></h3>``,
``<h5>``, ``<h1>``, ``<p>``, ``<h3>Changes:</h3><ol><li><a>…</a> <em>…</em></li></ol>``, …)
inside the site's page template. It is turned into the lines of the Markdown rendition
(:func:`_html_lines`) and then read by the same rules, so both renditions of one page give the
same Observations (their URLs differ only in the suffix).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from urllib.parse import urljoin

import lxml.html
from lxml import etree

from tracker.errors import ExtractError
from tracker.extract.base import HistoryEntry, Observation
from tracker.normalise import sanitise_text

# A link's URL: no space, and no "](" either. The text before it is greedy, so the URL
# starts after the last "](" anyway; but without the rule each "](" of a long line had
# the rest of the line rescanned, in quadratic time (minutes for a page of "](").
_URL = r"(?P<url>(?:(?!\]\()\S)*)"
# Any ATX heading: "##### Syrian Civil War", "### Sources:", "# Headline".
_HEADING_RE = re.compile(r"^(?P<hashes>#{1,6})[ \t]+(?P<text>.*?)[ \t]*$")
# The item's own headline: a level-1 heading.
_HEADLINE_RE = re.compile(r"^#[ \t]+(?P<text>\S.*?)[ \t]*$")
# A heading that is a single link: "### [2017-03-2](/news/2017/03/2/index.md)" (date heading)
# or "### [Headline](/news/….md)" (an item on an index page). The text is greedy so that a
# headline containing "[", "]" or "(" still ends at the last "](".
_LINK_HEADING_RE = re.compile(rf"^(?P<hashes>#{{2,3}})[ \t]+\[(?P<text>.*)\]\({_URL}\)[ \t]*$")
# Link text that is a date as the site writes it, without zero-padding: "2017-03-2".
_DATE_TEXT_RE = re.compile(r"^(?P<y>\d{4})-(?P<m>\d{1,2})-(?P<d>\d{1,2})$")
# A line linking to the other renditions: "Formats: [HTML](…)  [JSON](…)  [XML](…)".
_FORMATS_RE = re.compile(r"^\s*Formats:\s*\[", re.IGNORECASE)
# A list item that is a link, for Sources: "5. [Rudaw](http://…)". The URL may hold "(" or ")".
_SOURCE_RE = re.compile(rf"^\s*(?:\d*[.)]|[-*+])\s*\[(?P<name>.*)\]\({_URL}\)\s*$")
# A Changes entry: "1. [headline](/news/….md) _2018-01-10 20:30:05 (First version)_" or
# "… _(Current version)_". Numbers are unreliable, so any list marker is accepted.
_CHANGE_RE = re.compile(
    rf"^\s*(?:\d*[.)]|[-*+])\s*\[(?P<text>.*)\]\({_URL}\)\s*_(?P<meta>[^_]*)_\s*$"
)
# The inside of a Changes entry's emphasis: optional "YYYY-MM-DD HH:MM:SS", then "(label)".
_CHANGE_META_RE = re.compile(
    r"^\s*(?:(?P<ts>\d{4}-\d{1,2}-\d{1,2}[ T]\d{1,2}:\d{2}:\d{2})\s*)?\((?P<label>[^()]+)\)\s*$"
)
# An index item's tag line: "_Context: A, B, C_" (also tolerates "_Context:_ A, B, C").
_CONTEXT_RE = re.compile(r"^\s*_Context:_?\s*(?P<tags>.*?)\s*_?\s*$")
# The start of an HTML or XML document, which is a different rendition (or no Offstream page).
_MARKUP_RE = re.compile(r"^\s*<(?:!doctype|!--|\?xml|[a-z]+[\s>/])", re.IGNORECASE)
# For the sniff: a date heading or the Formats line of the Markdown rendition.
_SNIFF_RE = re.compile(
    r"^(?:#{2,3}[ \t]+\[\d{4}-\d{1,2}-\d{1,2}\]\(|Formats:[ \t]*\[HTML\]\()", re.MULTILINE
)

# For the sniff of the HTML rendition: a heading that is just a date link to a day index,
# "<h3><a href="/news/2017/03/2/index.html">2017-03-2</a></h3>" (any level, any attributes) …
# (Or the link around the heading.) Attribute values may hold ">" but not "<", which keeps
# the search linear: no match attempt reads past the next "<".
_ATTRS = r"""(?:[^<>"']|"[^<"]*"|'[^<']*')*"""
_H_OPEN = rf"<h[1-6](?:\s{_ATTRS})?>"
_H_CLOSE = r"</h[1-6]\s*>"
_DAY_LINK_OPEN = (
    rf"<a\s{_ATTRS}?\bhref\s*=\s*[\"']?[^\"'\s<>]*?"
    rf"\d{{4}}/\d{{1,2}}/\d{{1,2}}/index\.(?:md|html?)(?:[\"'\s]{_ATTRS})?>"
)
_DATE_TEXT = r"\s*\d{4}-\d{1,2}-\d{1,2}\s*"
_HTML_DATE_HEADING_RE = re.compile(
    rf"{_H_OPEN}\s*{_DAY_LINK_OPEN}{_DATE_TEXT}</a\s*>\s*{_H_CLOSE}"
    rf"|{_DAY_LINK_OPEN}\s*{_H_OPEN}{_DATE_TEXT}{_H_CLOSE}\s*</a\s*>",
    re.IGNORECASE,
)
# … or a "Changes:" heading together with the "(Current version)" entry of that list.
_HTML_CHANGES_RE = re.compile(rf"{_H_OPEN}\s*Changes:?\s*{_H_CLOSE}", re.IGNORECASE)
_CURRENT_VERSION_RE = re.compile(r"\(\s*Current version\s*\)", re.IGNORECASE)
# An XML document (the .xml rendition, a feed) rather than an HTML page.
_XML_RE = re.compile(r"^\s*<\?xml\b", re.IGNORECASE)
_HTML_ROOT_RE = re.compile(r"<(?:html|body|!doctype\s+html)\b", re.IGNORECASE)

_SNIFF_CHARS = 16_384
_HTML_SNIFF_CHARS = 65_536  # an HTML page's <head> (styles, scripts) comes before the content
_NOT_OFFSTREAM = "not an Offstream page: no '# headline' or '### [headline](link)' found"


def is_offstream(text: str) -> bool:
    """Cheap sniff: does the start of ``text`` look like an Offstream page (``.md`` or ``.html``)?

    The HTML rendition is recognised by a date heading linking to a day index
    (``<h3><a href="…/2017/03/2/index.html">2017-03-2</a></h3>``) or by a ``Changes:`` heading
    with a ``(Current version)`` entry.
    """
    head = text[:_SNIFF_CHARS].lstrip("\ufeff")
    if _SNIFF_RE.search(head):
        return True
    if not _MARKUP_RE.match(head):
        return False
    head = text[:_HTML_SNIFF_CHARS]
    if _HTML_DATE_HEADING_RE.search(head):
        return True
    return bool(_HTML_CHANGES_RE.search(head) and _CURRENT_VERSION_RE.search(head))


def parse_offstream(text: str, url: str) -> list[Observation]:
    """Parse an Offstream ``.md`` or ``.html`` page fetched from ``url`` (absolute).

    An item page gives one Observation; a day index or the front page gives one per listed
    item, in page order. Text that starts with markup is read as the HTML rendition. Raises
    ExtractError when the text is neither kind of page (or is XML).
    """
    text = text.lstrip("\ufeff")
    raw_lines = _html_lines(text) if _MARKUP_RE.match(text) else text.splitlines()
    lines = [line for line in raw_lines if not _FORMATS_RE.match(line)]
    if any(_index_item_link(line) for line in lines):
        return _parse_index(lines, url)
    headline_at = _find_headline(lines)
    if headline_at is None:
        raise ExtractError(_NOT_OFFSTREAM)
    return [_parse_item(lines, headline_at, url)]


# --- item page ------------------------------------------------------------------------------


def _parse_item(lines: list[str], headline_at: int, url: str) -> Observation:
    """The item page whose ``# Headline`` is ``lines[headline_at]``."""
    headline = _HEADLINE_RE.match(lines[headline_at])
    after = lines[headline_at + 1 :]
    summary_end = _next_heading(after)
    sections = _sections(after[summary_end:])
    sources = _parse_sources(sections["sources"], url) if "sources" in sections else None
    history = _parse_changes(sections.get("changes", []), url)
    return Observation(
        url=url,
        headline=headline["text"] if headline else None,
        summary=_join_paragraphs(after[:summary_end]),
        category=_category_before(lines, headline_at),
        tags=None,  # an item page shows only its Related items' tags, not its own
        sources=sources,
        event_date=_item_date(lines[:headline_at]),
        guid=None,
        history=history,
    )


def _find_headline(lines: list[str]) -> int | None:
    """Index of the first ``# Headline`` line, or None."""
    for i, line in enumerate(lines):
        if _HEADLINE_RE.match(line):
            return i
    return None


def _category_before(lines: list[str], headline_at: int) -> str | None:
    """The ``##### Category`` heading right before line ``headline_at`` (blank lines skipped)."""
    for line in reversed(lines[:headline_at]):
        if not line.strip():
            continue
        return _category(line)
    return None


def _category(line: str) -> str | None:
    """The text of a level-5 heading, or None if ``line`` is something else."""
    heading = _HEADING_RE.match(line)
    if heading and len(heading["hashes"]) == 5 and heading["text"]:
        return heading["text"]
    return None


def _item_date(lines: list[str]) -> date | None:
    """The date from the ``### [2017-03-2](…)`` heading among ``lines``."""
    for line in lines:
        link = _LINK_HEADING_RE.match(line)
        if link:
            found = _parse_date(link["text"])
            if found is not None:
                return found
    return None


def _sections(lines: list[str]) -> dict[str, list[str]]:
    """Split ``lines`` at headings: normalised heading name ("sources", "changes") → body lines.

    "Source" is filed under "sources". The first section of a name wins.
    """
    sections: dict[str, list[str]] = {}
    body: list[str] = []  # lines before the first heading are not in any section
    for line in lines:
        heading = _HEADING_RE.match(line)
        if heading:
            name = heading["text"].rstrip(":").strip().lower()
            if name == "source":
                name = "sources"
            # A repeated heading's lines are dropped rather than merged into the first.
            body = [] if name in sections else sections.setdefault(name, [])
        else:
            body.append(line)
    return sections


COVER_IMAGE = "cover image"


def _parse_sources(lines: list[str], url: str) -> list[str] | None:
    """``N. [Name](link)`` lines → ``"Name <absolute-link>"``; None if there are none.

    The "Cover Image" line is the page's illustration, not a source, and the site
    re-hosts it (absolute → relative URL) without any edit: it is left out.
    """
    sources = []
    for line in lines:
        match = _SOURCE_RE.match(line)
        if match and match["name"].strip().lower() == COVER_IMAGE:
            continue
        link = _join(url, match["url"]) if match and match["url"] else None
        if match and match["name"].strip() and link:
            sources.append(f"{match['name'].strip()} <{link}>")
    return sources or None


def _parse_changes(lines: list[str], url: str) -> list[HistoryEntry]:
    """The Changes list, oldest first as printed; lines that cannot be parsed are skipped."""
    entries = []
    for line in lines:
        entry = _parse_change(line, url)
        if entry is not None:
            entries.append(entry)
    return entries


def _parse_change(line: str, url: str) -> HistoryEntry | None:
    match = _CHANGE_RE.match(line)
    if not match:
        return None
    meta = _CHANGE_META_RE.match(match["meta"])
    headline = match["text"].strip()
    if not meta or not headline:
        return None
    return HistoryEntry(
        headline=headline,
        url=_join(url, match["url"]) if match["url"] else None,
        reported_at=_parse_timestamp(meta["ts"]),
        label=meta["label"].strip(),
    )


def _parse_timestamp(value: str | None) -> datetime | None:
    """``2017-08-27 03:47:56`` (the site's times are UTC) → aware datetime; None if invalid."""
    if not value:
        return None
    try:
        parsed = datetime.strptime(value.replace("T", " "), "%Y-%m-%d %H:%M:%S")
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC)


# --- day index / front page -----------------------------------------------------------------


@dataclass
class _PendingItem:
    """An index item while its following lines are read."""

    url: str | None
    headline: str
    category: str | None
    event_date: date | None
    lines: list[str]

    def finish(self) -> Observation:
        summary_lines: list[str] = []
        tags: list[str] | None = None
        for line in self.lines:
            context = _CONTEXT_RE.match(line)
            if context:
                tags = _split_tags(context["tags"])
            else:
                summary_lines.append(line)
        return Observation(
            url=self.url,
            headline=self.headline,
            summary=_join_paragraphs(summary_lines),
            category=self.category,
            tags=tags,
            event_date=self.event_date,
        )


def _parse_index(lines: list[str], url: str) -> list[Observation]:
    observations: list[Observation] = []
    current: _PendingItem | None = None
    day: date | None = None
    category: str | None = None
    for line in lines:
        heading = _HEADING_RE.match(line)
        if heading is None:
            if current is not None:
                current.lines.append(line)
            continue
        if current is not None:
            observations.append(current.finish())
            current = None
        item = _index_item_link(line)
        if item is not None:
            headline, link = item
            current = _PendingItem(_join(url, link), headline, category, day, [])
            category = None
        elif len(heading["hashes"]) == 5:
            category = _category(line)
        elif len(heading["hashes"]) <= 2:
            # "## [2018-02-2](…)" starts a day; "## [Previous Day...](…)" is navigation.
            day = _heading_date(line)
            category = None
    if current is not None:
        observations.append(current.finish())
    return observations


def _index_item_link(line: str) -> tuple[str, str] | None:
    """``### [Headline](link)`` → (headline, link); None for other lines and date headings."""
    match = _LINK_HEADING_RE.match(line)
    if not match or len(match["hashes"]) != 3 or not match["url"]:
        return None
    headline = match["text"].strip()
    if not headline or _DATE_TEXT_RE.match(headline):
        return None
    return headline, match["url"]


def _heading_date(line: str) -> date | None:
    link = _LINK_HEADING_RE.match(line)
    return _parse_date(link["text"]) if link else None


def _split_tags(value: str) -> list[str] | None:
    tags = [tag.strip() for tag in value.split(",") if tag.strip()]
    return tags or None


# --- shared helpers -------------------------------------------------------------------------


def _parse_date(text: str) -> date | None:
    """``2017-03-2`` → date(2017, 3, 2); None if not a (valid) date."""
    match = _DATE_TEXT_RE.match(text.strip())
    if not match:
        return None
    try:
        return date(int(match["y"]), int(match["m"]), int(match["d"]))
    except ValueError:
        return None


def _join(base: str, link: str) -> str | None:
    """The link resolved against the page; None if it is no URL ("http://[x")."""
    try:
        return urljoin(base, link)
    except ValueError:
        return None


def _next_heading(lines: list[str]) -> int:
    """Index of the first heading line in ``lines`` (``len(lines)`` if none)."""
    for i, line in enumerate(lines):
        if _HEADING_RE.match(line):
            return i
    return len(lines)


def _join_paragraphs(lines: list[str]) -> str | None:
    """Lines → text: each line stripped, paragraphs separated by one blank line; None if empty."""
    paragraphs: list[list[str]] = [[]]
    for line in lines:
        stripped = line.strip()
        if stripped:
            paragraphs[-1].append(stripped)
        elif paragraphs[-1]:
            paragraphs.append([])
    text = "\n\n".join("\n".join(p) for p in paragraphs if p)
    return text or None


# --- the HTML rendition ---------------------------------------------------------------------
#
# The page is turned into the lines of the Markdown rendition, then read by the rules above:
#
# * headings by their role, since levels may be off by one: a date ("2017-03-2", a link or
#   not) → "## [2017-03-2](…)"; <h1> → "# text"; a single link to a day index ("Previous
#   Day...") → "## [T](X)"; "Sources:", "Changes:", "Related:" → "### …"; another single link →
#   "## [T](X)" at or above the level of the page's date heading, "### [T](X)" (an index item)
#   one or two levels below it, "##### T" deeper (without a date heading: h2 → "##", h3 →
#   "###"); any other <h2>/<h3> → "## "/"### ", <h4>–<h6> → "##### " (the category);
# * <a href=X>T</a> → "[T](X)"; <em>/<i> → "_…_"; <li> → "1. …"; <br> → a line break;
#   paragraphs and other blocks → lines separated by blank lines; whitespace collapsed;
#   entities unescaped (the page is parsed by lxml, i.e. libxml2's HTML parser);
# * <script>, <style>, <title>, <nav>, … are dropped, and so are a page-level <header> or
#   <footer> (one outside <main>, <article>, <section>) unless it holds the date heading;
#   when the page has a <main> element (or role="main"), only its content is read;
# * a level-1 heading before the date heading is the site's banner when another follows it;
#   a page with no level-1 heading has its first plain heading after the date as headline.

_DROP_TAGS = frozenset(
    {"script", "style", "title", "noscript", "template", "nav", "svg", "math", "iframe"}
    | {"object", "canvas", "select", "textarea", "button"}
)
# A dropped element left open ends where the page's content starts or ends at the latest.
_DROP_ENDS = frozenset({"main", "article", "body", "html"})
_PAGE_PARTS = frozenset({"header", "footer"})
_CONTENT_TAGS = frozenset({"main", "article", "section"})
_HEADING_TAGS = {f"h{n}": n for n in range(1, 7)}
_EMPHASIS_TAGS = frozenset({"em", "i"})
_BLOCK_TAGS = frozenset(
    {"p", "div", "li", "ul", "ol", "dl", "dt", "dd", "blockquote", "pre", "hr", "address"}
    | {"table", "thead", "tbody", "tfoot", "tr", "td", "th", "caption", "center"}
    | {"html", "body", "main", "article", "section", "aside", "header", "footer"}
    | {"figure", "figcaption", "details", "summary", "form", "fieldset"}
)
_SECTION_NAMES = frozenset({"sources", "source", "changes", "related", "formats"})
_EM_OPEN, _EM_CLOSE = "\x01", "\x02"
_WS_RE = re.compile(r"[ \t\n\r\f\v]+")
_DATE_HEADING_LINE_RE = re.compile(r"^#{2,3}[ \t]+\[\d{4}-\d{1,2}-\d{1,2}\]\(")
_DAY_INDEX_HREF_RE = re.compile(r"(?:^|/)index\.(?:md|html?)(?:[?#].*)?$", re.IGNORECASE)


@dataclass
class _Link:
    text: str
    href: str


@dataclass
class _Heading:
    """A heading, written out once the level of the page's date heading is known."""

    level: int
    text: str  # whitespace collapsed, links and emphasis as plain text
    href: str | None  # when the heading is a single link

    @property
    def is_date(self) -> bool:
        return bool(_DATE_TEXT_RE.match(self.text))

    def line(self, day_level: int | None) -> str:
        """The Markdown line for this heading (see the rules above)."""
        text, href = self.text, self.href
        if self.is_date:
            return f"## [{text}]({href or ''})"
        if self.level == 1:
            return f"# {text}"
        if href is not None and _DAY_INDEX_HREF_RE.search(href):
            return f"## [{text}]({href})"
        if text.rstrip(":").strip().lower() in _SECTION_NAMES:
            return f"### {text}"
        if href is not None:
            below = self.level - (day_level or 2)
            if below <= 0:
                return f"## [{text}]({href})"
            if below <= (2 if day_level else 1):
                return f"### [{text}]({href})"
        return f"{'#' * (self.level if self.level <= 3 else 5)} {text}"


@dataclass
class _Open:
    """An element being read, as far as the converter needs to know."""

    tag: str
    main: bool = False  # <main> or role="main"
    content: bool = False  # <main>, <article>, <section>
    drop_from: int | None = None  # a page-level header/footer: its first output line


class _HtmlToMarkdown:
    """HTML elements (start, text, end, in document order) → the lines of the Markdown
    rendition, each with "inside <main>". Fed by :func:`_walk` from a parsed (balanced) tree."""

    def __init__(self) -> None:
        self.lines: list[tuple[str | _Heading, bool]] = []
        self._stack: list[_Open] = []
        self._main = 0  # how many open elements are <main>
        self._content = 0  # how many open elements are <main>, <article>, <section>
        self._skip: str | None = None  # inside a dropped element with this tag…
        self._skip_depth = 0  # … nested this deep
        self._parts: list[str | _Link] = []  # the current line's content
        self._prefix = ""  # "1. " in a list item, until the item's first line
        self._link: _Link | None = None  # inside <a href>: its text so far
        self._heading: int | None = None  # inside <hN>: N
        self._heading_depth = 0  # where the heading's element is on the stack
        self._emphasis = 0

    # -- events --

    def start(self, tag: str, attrs: Mapping[str, str]) -> None:
        if self._skip is not None:
            if tag not in _DROP_ENDS:
                self._skip_depth += tag == self._skip
                return
            self._skip = None  # a dropped element does not swallow the page's content
        if tag in _DROP_TAGS:
            self._skip, self._skip_depth = tag, 1
            return
        if tag in _HEADING_TAGS:
            self._start_heading(_HEADING_TAGS[tag])
        elif tag == "a":
            self._start_link(attrs.get("href"))
        elif tag in _EMPHASIS_TAGS:
            self._emphasis += 1
            self._text(_EM_OPEN)
        elif tag == "br":
            self._break()
        elif tag in _BLOCK_TAGS:
            self._block()
            if tag == "li":
                self._prefix = "1. "
        role = (attrs.get("role") or "").strip().lower()
        entry = _Open(tag, main=tag == "main" or role == "main")
        entry.content = entry.main or tag in _CONTENT_TAGS
        if tag in _PAGE_PARTS and not self._content:
            self._block()
            entry.drop_from = len(self.lines)
        self._main += entry.main
        self._content += entry.content
        self._stack.append(entry)

    def end(self, tag: str) -> None:
        if self._skip is not None:
            if tag == self._skip:
                self._skip_depth -= 1
                if self._skip_depth <= 0:
                    self._skip = None
            return
        at = next(
            (i for i in range(len(self._stack) - 1, -1, -1) if self._stack[i].tag == tag), None
        )
        if at is None:
            return  # the end of a dropped element whose skip was cut short
        if self._heading is not None and at <= self._heading_depth:
            self._end_heading()
        if tag == "a":
            self._end_link()
        elif tag in _EMPHASIS_TAGS and self._emphasis:
            self._emphasis -= 1
            self._text(_EM_CLOSE)
        elif tag in _BLOCK_TAGS:
            self._block()
            if tag == "li":
                self._prefix = ""
        for closed in reversed(self._stack[at:]):
            if closed.drop_from is not None:
                self._block()
                kept = self.lines[closed.drop_from :]
                if not any(isinstance(line, _Heading) and line.is_date for line, _ in kept):
                    del self.lines[closed.drop_from :]
            self._main -= closed.main
            self._content -= closed.content
        del self._stack[at:]

    def data(self, text: str) -> None:
        if self._skip is None:
            self._text(text.replace(_EM_OPEN, "").replace(_EM_CLOSE, ""))

    def close(self) -> None:
        if self._heading is not None:
            self._end_heading()
        self._block()

    # -- building lines --

    def _text(self, text: str) -> None:
        if self._link is not None:
            if text not in (_EM_OPEN, _EM_CLOSE):  # emphasis inside a link is left out
                self._link.text += text
        else:
            self._parts.append(text)

    def _start_link(self, href: str | None) -> None:
        self._end_link()
        if href and href.strip():
            self._link = _Link("", _WS_RE.sub("%20", href.strip()))

    def _end_link(self) -> None:
        if self._link is not None:
            self._parts.append(self._link)
            self._link = None

    def _start_heading(self, level: int) -> None:
        # A heading inside a link, "<a href=X><h3>T</h3></a>", is the heading "[T](X)".
        link = self._link if self._link is not None and not self._link.text.strip() else None
        self._link = None
        if self._heading is not None:
            self._end_heading()
        self._block()
        self._heading, self._heading_depth = level, len(self._stack)
        self._link = link

    def _end_heading(self) -> None:
        level, self._heading = self._heading, None
        self._end_link()
        parts, self._parts = self._parts, []
        heading = _heading(level or 1, parts)
        if heading is not None:
            self._emit(heading)
            self._emit("")

    def _block(self) -> None:
        """End the current line (a block boundary); inside a heading, just a space."""
        if self._heading is not None:
            self._text(" ")
            return
        if self._flush():
            self._emit("")

    def _break(self) -> None:
        if self._heading is not None:
            self._text(" ")
        else:
            self._flush()

    def _flush(self) -> bool:
        self._end_link()
        text = _inline(self._parts)
        self._parts = []
        if not text:
            return False
        if not self._prefix and text.startswith("#"):
            text = " " + text  # a paragraph, not a heading (lines are stripped later)
        self._emit(self._prefix + text)
        self._prefix = ""
        return True

    def _emit(self, line: str | _Heading) -> None:
        self.lines.append((line, self._main > 0))


def _walk(root: etree._Element, sink: _HtmlToMarkdown) -> None:
    """Feed ``sink`` the tree's elements and text in document order (no recursion)."""
    todo: list[tuple[etree._Element, bool]] = [(root, False)]
    while todo:
        element, done = todo.pop()
        tag = element.tag if isinstance(element.tag, str) else None  # None: comment, PI
        if done or tag is None:
            if done and tag is not None:
                sink.end(tag)
            if element.tail and element is not root:
                sink.data(element.tail)
            continue
        sink.start(tag.lower(), element.attrib)
        if element.text:
            sink.data(element.text)
        todo.append((element, True))
        todo.extend((child, False) for child in reversed(element))
    sink.close()


def _parse_html(text: str) -> etree._Element:
    """The document's root (libxml2's HTML parser: no network, nesting capped)."""
    parser = lxml.html.HTMLParser(
        encoding="utf-8", remove_comments=True, remove_pis=True, no_network=True, huge_tree=False
    )
    # Controls go first: libxml2 would keep a NUL as U+FFFD ("Some\ufffdthing").
    data = sanitise_text(text).encode("utf-8", errors="replace")
    try:
        root = etree.fromstring(data, parser)
    except (etree.LxmlError, ValueError) as error:
        message = " ".join(str(error).split()) or type(error).__name__
        raise ExtractError(f"not an Offstream page: unreadable HTML ({message})") from None
    if root is None:
        raise ExtractError("not an Offstream page: empty HTML document")
    return root


def _inline(parts: list[str | _Link]) -> str:
    """A line's content as Markdown: whitespace collapsed, "[T](X)" links, "_…_" emphasis."""
    out = []
    for part in parts:
        if isinstance(part, _Link):
            text = _WS_RE.sub(" ", part.text).strip()
            out.append(f"[{text}]({part.href})" if text else "")
        else:
            out.append(part)
    text = _WS_RE.sub(" ", "".join(out))
    text = text.replace(_EM_OPEN + " ", _EM_OPEN).replace(" " + _EM_CLOSE, _EM_CLOSE)
    while _EM_OPEN + _EM_CLOSE in text:
        text = text.replace(_EM_OPEN + _EM_CLOSE, "")
    return text.replace(_EM_OPEN, "_").replace(_EM_CLOSE, "_").strip()


def _heading(level: int, parts: list[str | _Link]) -> _Heading | None:
    """A heading's content; None if it has no text."""
    links = [p for p in parts if isinstance(p, _Link) and p.text.strip()]
    words = "".join(p for p in parts if isinstance(p, str))
    words = _WS_RE.sub("", words.replace(_EM_OPEN, "").replace(_EM_CLOSE, ""))
    plain = "".join(p.text if isinstance(p, _Link) else p for p in parts)
    plain = _WS_RE.sub(" ", plain.replace(_EM_OPEN, "").replace(_EM_CLOSE, "")).strip()
    if not plain:
        return None
    href = links[0].href if len(links) == 1 and not words else None
    return _Heading(level, plain, href)


def _html_lines(text: str) -> list[str]:
    """The HTML rendition as the lines of the Markdown rendition; ExtractError if it is none."""
    if _XML_RE.match(text) and not _HTML_ROOT_RE.search(text[:_SNIFF_CHARS]):
        raise ExtractError(
            "not an Offstream page: got XML, expected the Markdown (.md) or HTML (.html) rendition"
        )
    converter = _HtmlToMarkdown()
    _walk(_parse_html(text), converter)
    content = converter.lines
    if any(in_main for _, in_main in content):
        content = [(line, in_main) for line, in_main in content if in_main]
    day_level = next(
        (line.level for line, _ in content if isinstance(line, _Heading) and line.is_date), None
    )
    lines = [line if isinstance(line, str) else line.line(day_level) for line, _ in content]
    if not _has_offstream_structure(lines):
        raise ExtractError(
            "not an Offstream page: HTML without an Offstream date heading or Changes list"
        )
    return _fix_headlines(lines)


def _has_offstream_structure(lines: list[str]) -> bool:
    """A date heading, or a Changes heading with a "(Current version)" entry."""
    if any(_DATE_HEADING_LINE_RE.match(line) for line in lines):
        return True
    changes = any(
        line.startswith("### ") and line[4:].rstrip(": ").lower() == "changes" for line in lines
    )
    return changes and any(_CURRENT_VERSION_RE.search(line) for line in lines)


def _fix_headlines(lines: list[str]) -> list[str]:
    """The item's headline is the "# " line after the date heading: a "# Site" banner before
    the date is dropped, and an <h2>/<h3> headline is promoted when no <h1> follows the date.
    Index pages are left as they are."""
    if any(map(_index_item_link, lines)):
        return lines
    date_at = next((i for i, line in enumerate(lines) if _DATE_HEADING_LINE_RE.match(line)), None)
    start = 0 if date_at is None else date_at + 1
    if not any(_HEADLINE_RE.match(line) for line in lines[start:]):
        promote = _headline_candidate(lines, start)
        if promote is None:
            return lines
        heading = _HEADING_RE.match(lines[promote])
        text = heading["text"] if heading else ""
        lines = [*lines[:promote], f"# {text}", *lines[promote + 1 :]]
    return [line for i, line in enumerate(lines) if i >= start or not _HEADLINE_RE.match(line)]


def _headline_candidate(lines: list[str], start: int) -> int | None:
    """The first heading from ``start`` on if it is a plain ``##``/``###`` one (not a section)."""
    for i in range(start, len(lines)):
        heading = _HEADING_RE.match(lines[i])
        if heading is None or len(heading["hashes"]) >= 4:
            continue  # text, or the "##### Category" heading that comes before the headline
        name = heading["text"].rstrip(":").strip().lower()
        if name not in _SECTION_NAMES and not _LINK_HEADING_RE.match(lines[i]):
            return i
        return None
    return None
