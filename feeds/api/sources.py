"""Sources: the list, one source and its checks (reads), and adding, editing and
disabling sources (token-guarded writes, as `redline add` and `redline source`)."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request, Security
from fastapi.responses import Response
from sqlalchemy.engine import Row
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from feeds.api.guards import WRITE_RESPONSES, GuardedRoute, bearer
from feeds.api.models import (
    NOT_FOUND,
    CheckPage,
    SourceIn,
    SourceOut,
    SourcePage,
    SourcePatch,
    check_fields,
    source_fields,
    source_out,
)
from feeds.api.paging import (
    CursorQuery,
    Limit,
    cursor_id,
    decode_cursor,
    encode_cursor,
    page_cursor,
    page_size,
)
from feeds.api.plain import PlainJSON
from feeds.deps import SessionDep, SettingsDep
from feeds.ids import SourceId
from feeds.settings import ServiceSettings
from storage import Source, queries, source_queries, transaction
from tracker.errors import UserError
from tracker.normalise import redact_url
from tracker.run.config import parse_interval

router = APIRouter(route_class=GuardedRoute)


@router.get("/api/sources", response_model=SourcePage, tags=["sources"])
def list_sources(
    enabled: Annotated[
        bool | None, Query(description="only enabled (true) or disabled (false) sources")
    ] = None,
    limit: Limit = None,
    cursor: CursorQuery = None,
    session: Session = SessionDep,
    settings: ServiceSettings = SettingsDep,
) -> PlainJSON:
    """Sources and their health (as `redline sources --json`), in id order, a page at a
    time."""
    size = page_size(limit, settings)
    after = cursor_id(decode_cursor(cursor, "sources"), "after") if cursor else None
    rows = source_queries.source_page(session, size + 1, after=after, enabled=enabled)
    page = list(rows[:size])
    more = len(rows) > size and page[-1].id is not None
    return PlainJSON(  # SourcePage's JSON (feeds/api/plain.py)
        {
            "sources": [source_fields(source, settings.failing_after) for source in page],
            "next": encode_cursor({"k": "sources", "after": page[-1].id}) if more else None,
        }
    )


@router.get(
    "/api/sources/{source_id}", response_model=SourceOut, responses=NOT_FOUND, tags=["sources"]
)
def get_source(
    source_id: SourceId, session: Session = SessionDep, settings: ServiceSettings = SettingsDep
) -> PlainJSON:
    source = _source_or_404(session, source_id, plain=True)
    return PlainJSON(source_fields(source, settings.failing_after))  # SourceOut's JSON


@router.get(
    "/api/sources/{source_id}/checks",
    response_model=CheckPage,
    responses=NOT_FOUND,
    tags=["sources"],
)
def source_checks(
    source_id: SourceId,
    limit: Limit = None,
    cursor: CursorQuery = None,
    session: Session = SessionDep,
    settings: ServiceSettings = SettingsDep,
) -> PlainJSON:
    """The source's fetch log, newest first."""
    _source_or_404(session, source_id, plain=True)
    size = page_size(limit, settings)
    before = cursor_id(decode_cursor(cursor, "checks"), "before") if cursor else None
    rows = source_queries.check_page(session, source_id, size + 1, before=before)
    page = list(rows[:size])
    return PlainJSON(  # CheckPage's JSON (feeds/api/plain.py)
        {
            "checks": [check_fields(check) for check in page],
            "next": page_cursor("checks", page[-1].id or 0) if len(rows) > size else None,
        }
    )


def _interval(every: str | float | None) -> timedelta | None:
    if every is None:
        return None
    try:
        return parse_interval(every)
    except UserError as error:
        raise UserError(f"every: {error}") from None


