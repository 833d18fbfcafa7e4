"""Stable ids that publishers put inside their URLs, and dates in URL paths.

Many sites rebuild an article's slug from its headline, so an edited headline moves the
article to a new URL; but the URL also carries the publisher's own id, which survives
the edit: `/politik/article695278baba368aa0126a60cc/slug.html`,
`/world/slug-a-1b4e28ba-2fa1-11d2-883f-0016d3cca427`, `/news/world-europe-60454795`,
`/item?id=25012360`, `/news/articles/c4gzyx1d9o2o`, `…-idUSKBN2AB1CD`. `stable_id` finds
such an id without configuration, by the shapes publishers use, and scopes it so that
equal ids of two sites (or two repositories of one site) never meet:

- a UUID or a 24/32/40-digit hex token anywhere in the path: ids that only a database
  makes, scoped by host;
- Reuters-style `idXXXXX…` and a base-36 token after `/articles/` or `/story/`: by host;
- a number of 5+ digits that is a whole path segment or ends the last one, or an `id`
  query parameter: scoped by host and the path before it (GitHub's `/a/b/pull/12345`
  and `/a/c/pull/12345` stay apart); a number that reads as a date is not an id.

A slug's words never make an id: only the end of the last segment or a whole segment is
read, so "…-rises-to-12345-people-…" gives nothing.
"""

from __future__ import annotations

import re
from datetime import date
from functools import lru_cache
from urllib.parse import parse_qsl, urlsplit

_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.I)
# Hex ids of a database's width (MongoDB ObjectId, MD5, SHA-1), not longer runs: the last
# digits of a run, so "article<24 hex>" and "plus<24 hex>" give the same id.
_HEX = re.compile(r"(?<![0-9a-f])(?:[0-9a-f]{40}|[0-9a-f]{32}|[0-9a-f]{24})(?![0-9a-f])", re.I)
_HEX_IN_RUN = re.compile(r"([0-9a-f]{24})(?![0-9a-f])", re.I)
_REUTERS = re.compile(r"(?:^|[-_])(id[A-Z]{2,5}[A-Z0-9]{4,})$")
_BASE36 = re.compile(r"^(?=[a-z0-9]*\d)(?=[a-z0-9]*[a-z])[a-z0-9]{8,20}$")
_ARTICLE_DIRS = frozenset({"articles", "article", "story", "stories"})
_TRAILING_NUMBER = re.compile(r"(?:^|[-_.])(\d{5,})$")
_PAGE_SUFFIX = re.compile(r"\.(?:s?html?|php|aspx?|ece|cms|md|amp)$", re.I)
_ID_PARAMS = re.compile(r"^(?:id|p|story|article|[a-z_]*_id|[a-z]*id)$", re.I)
_DATE_IN_PATH = re.compile(r"/((?:19|20)\d\d)[/-](\d{1,2})[/-](\d{1,2})(?=/|$|[-_])")
_DATE_NUMBER = re.compile(r"^((?:19|20)\d\d)(\d\d)(\d\d)$")


