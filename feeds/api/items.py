"""Items: the list (/api/items), one item, its versions and diffs between two of them."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal, get_args

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import Response
from sqlalchemy.engine import Row
from sqlmodel import Session

from feeds.api.conditional import cache_headers, etag_of, not_modified
from feeds.api.guards import GuardedRoute
from feeds.api.models import (
    MAX_TEXT,
    NOT_FOUND,
    NOT_MODIFIED,
    DiffOut,
    HistoryOut,
    ItemDetail,
    ItemPage,
    Problem,
    item_fields,
)
from feeds.api.paging import CursorQuery, Limit, cursor_id, decode_cursor, page_cursor, page_size
from feeds.api.plain import PlainJSON, json_bytes
from feeds.deps import SessionDep, SettingsDep, in_session
from feeds.hot_pages import Generation, HotPage, HotPages
from feeds.ids import ItemId
from feeds.settings import ServiceSettings
from storage import MAX_ID, Item, item_pages, queries
from tracker.errors import UserError
from tracker.identity import match
from tracker.normalise import canonical_url
from tracker.present import render
from tracker.record import history

# As `redline diff --format`.
DiffFormat = Literal["json", "text", "html", "side-by-side", "patch"]
DIFF_FORMATS = get_args(DiffFormat)

router = APIRouter(route_class=GuardedRoute)


@router.get("/api/items", response_model=ItemPage, tags=["items"])
def list_items(
    q: Annotated[
        str | None,
        Query(max_length=MAX_TEXT, description="the current headline contains this (any case)"),
    ] = None,
    source: Annotated[int | None, Query(ge=1, le=MAX_ID, description="a source id")] = None,
    tag: Annotated[
        str | None,
        Query(max_length=MAX_TEXT, description="the latest version has exactly this tag"),
    ] = None,
    url: Annotated[
        str | None,
        Query(max_length=2048, description="the item has had this URL (any rendition)"),
    ] = None,
    since: Annotated[
        date | None,
        Query(
            description="YYYY-MM-DD: the item's day is on or after (its event date, "
            "else the UTC day it was first seen)"
        ),
    ] = None,
    until: Annotated[
        date | None, Query(description="YYYY-MM-DD: the item's day is on or before")
    ] = None,
    limit: Limit = None,
    cursor: CursorQuery = None,
    session: Session = SessionDep,
    settings: ServiceSettings = SettingsDep,
) -> PlainJSON:
    """Items, newest (most recently discovered) first, a page at a time."""
    size = page_size(limit, settings)
    before = cursor_id(decode_cursor(cursor, "items"), "before") if cursor else None
    item_ids = _items_with_url(session, url) if url else None
    rows = item_pages.item_page(
        session,
        size + 1,
        before=before,
        text=q,
        source_id=source,
        tag=tag,
        since=since,
        until=until,
        item_ids=item_ids,
    )
    page = list(rows[:size])
    more = len(rows) > size and page[-1].id is not None
    return PlainJSON(  # ItemPage's JSON (feeds/api/plain.py)
        {
            "items": [item_fields(item) for item in page],
            "next": page_cursor("items", page[-1].id or 0) if more else None,
        }
    )


@router.get(
    "/api/items/{item_id}",
    response_model=ItemDetail,
    responses=NOT_FOUND | NOT_MODIFIED,
    tags=["items"],
)
async def get_item(item_id: ItemId, request: Request) -> Any:
    """One item: `redline history --json`'s item, with its listing fields. Carries an
    ETag; If-None-Match with it answers 304 after one statement."""
    return await in_session(request, lambda session: _item_detail(request, session, item_id))


def _item_detail(request: Request, session: Session, item_id: int) -> Response:
    found = item_pages.item_with_alias_state(session, item_id, "url")
    if found is None:
        raise HTTPException(404, f"no item {item_id}")
    item, aliases, newest_alias = found
    fields = item_fields(item)
    etag = etag_of("item", *fields.values(), aliases, newest_alias)
    if not_modified(request, etag):
        return Response(status_code=304, headers=cache_headers(etag))
    urls = queries.alias_values(session, item_id, "url")
    return PlainJSON({**fields, "urls": urls}, headers=cache_headers(etag))  # ItemDetail's JSON


@router.get(
    "/api/items/{item_id}/versions",
    response_model=HistoryOut,
    responses=NOT_FOUND | NOT_MODIFIED,
    tags=["items"],
)
async def item_versions(item_id: ItemId, request: Request) -> Any:
    """The item and every version, oldest first: the same object as `redline history
    --json`. Carries an ETag; If-None-Match with it answers 304. Kept built in memory
    while the change log is unchanged (feeds/hot_pages.py), as the feeds are."""
    hot: HotPages = request.app.state.hot_pages

    async def build(generation: Generation) -> HotPage:
        return await in_session(request, lambda session: _versions(session, item_id, generation))

    page = await hot.page(("versions", item_id), build)
    if not_modified(request, page.etag):
        return Response(status_code=304, headers=page.headers)
    return Response(page.body, media_type="application/json", headers=page.headers)


def _versions(session: Session, item_id: int, generation: Generation) -> HotPage:
    found = item_pages.item_with_alias_state(session, item_id, "url")
    if found is None:
        raise HTTPException(404, f"no item {item_id}")
    item, aliases, newest_alias = found
    # Versions (and the changes that made them) are only added, with version_count; a
    # removal or a move shows in removed_at, url and the aliases.
    # Archived copies ([archive]) come later than their versions, and only grow in number.
    archived = queries.archived_count(session, item_id)
    state = (item.version_count, item.url, item.removed_at, aliases, newest_alias, archived)
    etag = etag_of("versions", item_id, *state)
    body = json_bytes(history.history_document(session, item))
    return HotPage(body, etag, None, cache_headers(etag), generation)


@router.get(
    "/api/items/{item_id}/diff",
    response_model=DiffOut,
    responses={
        200: {
            "content": {"text/plain": {}, "text/html": {}},
            "description": "json: DiffOut; text and patch: text/plain; html and "
            "side-by-side: an HTML fragment",
        },
        400: {"model": Problem, "description": "no such version"},
        404: {"model": Problem},
    },
    tags=["items"],
)
def item_diff(
    item_id: ItemId,
    from_ref: Annotated[
        str, Query(alias="from", max_length=20, description="first, previous or a number")
    ] = "first",
    to_ref: Annotated[
        str, Query(alias="to", max_length=20, description="current or a number")
    ] = "current",
    fmt: Annotated[DiffFormat, Query(alias="format")] = "json",
    session: Session = SessionDep,
) -> Any:
    """What changed between two versions: the same as `redline diff --format FORMAT`."""
    _item_or_404(session, item_id)
    versions = queries.versions_of(session, item_id, plain=True)
    try:
        new = history.pick_version(versions, to_ref)
        old = history.pick_version(versions, from_ref, before=new)
    except UserError as error:
        raise HTTPException(400, str(error)) from error
    field_ops = history.readable_diff(history.diff_versions(old, new))
    if fmt == "json":
        fields = {name: [[op, text] for op, text in ops] for name, ops in field_ops.items()}
        return PlainJSON({"from": old.n, "to": new.n, "fields": fields})  # DiffOut's JSON
    body = render.render_diff_document(item_id, old, new, field_ops, fmt)
    media = "text/html" if fmt in ("html", "side-by-side") else "text/plain"
    return Response(body, media_type=f"{media}; charset=utf-8")


def _item_or_404(session: Session, item_id: int) -> Row[Any]:
    item = queries.row_by_id(session, Item, item_id)
    if item is None:
        raise HTTPException(404, f"no item {item_id}")
    return item


def _items_with_url(session: Session, url: str) -> list[int]:
    """Items that have had this URL (or, for an Offstream page, another rendition of it)."""
    try:
        url = canonical_url(url)
    except ValueError as error:  # urllib: a bad IPv6 literal, a port out of range
        raise HTTPException(400, f"not a URL: {url[:100]!r} ({error})") from None
    matches = queries.items_by_alias(session, "url", [url])
    stem = match.page_stem(url)
    if not matches and stem:
        matches = queries.items_by_alias(session, "page", [stem])
    return [item.id for item in matches if item.id is not None]