@router.post(
    "/api/sources",
    response_model=SourceOut,
    status_code=201,
    responses={200: {"model": SourceOut, "description": "the URL was tracked already"}}
    | WRITE_RESPONSES,
    dependencies=[Security(bearer)],
    tags=["sources"],
)
def create_source(body: SourceIn, request: Request, response: Response) -> SourceOut:
    """Track a URL (as `redline add`): 201 with the new source, 200 if it was there."""
    options = body.options.model_dump(exclude_none=True) if body.options else {}
    try:
        if "map" in options:
            from tracker.extract.listing import parse_field_map

            options["map"] = parse_field_map([f"{k}={v}" for k, v in options["map"].items()])
        every = _interval(body.every)
        for attempt in (1, 2):
            try:
                with transaction(request.app.state.engine) as session:
                    source, added = _add_source(session, body, every, options)
                    out = source_out(source, request.app.state.settings.failing_after)
                    ignored = [] if added else _not_applied(body, every, options, source)
                break
            except IntegrityError:  # the same URL added by another writer just now
                if attempt == 2:
                    raise
    except UserError as error:  # the message may quote the URL, credentials and all
        raise HTTPException(400, redact_url(str(error))) from error
    response.status_code = 201 if added else 200
    response.headers["Location"] = f"/api/sources/{out.id}"
    if ignored:  # a re-add never changes a source: say what was asked for and not done
        response.headers["Redline-Not-Applied"] = ", ".join(ignored)
    return out


def _not_applied(
    body: SourceIn, every: timedelta | None, options: dict[str, Any], source: Source
) -> list[str]:
    """The settings a POST of an already tracked URL asked for that the source does not
    have (they are changed with PATCH)."""
    differing = []
    if body.name is not None and (body.name.strip() or None) != source.name:
        differing.append("name")
    if every is not None and int(every.total_seconds()) != source.interval_seconds:
        differing.append("every")
    if body.cron is not None and " ".join(body.cron.split()) != source.cron:
        differing.append("cron")
    if body.site is not None and body.site.strip() and body.site.strip() != source.site:
        differing.append("site")
    held = source.options or {}
    differing += [f"options.{key}" for key, value in options.items() if held.get(key) != value]
    return differing


def _add_source(
    session: Session, body: SourceIn, every: timedelta | None, options: dict[str, Any]
) -> tuple[Source, bool]:
    from tracker.run.sources import add_source

    name = body.name.strip() if body.name and body.name.strip() else None
    try:
        return add_source(
            session, body.url, body.kind, name, every, options, cron=body.cron, site=body.site
        )
    except ValueError as error:  # urllib cannot split it: a bad IPv6 literal, a bad port
        raise UserError(f"not a URL: {body.url[:100]!r} ({error})") from None


@router.patch(
    "/api/sources/{source_id}",
    response_model=SourceOut,
    responses=NOT_FOUND | WRITE_RESPONSES,
    dependencies=[Security(bearer)],
    tags=["sources"],
)
def update_source(source_id: SourceId, body: SourcePatch, request: Request) -> SourceOut:
    """Rename, pause or resume a source, or change when it is checked (as `redline source
    edit|disable|enable`): only the fields given change."""
    from tracker.run.sources import UnknownSource, edit_source

    changes = {name: getattr(body, name) for name in body.model_fields_set}
    try:
        if "every" in changes:
            changes["every"] = _interval(changes["every"])
        with transaction(request.app.state.engine) as session:
            source = edit_source(session, source_id, changes)
            return source_out(source, request.app.state.settings.failing_after)
    except UnknownSource as error:
        raise HTTPException(404, str(error)) from error
    except UserError as error:
        raise HTTPException(400, str(error)) from error


@router.delete(
    "/api/sources/{source_id}",
    response_model=SourceOut,
    responses=NOT_FOUND | WRITE_RESPONSES,
    dependencies=[Security(bearer)],
    tags=["sources"],
)
def delete_source(source_id: SourceId, request: Request) -> SourceOut:
    """Stop tracking a source: it is disabled, and nothing stored is deleted.

    Its items, versions, changes and checks stay readable; PATCH {"enabled": true}
    resumes it. The same as PATCH {"enabled": false}; deleting again changes nothing.
    """
    with transaction(request.app.state.engine) as session:
        source = _source_or_404(session, source_id)
        source.enabled = False
        session.add(source)
        return source_out(source, request.app.state.settings.failing_after)


def _source_or_404(session: Session, source_id: int, plain: bool = False) -> Source | Row[Any]:
    """The source (plain: as a plain row, for a read); a 404 if there is none."""
    source = (
        queries.row_by_id(session, Source, source_id) if plain else session.get(Source, source_id)
    )
    if source is None:
        raise HTTPException(404, f"no source {source_id}")
    return source
