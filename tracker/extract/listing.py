"""JSON and CSV documents that list items (news APIs, git-scraped archives).

Each record is an item; a field map says where its id, headline, summary, URL,
date and tags are (`redline add URL --map headline=title --items data.articles`).
Without a map, common field names are recognised (title, href, link, guid, ...).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin, urlsplit

from tracker.errors import ExtractError, UserError
from tracker.extract.base import Observation

if TYPE_CHECKING:
    from tracker.extract import Page

FIELDS = ("id", "headline", "summary", "url", "updated", "tags", "category", "body")
# Names tried, in order, for a field the map does not give.
COMMON_NAMES: dict[str, tuple[str, ...]] = {
    "id": ("id", "guid", "uuid", "key"),
    "headline": ("headline", "title", "name"),
    "summary": ("summary", "description", "standfirst", "abstract", "dek"),
    "url": ("url", "link", "href", "permalink", "web_url"),
    "updated": ("updated", "updated_at", "modified", "dateModified", "published", "published_at"),
    "tags": ("tags", "tag", "categories", "keywords"),
    "category": ("category", "section"),
    "body": ("body", "content", "text"),
}


def parse_field_map(pairs: Sequence[str]) -> dict[str, str]:
    """["headline=title", "url=links.0.href"] as a mapping; a UserError for a bad pair."""
    field_map: dict[str, str] = {}
    for pair in pairs:
        name, _, path = pair.partition("=")
        name, path = name.strip(), path.strip()
        if name not in FIELDS or not path:
            raise UserError(
                f"--map takes FIELD=PATH with FIELD one of {', '.join(FIELDS)}; got {pair!r}"
            )
        field_map[name] = path
    return field_map


def is_listing_document(page: Page) -> bool:
    """A JSON document, or CSV whose header names a headline or URL column."""
    content_type = (page.content_type or "").split(";")[0].strip().lower()
    start = page.text.lstrip()[:1]
    if content_type.endswith("json") or start in ("[", "{"):
        return start in ("[", "{")
    if content_type in ("text/csv", "application/csv") or "," in page.text[:200].split("\n")[0]:
        header = {cell.strip().lower() for cell in page.text.split("\n", 1)[0].split(",")}
        wanted = set(COMMON_NAMES["headline"]) | set(COMMON_NAMES["url"])
        return bool(header & wanted)
    return False


def parse_listing(page: Page) -> list[Observation]:
    """One Observation per record, in document order."""
    field_map: Mapping[str, str] = page.options.get("map", {})
    records = _records(page)
    observations = []
    for record in records:
        if isinstance(record, Mapping):
            observation = _observation(record, field_map, page.url)
            if observation is not None:
                observations.append(observation)
    return observations


def _records(page: Page) -> list[Any]:
    text = page.text.lstrip("\ufeff")
    if text.lstrip()[:1] not in ("[", "{"):
        return list(csv.DictReader(io.StringIO(text)))
    try:
        data = json.loads(text)
    except ValueError as error:
        raise ExtractError(f"not valid JSON at {page.url}: {error}") from None
    items_path = page.options.get("items")
    if items_path:
        data = _lookup(data, items_path)
        if not isinstance(data, list):
            raise ExtractError(f"--items {items_path!r} is not a list in the JSON at {page.url}")
        return data
    if isinstance(data, list):
        return data
    lists = [key for key, value in data.items() if isinstance(value, list) and value]
    if len(lists) != 1:
        found = ", ".join(sorted(map(str, data))) or "none"
        raise ExtractError(f"say where the items are with --items (top-level keys: {found})")
    return data[lists[0]]


def _lookup(data: Any, path: str) -> Any:
    """A dotted path into nested JSON: "data.items", "links.0.href"; None if absent."""
    for part in path.split("."):
        if isinstance(data, Mapping):
            data = data.get(part)
        elif isinstance(data, list) and part.isdigit() and int(part) < len(data):
            data = data[int(part)]
        else:
            return None
    return data


def _field(record: Mapping[str, Any], field_map: Mapping[str, str], name: str) -> Any:
    if name in field_map:
        return _lookup(record, field_map[name])
    for candidate in COMMON_NAMES[name]:
        if record.get(candidate) not in (None, ""):
            return record[candidate]
    return None


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, (Mapping, list)):
        return None
    text = " ".join(str(value).split())
    return text or None


def _body(value: Any) -> str | None:
    """Body text keeps its line breaks (paragraphs); only outer space goes."""
    if value is None or isinstance(value, (Mapping, list)):
        return None
    return str(value).strip() or None


def _tags(value: Any) -> list[str] | None:
    if isinstance(value, str):
        entries = [part.strip() for part in value.split(",")]
    elif isinstance(value, list):
        entries = [
            _text(e.get("name") or e.get("label") or e.get("term"))
            if isinstance(e, Mapping)
            else _text(e)
            for e in value
        ]
    else:
        return None
    tags = [entry for entry in entries if entry]
    return tags or None


def _date(value: Any) -> date | None:
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        try:
            moment = parsedate_to_datetime(text)
        except (TypeError, ValueError):
            return None
    return moment.astimezone(UTC).date() if moment.tzinfo else moment.date()


def _observation(
    record: Mapping[str, Any], field_map: Mapping[str, str], base_url: str
) -> Observation | None:
    link = _text(_field(record, field_map, "url"))
    url = urljoin(base_url, link) if link else None
    if url and urlsplit(url).scheme not in ("http", "https"):
        url = None
    guid = _text(_field(record, field_map, "id"))
    headline = _text(_field(record, field_map, "headline"))
    if not (url or guid or headline):
        return None
    return Observation(
        url=url,
        headline=headline,
        summary=_text(_field(record, field_map, "summary")),
        category=_text(_field(record, field_map, "category")),
        tags=_tags(_field(record, field_map, "tags")),
        body=_body(_field(record, field_map, "body")),
        event_date=_date(_field(record, field_map, "updated")),
        guid=guid,
    )
