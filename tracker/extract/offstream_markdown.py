"""The Markdown rendition of Offstream pages, read line by line (tracker/extract/offstream.py
decides which page it is and hands the HTML rendition over as the same lines).

An item page gives its headline, category, date, summary, sources and the page's own
Changes list; a day index or the front page gives one Observation per listed item.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from urllib.parse import urljoin

from tracker.extract.base import HistoryEntry, Observation

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
