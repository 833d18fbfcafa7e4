"""The Atom feeds over HTTP: /feeds/edits.atom, /feeds/sources/ID.atom,
/feeds/sources/ID/listing.atom, /feeds/items/ID.atom, /feeds/tags/TAG.atom (feeds/atom.py
builds them).

Every edits feed takes ?kind=editorial|all|substantive|rewording|style|listing (minor:
style; listing: removals and restorations instead of edits; see feeds/atom.py),
?field=NAME, and every feed ?before=CHANGE_ID (an older page, RFC 5005) and ?limit=N
(default the service's page_size, at most 200). Answers carry a weak ETag and
Last-Modified computed without building the feed; If-None-Match (a list, weak or strong,
or *) and, without it, If-Modified-Since are answered with 304.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from sqlmodel import Session

from feeds import atom, feed_names, feed_query
from feeds.deps import SettingsDep, in_session
from feeds.hot_pages import Generation, HotPage, HotPages
from feeds.ids import known_id
from feeds.settings import ServiceSettings
from storage import MAX_ID

router = APIRouter(tags=["feeds"])

ATOM_TYPE = "application/atom+xml; charset=utf-8"
NEWEST_PAGE_MAX_AGE = 60  # seconds: the newest page changes with every edit
OLDER_PAGE_MAX_AGE = 86400  # a page with ?before= never changes

Kind = Annotated[
    Literal["editorial", "all", "substantive", "rewording", "style", "minor", "listing"] | None,
    Query(
        description="editorial (the default): substantive and rewording edits; all: style "
        "edits too; substantive, rewording or style: edits of that class only; minor: the "
        "old name of style; listing: the removals and restorations of listing items "
        "instead of edits"
    ),
]
FieldName = Annotated[
    Literal["headline", "summary", "category", "tags", "sources", "body"] | None,
    Query(description="only edits that changed this field"),
]
Before = Annotated[
    int | None,
    Query(
        ge=1,
        le=MAX_ID,
        description="an older page: the changes with an id below this one (RFC 5005)",
    ),
]
Limit = Annotated[
    int | None,
    Query(
        ge=1,
        description=f"entries per page (default page_size; at most {feed_query.MAX_PAGE_SIZE})",
    ),
]


@dataclass(frozen=True)
class Filters:
    """The query parameters every feed takes."""

    kind: str | None
    field: str | None
    before: int | None
    limit: int | None


async def filters(
    kind: Kind = None, field: FieldName = None, before: Before = None, limit: Limit = None
) -> Filters:
    """async: no I/O, so no hop to the thread pool."""
    return Filters(kind, field, before, limit)


FiltersDep = Depends(filters)

FEED_RESPONSES: dict[int | str, dict[str, object]] = {
    200: {"content": {"application/atom+xml": {}}, "description": "An Atom 1.0 feed page"},
    304: {"description": "Not modified (If-None-Match / If-Modified-Since)"},
}


@router.get("/feeds/edits.atom", responses=FEED_RESPONSES, response_class=Response)
@router.head("/feeds/edits.atom", include_in_schema=False)
async def edits_feed(
    request: Request,
    params: Filters = FiltersDep,
    settings: ServiceSettings = SettingsDep,
) -> Response:
    """Every edit, newest first (kind=listing: every removal and restoration)."""
    return await _serve(request, settings, "edits", None, params)


@router.get(
    "/feeds/sources/{source_id:int}.atom",
    responses={**FEED_RESPONSES, 404: {"description": "No such source"}},
    response_class=Response,
)
@router.head("/feeds/sources/{source_id:int}.atom", include_in_schema=False)
async def source_feed(
    request: Request,
    source_id: int,
    params: Filters = FiltersDep,
    settings: ServiceSettings = SettingsDep,
) -> Response:
    """The edits to one source's items."""
    return await _serve(request, settings, "source", known_id(source_id, "source"), params)


async def page_only(before: Before = None, limit: Limit = None) -> Filters:
    """A listing feed's parameters: it has no kind or field to filter on."""
    return Filters(None, None, before, limit)


PageOnlyDep = Depends(page_only)


@router.get(
    "/feeds/sources/{source_id:int}/listing.atom",
    responses={**FEED_RESPONSES, 404: {"description": "No such source"}},
    response_class=Response,
)
@router.head("/feeds/sources/{source_id:int}/listing.atom", include_in_schema=False)
async def listing_feed(
    request: Request,
    source_id: int,
    params: Filters = PageOnlyDep,
    settings: ServiceSettings = SettingsDep,
) -> Response:
    """One source's listing: its items that left it or came back, newest first."""
    return await _serve(request, settings, "listing", known_id(source_id, "source"), params)


@router.get(
    "/feeds/items/{item_id:int}.atom",
    responses={**FEED_RESPONSES, 404: {"description": "No such item"}},
    response_class=Response,
)
@router.head("/feeds/items/{item_id:int}.atom", include_in_schema=False)
async def item_feed(
    request: Request,
    item_id: int,
    params: Filters = FiltersDep,
    settings: ServiceSettings = SettingsDep,
) -> Response:
    """One item's edits; its newest page opens with the first-to-current diff."""
    return await _serve(request, settings, "item", known_id(item_id, "item"), params)


