"""The JSON API's shapes: what each route answers (…Out, …Page) and what the writes take
(SourceIn, SourcePatch), and the functions that shape stored rows into them.

Shapes follow the CLI's JSON where they overlap (`redline items|history|diff|sources
--json`), so a script can use either.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from sqlalchemy.engine import Row

from storage import Item, Source
from tracker.normalise import redact_url
from tracker.run.config import INTERVAL_RULE
from tracker.run.sources import MAX_URL_LENGTH
from tracker.run.status import source_health
from tracker.tuning import MAX_MATCH_WINDOW_HOURS

MAX_TEXT = 200  # characters of a search text, tag or name


class Out(BaseModel):
    model_config = ConfigDict(validate_by_name=True, validate_by_alias=True)


class ItemOut(Out):
    id: int
    url: str | None
    headline: str | None = Field(description="the current headline")
    versions: int = Field(description="how many versions the item has")
    source_id: int
    event_date: date | None = Field(description="the day the page gives for the news")
    first_seen_at: datetime
    last_seen_at: datetime
    removed_at: datetime | None = Field(description="when it left its listing (null: listed)")


class ItemPage(Out):
    items: list[ItemOut]
    next: str | None = Field(description="cursor of the next page; null on the last page")


class ItemDetail(ItemOut):
    urls: list[str] = Field(description="every URL the item has had, oldest first")


class Judged(Out):
    """How much a change matters (tracker/compare/significance.py)."""

    class_: str | None = Field(
        alias="class", description="style, rewording or substantive (null: not an edit)"
    )
    score: float | None = Field(
        description="0-1: style up to 0.1, rewording 0.2-0.5, substantive 0.6-1 (null: none)"
    )
    reasons: list[str] = Field(
        description='why, field by field: "headline: number changed: 8 → 12"'
    )
    similarity: float | None


class VersionChange(Judged):
    kind: str = Field(
        description="created, edited, headline_test (a headline back to a recent one: an A/B "
        "test, named once), headline_flip (a later switch among its variants) or shown (a "
        "field a listing shows for some items only, shown for the first time: no edit)"
    )
    fields: list[str]
    variants: list[str] | None = Field(None, description="a headline test's headlines")


class VersionOut(Out):
    n: int
    headline: str | None
    summary: str | None
    category: str | None
    tags: list[str] | None
    observed_at: datetime
    reported_at: datetime | None = Field(
        description="when the version began, by the page's own history (its Changes list)"
    )
    origin: str = Field(description="observed, page-history or import")
    archived_url: str | None = Field(
        description="the page as it was at this version, in the Wayback Machine ([archive]); "
        "null: not archived (yet)"
    )
    change: VersionChange | None = Field(description="the change that made this version")


class HistoryItem(Out):
    id: int
    url: str | None
    urls: list[str] = Field(description="every URL the item has had, oldest first")
    removed_at: datetime | None = Field(description="when it left its listing (null: listed)")


class HistoryOut(Out):
    item: HistoryItem
    versions: list[VersionOut] = Field(description="every version, oldest first")


class DiffOut(Out):
    from_: int = Field(alias="from", description="version number")
    to: int = Field(description="version number")
    fields: dict[str, list[tuple[int, str]]] = Field(
        description="field -> diff-match-patch ops [op, text]: -1 deleted, 0 kept, 1 inserted"
    )


class ChangeOut(Judged):
    id: int
    item_id: int
    source_id: int
    kind: str = Field(
        description="created, edited, removed, restored, headline_test, headline_flip or shown"
    )
    from_n: int | None
    to_n: int | None
    fields: list[str]
    variants: list[str] | None = Field(None, description="a headline test's headlines")
    occurred_at: datetime
    recorded_at: datetime
    diff: dict[str, list[tuple[int, str]]] | None = Field(
        description="the stored consecutive diff: field -> [op, text] ops"
    )


class ChangePage(Out):
    changes: list[ChangeOut]
    next: str = Field(description="poll again with since=next (unchanged when nothing is new)")


# A source's URL, or a message that may quote it, as the API shows it: without the
# source's credentials (errors stored by an older redline may still hold them).
Redacted = Annotated[str, AfterValidator(redact_url)]


class SourceOut(Out):
    id: int
    url: Redacted
    kind: str
    name: str | None
    site: str | None = Field(description="the sources of one site share their items")
    enabled: bool
    last_checked_at: datetime | None
    next_check_at: datetime | None
    consecutive_failures: int
    last_error: Redacted | None
    options: dict[str, Any]
    partial_fields: list[str] = Field(
        description="fields its listing shows for some items only (learned): an item shown "
        "without one keeps its last known value"
    )
    interval_seconds: int | None = Field(description="null: the daemon's default interval")
    cron: str | None = Field(description="a crontab line (UTC) giving the check times")
    retired_at: datetime | None = Field(description="when it was retired (gone, aged out)")
    retired_reason: str | None
    created_at: datetime
    health: str = Field(
        description="ok, new (not checked yet), erring (failed, fewer than [daemon] "
        "failing_after times in a row), failing, disabled or retired: as `redline sources`"
    )


class CheckOut(Out):
    id: int
    source_id: int
    started_at: datetime
    finished_at: datetime
    outcome: str = Field(description="changed, unchanged, not_modified or error")
    http_status: int | None
    bytes: int | None
    error: Redacted | None
    items_seen: int
    versions_added: int
    changes_added: int


class SourcePage(Out):
    sources: list[SourceOut]
    next: str | None = Field(description="cursor of the next page; null on the last page")


class CheckPage(Out):
    checks: list[CheckOut]
    next: str | None


class Health(Out):
    status: str
    detail: str | None = None


class Problem(Out):
    detail: str


class SourceOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    map: dict[str, Annotated[str, Field(max_length=MAX_TEXT)]] | None = Field(
        None,
        max_length=20,
        description="listing: field (id, headline, summary, url, updated, tags, category, "
        "body) -> dotted JSON path or CSV column",
    )
    items: str | None = Field(None, max_length=MAX_TEXT, description="listing: path to the list")
    id_pattern: str | None = Field(
        None, max_length=500, description="regex finding the item id in its URL (group 1)"
    )
    ignore: list[Annotated[str, Field(max_length=500)]] | None = Field(
        None,
        max_length=20,
        description="regexes for text that is noise on this source: left out when comparing "
        "versions (the text is stored as seen)",
    )
    match_threshold: float | None = Field(
        None, description="fuzzy identity: similarity 0-1 a newcomer needs (above 1: off)"
    )
    headline_test_hours: float | None = Field(
        None,
        ge=0,
        le=168,
        description="hours within which a headline coming back makes a headline test (24; 0: off)",
    )
    match_window_hours: float | None = Field(
        None,
        ge=0,
        le=MAX_MATCH_WINDOW_HOURS,
        description="fuzzy identity: hours after it left a listing an item may still be paired",
    )


class SourceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: str = Field(max_length=MAX_URL_LENGTH)
    kind: str = Field("auto", max_length=20)
    name: str | None = Field(None, max_length=MAX_TEXT)
    every: str | float | None = Field(
        None, description=f"check interval: {INTERVAL_RULE} (null: the default)"
    )
    cron: str | None = Field(
        None, max_length=200, description="check at these times instead: a crontab line (UTC)"
    )
    site: str | None = Field(
        None,
        max_length=253,
        description="the sources of one site share their items (null: the URL's host)",
    )
    options: SourceOptions | None = None


class SourcePatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(None, max_length=MAX_TEXT, description="null clears it")
    enabled: bool | None = Field(None, strict=True, description="true or false (not 0 or 1)")
    every: str | float | None = Field(
        None, description=f"{INTERVAL_RULE}; null: back to the daemon's default"
    )
    cron: str | None = Field(
        None, max_length=200, description="check at these times instead (null: none)"
    )
    site: str | None = Field(
        None, max_length=253, description="group it with other sources (null: its URL's host)"
    )
    ignore: list[Annotated[str, Field(max_length=500)]] | None = Field(
        None, max_length=20, description="noise patterns (regexes), replacing any; null or []: none"
    )
    headline_test_hours: float | None = Field(
        None, ge=0, le=168, description="headline tests' window in hours (0: off; null: 24)"
    )
    match_threshold: float | None = Field(
        None, ge=0, le=2, description="fuzzy identity: similarity 0-1 (above 1: off; null: 0.6)"
    )
    match_window_hours: float | None = Field(
        None,
        ge=0,
        le=MAX_MATCH_WINDOW_HOURS,
        description="fuzzy identity: window in hours (null: 12)",
    )


# -- shaping rows --------------------------------------------------------------------------


def item_fields(item: Item | Row[Any]) -> dict[str, Any]:
    """ItemOut's fields of a stored item (an ORM object or a plain row)."""
    return {
        "id": item.id,
        "url": item.url,
        "headline": item.headline,
        "versions": item.version_count,
        "source_id": item.source_id,
        "event_date": item.event_date,
        "first_seen_at": item.first_seen_at,
        "last_seen_at": item.last_seen_at,
        "removed_at": item.removed_at,
    }