@lru_cache(maxsize=65_536)
def stable_id(url: str) -> str | None:
    """The publisher's id found in the URL, as "scope|id"; None when it shows none."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower().removeprefix("www.")
    if not host:
        return None
    segments = [segment for segment in parts.path.split("/") if segment]
    if segments:
        segments[-1] = _PAGE_SUFFIX.sub("", segments[-1])
    path = "/".join(segments)
    for pattern in (_UUID, _HEX):
        found = pattern.findall(path)
        if found:
            return f"{host}|{found[-1].lower()}"
    hex_run = _HEX_IN_RUN.findall(path)  # "article<24 hex>": the run ends in the id
    if hex_run:
        return f"{host}|{hex_run[-1].lower()}"
    if segments:
        reuters = _REUTERS.search(segments[-1])
        if reuters:
            return f"{host}|{reuters.group(1)}"
        for before, segment in zip(segments, segments[1:], strict=False):
            if before.lower() in _ARTICLE_DIRS and _BASE36.match(segment.lower()):
                return f"{host}|{segment.lower()}"
    for position in range(len(segments) - 1, -1, -1):
        segment = segments[position]
        number = segment if segment.isdigit() and len(segment) >= 5 else None
        if number is None and position == len(segments) - 1:
            trailing = _TRAILING_NUMBER.search(segment)
            number = trailing.group(1) if trailing else None
        if number and not _is_date_number(number):
            scope = "/".join(segments[:position])
            return f"{host}/{scope}|{number}"
    for name, value in parse_qsl(parts.query):
        if _ID_PARAMS.match(name) and value.isdigit() and len(value) >= 4:
            return f"{host}/{path}?{name.lower()}|{value}"
    return None


def _is_date_number(number: str) -> bool:
    match = _DATE_NUMBER.match(number)
    return bool(match) and 1 <= int(match.group(2)) <= 12 and 1 <= int(match.group(3)) <= 31


@lru_cache(maxsize=65_536)
def date_in_path(url: str) -> date | None:
    """The publication date a URL path spells (/2024/03/05/, /2024-03-05-…, /20240305/)."""
    path = urlsplit(url).path
    match = _DATE_IN_PATH.search(path)
    if match:
        year, month, day = (int(part) for part in match.groups())
    else:
        numbers = [s for s in path.split("/") if _DATE_NUMBER.match(s) and _is_date_number(s)]
        if not numbers:
            return None
        year, month, day = (int(part) for part in _DATE_NUMBER.match(numbers[0]).groups())  # type: ignore[union-attr]
    try:
        return date(year, month, day)
    except ValueError:
        return None


# -- ids learned per site ---------------------------------------------------------------
#
# Shapes no rule above knows (`/story/8841/slug`, `…/slug-a-x7k2p9`): when an item that
# something else identified (a guid, --id-pattern, a fuzzy pairing, a page's Changes list)
# moves to a new URL, the part both URLs share while the slug changed is the publisher's
# id. A site's sources count such moves per shape (tracker.record.ingest); once two moves agree,
# that shape is read as an id on the site's URLs too.

LEARNED_AFTER = 2  # moves that must agree before a learned shape is used
_LEARNABLE = re.compile(r"^(?=[a-z0-9]*\d)[a-z0-9]{4,24}$")
_YEAR = re.compile(r"^(?:19|20)\d\d$")


def _parts(url: str) -> tuple[str, list[str]]:
    parts = urlsplit(url)
    host = (parts.hostname or "").lower().removeprefix("www.")
    segments = [segment.lower() for segment in parts.path.split("/") if segment]
    if segments:
        segments[-1] = _PAGE_SUFFIX.sub("", segments[-1])
    return host, segments


def _learnable(token: str) -> bool:
    """A token that can be an id: 4-24 letters and digits, at least one a digit; not a
    year or a date."""
    return bool(_LEARNABLE.match(token)) and not _YEAR.match(token) and not _is_date_number(token)


def _tail(segment: str) -> str:
    return re.split(r"[-_.]", segment)[-1]


def surviving_shapes(old: str, new: str) -> list[str]:
    """The shapes of the id-like parts an item's old and new URL share while the slug
    changed: "tail" (the last token of the last segment) and "segment N" (a whole segment
    by position). [] when the URLs are of two hosts, the same path, or share nothing."""
    old_host, old_segments = _parts(old)
    new_host, new_segments = _parts(new)
    if old_host != new_host or not old_segments or old_segments == new_segments:
        return []
    shapes = []
    tail = _tail(old_segments[-1])
    slug_changed = old_segments[-1] != new_segments[-1]
    if slug_changed and tail == _tail(new_segments[-1]) and tail != old_segments[-1]:
        shapes += ["tail"] if _learnable(tail) else []
    for position, (was, now) in enumerate(zip(old_segments[:-1], new_segments[:-1], strict=False)):
        if was == now and _learnable(was) and len(old_segments) == len(new_segments):
            shapes.append(f"segment {position}")
    return shapes


def learned_id(url: str, shapes: tuple[str, ...]) -> str | None:
    """The id a learned shape reads in the URL, as "scope|id" (scoped by host and shape);
    None when no shape finds one."""
    host, segments = _parts(url)
    if not host or not segments:
        return None
    for shape in shapes:
        if shape == "tail":
            token = _tail(segments[-1])
            if _learnable(token) and token != segments[-1]:
                return f"{host}/learned-tail|{token}"
        elif shape.startswith("segment "):
            position = int(shape.removeprefix("segment "))
            if position < len(segments) - 1 and _learnable(segments[position]):
                return f"{host}/learned-{position}|{segments[position]}"
    return None