@router.get("/feeds/tags/{tag:path}.atom", responses=FEED_RESPONSES, response_class=Response)
@router.head("/feeds/tags/{tag:path}.atom", include_in_schema=False)
async def tag_feed(
    request: Request,
    tag: str,
    params: Filters = FiltersDep,
    settings: ServiceSettings = SettingsDep,
) -> Response:
    """Edits whose new version has this tag (percent-encode it in the URL)."""
    if not tag:
        raise HTTPException(status_code=404, detail="no tag given")
    return await _serve(request, settings, "tag", tag, params)


def feed_config(settings: ServiceSettings) -> feed_names.FeedConfig:
    return feed_names.FeedConfig(
        authority=settings.tag_authority,
        public_url=settings.public_url,
        page_size=feed_query.bounded_limit(settings.page_size),
    )


async def _serve(
    request: Request, settings: ServiceSettings, scope: str, key: int | str | None, params: Filters
) -> Response:
    config = feed_config(settings)
    limit = feed_query.bounded_limit(params.limit, config.page_size)
    query = feed_query.FeedQuery(scope, key, params.kind, params.field, params.before, limit)
    if query.before is not None:  # an older page: built on request (feeds/hot_pages.py)
        return await in_session(request, lambda session: _answer(request, session, config, query))
    hot: HotPages = request.app.state.hot_pages

    async def build(generation: Generation) -> HotPage:
        return await in_session(request, lambda session: _build(session, config, query, generation))

    page = await hot.page(query, build)
    if not_modified(request.headers, atom.FeedState(page.etag, page.last_modified)):
        return Response(status_code=304, headers=page.headers)
    return Response(content=page.body, media_type=ATOM_TYPE, headers=page.headers)


def _answer(
    request: Request, session: Session, config: feed_names.FeedConfig, query: feed_query.FeedQuery
) -> Response:
    """304 on the page's state alone (one statement), else the page built."""
    state, headers = _state(session, config, query)
    if not_modified(request.headers, state):
        return Response(status_code=304, headers=headers)
    body = atom.build_feed(session, config, query)
    return Response(content=body, media_type=ATOM_TYPE, headers=headers)


def _build(
    session: Session,
    config: feed_names.FeedConfig,
    query: feed_query.FeedQuery,
    generation: Generation,
) -> HotPage:
    """The newest page of a feed, built to be kept for the generation read before."""
    state, headers = _state(session, config, query)
    body = atom.build_feed(session, config, query)
    return HotPage(body, state.etag, state.last_modified, headers, generation)


def _state(
    session: Session, config: feed_names.FeedConfig, query: feed_query.FeedQuery
) -> tuple[atom.FeedState, dict[str, str]]:
    """The page's ETag and Last-Modified, and the headers every answer of it carries; 404
    for a source or item that does not exist."""
    try:
        state = atom.feed_state(session, config, query)
    except atom.FeedNotFound as error:
        raise HTTPException(status_code=404, detail=str(error)) from None
    max_age = NEWEST_PAGE_MAX_AGE if query.before is None else OLDER_PAGE_MAX_AGE
    headers = {"ETag": state.etag, "Cache-Control": f"public, max-age={max_age}"}
    if state.last_modified is not None:
        headers["Last-Modified"] = http_date(state.last_modified)
    return state, headers


def http_date(when: datetime) -> str:
    """An IMF-fixdate (RFC 9110 section 5.6.7): Sun, 06 Nov 1994 08:49:37 GMT."""
    return format_datetime(when.astimezone(UTC).replace(microsecond=0), usegmt=True)


def not_modified(headers: Mapping[str, str], state: atom.FeedState) -> bool:
    """RFC 9110 section 13.2.2: If-None-Match decides when present (weak comparison;
    * matches any current representation); otherwise If-Modified-Since, to the second."""
    if_none_match = headers.get("if-none-match")
    if if_none_match is not None:
        return etag_matches(if_none_match, state.etag)
    if_modified_since = headers.get("if-modified-since")
    if if_modified_since is None or state.last_modified is None:
        return False
    try:
        since = parsedate_to_datetime(if_modified_since)
    except (TypeError, ValueError, IndexError):
        return False  # an invalid date is ignored
    if since.tzinfo is None:  # -0000 or no zone: taken as UTC
        since = since.replace(tzinfo=UTC)
    return state.last_modified.replace(microsecond=0) <= since


def etag_matches(header: str, etag: str) -> bool:
    """Weak comparison of `etag` against an If-None-Match value: "*" or a list of tags."""
    if header.strip() == "*":
        return True
    ours = _opaque(etag)
    return any(_opaque(tag) == ours for tag in _etag_list(header))


def _etag_list(header: str) -> list[str]:
    """The entity tags of a list; quoted tags may hold commas."""
    tags, i = [], 0
    while i < len(header):
        start = header.find('"', i)
        if start == -1:
            break
        end = header.find('"', start + 1)
        if end == -1:
            break
        weak = header[max(0, start - 2) : start] == "W/"
        tags.append(("W/" if weak else "") + header[start : end + 1])
        i = end + 1
    return tags


def _opaque(tag: str) -> str:
    tag = tag.strip()
    return tag[2:] if tag.startswith("W/") else tag
