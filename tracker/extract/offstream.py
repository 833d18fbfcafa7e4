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
(:func:`_html_lines`, tracker/extract/offstream_html.py) and then read by the same rules
(tracker/extract/offstream_markdown.py), so both renditions of one page give the same
Observations (their URLs differ only in the suffix). This module sniffs and dispatches.
"""

from __future__ import annotations

import re

from tracker.errors import ExtractError
from tracker.extract.base import Observation
from tracker.extract.offstream_html import _CURRENT_VERSION_RE, _SNIFF_CHARS, _html_lines
from tracker.extract.offstream_markdown import (
    _find_headline,
    _index_item_link,
    _parse_index,
    _parse_item,
)

# A line linking to the other renditions: "Formats: [HTML](…)  [JSON](…)  [XML](…)".
_FORMATS_RE = re.compile(r"^\s*Formats:\s*\[", re.IGNORECASE)
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
