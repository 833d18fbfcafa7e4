"""The change log for pollers (/api/changes): oldest first after a cursor.

`next` is always given: poll with it again later. It never skips or repeats a change,
also when changes commit out of id order (several writers on PostgreSQL): ids missing
below the cursor are remembered for GAP_WINDOW_SECONDS and delivered if they appear.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, Request
from sqlalchemy.engine import Row
from sqlmodel import Session

from feeds import feed_query
from feeds.api.guards import GuardedRoute
from feeds.api.models import ChangePage
from feeds.api.paging import MAX_CURSOR, Limit, cursor_id, decode_cursor, encode_cursor, page_size
from feeds.api.plain import PlainJSON
from feeds.deps import SettingsDep, in_session
from feeds.hot_pages import HotPages
from feeds.settings import ServiceSettings
from storage import MAX_ID, change_pages, queries
from tracker.notify.message import change_document

GAP_WINDOW_SECONDS = 600  # how long a change id missing below a cursor may still appear
MAX_GAPS = 100  # id ranges a changes cursor remembers

router = APIRouter(route_class=GuardedRoute)


def _wall_clock() -> float:
    return time.time()


@router.get("/api/changes", response_model=ChangePage, tags=["changes"])
async def list_changes(
    request: Request,
    since: Annotated[
        str | None,
        Query(
            max_length=MAX_CURSOR,
            description="the `next` of the previous poll; omitted: from the first change; "
            "`latest`: only changes recorded from now on",
        ),
    ] = None,
    limit: Limit = None,
    kind: Annotated[
        Literal["editorial", "all", "substantive", "rewording", "style", "minor"] | None,
        Query(
            description="all (the default here: a poller sees every change), editorial "
            "(substantive and rewording edits, and every change that is no edit), or one class "
            "(minor: style); the cursor moves past the changes left out"
        ),
    ] = None,
    settings: ServiceSettings = SettingsDep,
) -> PlainJSON:
    """The change log in recording (id) order after a cursor, for clients that poll."""
    cursor = _changes_cursor(since) if since not in (None, "latest") else None
    if cursor is not None:
        after, gaps = cursor
        hot: HotPages = request.app.state.hot_pages
        if not gaps and after >= hot.generation()[0]:
            # Nothing recorded after the cursor, by the generation the kept pages go by
            # (read at most twice a second): the answer a read would give, without one.
            state = {"k": "changes", "after": after, "gaps": []}
            return _page([], state, {})
    latest = since == "latest"
    return await in_session(
        request, lambda session: _changes(session, latest, cursor, limit, kind, settings)
    )


def _changes(
    session: Session,
    latest: bool,
    cursor: tuple[int, list[tuple[int, int, int]]] | None,
    limit: int | None,
    kind: str | None,
    settings: ServiceSettings,
) -> PlainJSON:
    """The page after the cursor (None: from the first change; latest: none, and a cursor
    at the newest change)."""
    size = page_size(limit, settings)
    if latest:
        state = {"k": "changes", "after": change_pages.last_change_id(session), "gaps": []}
        return _page([], state, {})
    after, gaps = cursor or (0, [])
    late, fresh, kept = _poll(session, after, gaps, size, int(_wall_clock()))
    if fresh and fresh[-1].id is not None:
        after = fresh[-1].id
    state = {"k": "changes", "after": after, "gaps": kept[-MAX_GAPS:]}
    classes = feed_query.kind_classes(kind or "all")
    shown = [c for c in [*late, *fresh] if classes is None or c.classification in classes]
    return _page(shown, state, queries.diff_bases(session, shown))


def _page(
    changes: Sequence[Row[Any]], state: dict[str, Any], bases: dict[int, Row[Any]]
) -> PlainJSON:
    """ChangePage's JSON (feeds/api/plain.py): each change as webhooks carry it (bases:
    the versions their diffs lead from, by id)."""
    documents = [change_document(c, bases.get(c.from_version_id or 0)) for c in changes]
    return PlainJSON({"changes": documents, "next": encode_cursor(state)})


def _poll(
    session: Session, after: int, gaps: list[tuple[int, int, int]], size: int, now: int
) -> tuple[list[Row[Any]], list[Row[Any]], list[list[int]]]:
    """(changes found in the gaps, changes after the cursor, the gaps still open).

    Ids missing below the cursor belong to transactions not committed at the last poll
    (or rolled back): they are looked for again at every poll. A gap past its deadline
    is looked for once more, then dropped, so a poll long after the window still finds
    what committed within it.
    """
    late = list(change_pages.changes_in_ranges(session, [(lo, hi) for lo, hi, _ in gaps], size))
    # Ids up to here were looked at (all of them unless the page filled up).
    searched_to = (late[-1].id or 0) if len(late) == size else MAX_ID
    delivered = sorted(change.id for change in late if change.id is not None)
    kept: list[list[int]] = []
    for lo, hi, deadline in gaps:
        pieces, start = [], lo
        for change_id in (i for i in delivered if lo <= i <= hi):
            if change_id > start:
                pieces.append((start, change_id - 1))
            start = change_id + 1
        if start <= hi:
            pieces.append((start, hi))
        for a, b in pieces:
            if deadline > now:
                kept.append([a, b, deadline])
            elif b > searched_to:  # expired, but not yet looked at since: once more
                kept.append([max(a, searched_to + 1), b, deadline])
    fresh = (
        list(change_pages.changes_after(session, after, size - len(late)))
        if len(late) < size
        else []
    )
    expected = after + 1
    for change in fresh:
        assert change.id is not None
        if change.id > expected:
            kept.append([expected, change.id - 1, now + GAP_WINDOW_SECONDS])
        expected = change.id + 1
    return late, fresh, kept


def _changes_cursor(cursor: str) -> tuple[int, list[tuple[int, int, int]]]:
    state = decode_cursor(cursor, "changes")
    after = cursor_id(state, "after")
    gaps = state.get("gaps", [])
    if not isinstance(gaps, list) or len(gaps) > MAX_GAPS:
        raise HTTPException(400, "malformed cursor")
    ranges = []
    for gap in gaps:
        if (
            not isinstance(gap, list)
            or len(gap) != 3
            or not all(isinstance(n, int) and not isinstance(n, bool) for n in gap)
            or not 1 <= gap[0] <= gap[1] <= after
        ):
            raise HTTPException(400, "malformed cursor")
        ranges.append((gap[0], gap[1], gap[2]))
    return after, ranges
