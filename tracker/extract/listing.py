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
from typing import Any
from urllib.parse import urljoin, urlsplit

from tracker.errors import ExtractError, UserError
from tracker.extract.base import Observation, Page
from tracker.normalise import sanitise_text

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
# A CSV cell may be as long as the page (which the fetch caps); csv's default is 128 KiB.
csv.field_size_limit(max(csv.field_size_limit(), 64 * 1024 * 1024))
_SHOWN_KEYS = 20  # top-level keys named in an error message


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
    """One Observation per record, in document order.

    An empty list of records is an empty listing; records none of which is an item (not
    objects, or without id, headline and URL) are an ExtractError: such a page (an error
    page, a changed API) read as an empty listing would record every item as removed.
    """
    records = listing_records(page)
    observations = [
        observation
        for observation in (record_observation(record, page) for record in records)
        if observation is not None
    ]
    if records and not observations:
        if not any(isinstance(record, Mapping) for record in records):
            raise ExtractError(
                f"the items at {page.url} are not JSON objects (the first is {_a(records[0])})"
            )
        raise ExtractError(
            f"none of the {len(records)} items at {page.url} has an id, a headline or a URL"
            " (say which fields hold them with --map)"
        )
    return observations


def listing_records(page: Page) -> list[Any]:
    """The listing's records as parsed (JSON values, or CSV rows as mappings), in order."""
    return _records(page, page.options.get("map", {}))


def record_observation(record: Any, page: Page) -> Observation | None:
    """One record as an Observation; None when it is no item (not an object, or with no
    id, headline or URL)."""
    if not isinstance(record, Mapping):
        return None
    return _observation(record, page.options.get("map", {}), page.url)


# The fields _observation reads from a record.
_READ = ("url", "id", "headline", "summary", "category", "tags", "body", "updated")


def record_fields(record: Any, page: Page) -> list[Any] | None:
    """The values of a record that its Observation is made of, as found (not yet
    cleaned): two records with equal fields are one observation, whatever else they hold
    (a vote count, a rank). None for a record that is no object."""
    if not isinstance(record, Mapping):
        return None
    field_map = page.options.get("map", {})
    return [_field(record, field_map, name) for name in _READ]


def _records(page: Page, field_map: Mapping[str, str]) -> list[Any]:
    text = page.text.lstrip("\ufeff")
    start = text.lstrip()[:1]
    if not start:
        raise ExtractError(f"empty document at {page.url}")
    content_type = (page.content_type or "").split(";")[0].strip().lower()
    if start not in ("[", "{") and not content_type.endswith("json"):
        return _csv_records(text, field_map, page.url)
    try:
        data = json.loads(text)
    except RecursionError:  # json's C decoder recurses once per level of nesting
        raise ExtractError(f"not valid JSON at {page.url}: nested too deeply") from None
    except json.JSONDecodeError as error:
        raise ExtractError(f"not valid JSON at {page.url}: {error}") from None
    except ValueError:  # Python refuses to read an integer of more than 4,300 digits
        raise ExtractError(f"not valid JSON at {page.url}: a number is too long") from None
    items_path = page.options.get("items")
    if items_path:
        data = _lookup(data, items_path)
        if not isinstance(data, list):
            raise ExtractError(f"--items {items_path!r} is not a list in the JSON at {page.url}")
        return data
    if isinstance(data, list):
        return data
    if not isinstance(data, dict):
        raise ExtractError(f"the JSON at {page.url} is {_a(data)}, not a list of items")
    lists = [key for key, value in data.items() if isinstance(value, list) and value]
    if len(lists) != 1:
        keys = sorted(map(str, data))
        found = ", ".join(keys[:_SHOWN_KEYS]) + (", …" if len(keys) > _SHOWN_KEYS else "")
        raise ExtractError(
            f"say where the items are with --items (top-level keys: {found or 'none'})"
        )
    return data[lists[0]]


def _csv_records(text: str, field_map: Mapping[str, str], url: str) -> list[Any]:
    """The rows as mappings; an ExtractError if the header names no column to follow
    items by (then the page is no CSV listing, whatever it is)."""
    # newline="": a lone CR ends a row too, as csv expects of what it reads.
    reader = csv.DictReader(io.StringIO(text, newline=""))
    try:
        header = set(reader.fieldnames or [])
        wanted = {path.split(".")[0] for name, path in field_map.items() if name in _KEYS}
        wanted |= {name for key in _KEYS for name in COMMON_NAMES[key] if key not in field_map}
        if not header & wanted:
            raise ExtractError(
                f"not a JSON or CSV listing at {url}: no id, headline or URL column"
                " (say which columns hold them with --map)"
            )
        return list(reader)
    except csv.Error as error:
        raise ExtractError(f"not a readable CSV listing at {url}: {error}") from None


_KEYS = ("id", "headline", "url")  # the fields an item is followed by


def _a(value: Any) -> str:
    """What a JSON value is, for a message: "a string", "a number", "null"."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    return {str: "a string", list: "a list", dict: "an object"}.get(type(value), "a value")


def _lookup(data: Any, path: str) -> Any:
    """A dotted path into nested JSON: "data.items", "links.0.href"; None if absent."""
    for part in path.split("."):
        if isinstance(data, Mapping):
            data = data.get(part)
        # isdecimal, not isdigit: int() refuses "²"; a long number is no list index.
        elif (
            isinstance(data, list) and part.isdecimal() and len(part) < 10 and int(part) < len(data)
        ):
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
    # Sanitised here, not only later: a cell of control characters is no link or id.
    if value is None or isinstance(value, (Mapping, list)):
        return None
    text = " ".join(sanitise_text(str(value)).split())
    return text or None


def _body(value: Any) -> str | None:
    """Body text keeps its line breaks (paragraphs); only outer space goes."""
    if value is None or isinstance(value, (Mapping, list)):
        return None
    return sanitise_text(str(value)).strip() or None


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
    try:
        return moment.astimezone(UTC).date() if moment.tzinfo else moment.date()
    except OverflowError:  # 0001-01-01T00:00+05:00 is before year 1 in UTC
        return None


def _observation(
    record: Mapping[str, Any], field_map: Mapping[str, str], base_url: str
) -> Observation | None:
    url = _absolute(base_url, _text(_field(record, field_map, "url")))
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


def _absolute(base_url: str, link: str | None) -> str | None:
    """The link resolved against the page, if it is an http(s) URL."""
    if not link:
        return None
    try:
        url = urljoin(base_url, link)
        scheme = urlsplit(url).scheme
    except ValueError:  # "http://[::1": not a URL
        return None
    return url if scheme in ("http", "https") else None
