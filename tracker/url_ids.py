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