def source_fields(source: Source | Row[Any], failing_after: int) -> dict[str, Any]:
    """SourceOut's fields of a stored source, its URL and last error without credentials."""
    return {
        "id": source.id or 0,
        "url": redact_url(source.url),
        "kind": source.kind,
        "name": source.name,
        "site": source.site,
        "enabled": source.enabled,
        "last_checked_at": source.last_checked_at,
        "next_check_at": source.next_check_at,
        "consecutive_failures": source.consecutive_failures,
        "last_error": None if source.last_error is None else redact_url(source.last_error),
        "options": source.options or {},
        "partial_fields": source.partial_fields or [],
        "interval_seconds": source.interval_seconds,
        "cron": source.cron,
        "retired_at": source.retired_at,
        "retired_reason": source.retired_reason,
        "created_at": source.created_at,
        "health": source_health(source, failing_after).state,
    }


def source_out(source: Source, failing_after: int) -> SourceOut:
    return SourceOut(**source_fields(source, failing_after))


def check_fields(check: Row[Any]) -> dict[str, Any]:
    """CheckOut's fields of a stored check, its error without credentials."""
    return {
        "id": check.id,
        "source_id": check.source_id,
        "started_at": check.started_at,
        "finished_at": check.finished_at,
        "outcome": check.outcome,
        "http_status": check.http_status,
        "bytes": check.bytes,
        "error": None if check.error is None else redact_url(check.error),
        "items_seen": check.items_seen,
        "versions_added": check.versions_added,
        "changes_added": check.changes_added,
    }


NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": Problem}}
NOT_MODIFIED: dict[int | str, dict[str, Any]] = {
    304: {"description": "Not modified (If-None-Match matches the ETag)"}
}
