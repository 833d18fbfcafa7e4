"""The HTML rendition of Offstream pages, turned into the lines of the Markdown rendition
(tracker/extract/offstream_markdown.py reads those), so both renditions of one page give
the same Observations.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

import lxml.html
from lxml import etree

from tracker.errors import ExtractError
from tracker.extract.offstream_markdown import (
    _DATE_TEXT_RE,
    _HEADING_RE,
    _HEADLINE_RE,
    _LINK_HEADING_RE,
    _index_item_link,
)
from tracker.normalise import sanitise_text

# The current entry of a Changes list (tracker/extract/offstream.py's sniff looks for it too).
_CURRENT_VERSION_RE = re.compile(r"\(\s*Current version\s*\)", re.IGNORECASE)
# An XML document (the .xml rendition, a feed) rather than an HTML page.
_XML_RE = re.compile(r"^\s*<\?xml\b", re.IGNORECASE)
_HTML_ROOT_RE = re.compile(r"<(?:html|body|!doctype\s+html)\b", re.IGNORECASE)

_SNIFF_CHARS = 16_384  # how much of a page the sniffs read (here: for an HTML root)


# --- the HTML rendition ---------------------------------------------------------------------
#
# The page is turned into the lines of the Markdown rendition, then read by the rules of
# tracker/extract/offstream_markdown.py:
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
