"""Reads about sources and their checks: look-ups by URL, pages of sources, which sources
are checked, due and free (the conditions are storage/due.py's), when a source first
showed an item, and a source's checks.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy.engine import Row
from sqlmodel import Session, col, select

from storage import due
from storage.models import Check, ItemSighting, Source
from storage.queries import columns, plain_rows
from storage.types import stored_time


def source_by_url(session: Session, url: str) -> Source | None:
    return session.exec(select(Source).where(Source.url == url)).first()


def source_urls_mentioning(session: Session, text: str) -> Sequence[tuple[int, str]]:
    """(id, URL) of the sources whose URL contains this text, in any case (a host name), as
    plain rows: a host may have thousands of sources, and adding each one asks."""
    from sqlalchemy import func

    lowered = func.lower(col(Source.url))
    query = select(Source.id, Source.url).where(lowered.contains(text.lower(), autoescape=True))
    return session.exec(query).all()  # type: ignore[return-value]


def all_sources(session: Session) -> Sequence[Source]:
    return session.exec(select(Source).order_by(col(Source.id))).all()


def source_page(
    session: Session, limit: int, after: int | None = None, enabled: bool | None = None
) -> Sequence[Row[Any]]:
    """Up to `limit` sources in id order, those after the id `after` (a lists page), as
    plain rows."""
    query = select(columns(Source)).order_by(col(Source.id)).limit(limit)
    if after is not None:
        query = query.where(col(Source.id) > after)
    if enabled is not None:
        query = query.where(Source.enabled == enabled)
    return plain_rows(session, query)


# Which sources are checked, due and free: defined once (storage/due.py) for the daemon's
# claims (storage/leases.py), `redline status` (storage/stats.py), `redline check` with
# nothing to do, and the lists here.


def active_source() -> Any:
    """SQL: the source is checked at all (enabled and not retired)."""
    return due.active(Source)


def due_source(at: datetime) -> Any:
    """SQL: the source is active and never checked or due at `at`."""
    return due.due(Source, at)


def unleased_source(clock: datetime) -> Any:
    """SQL: no worker holds a live lease on the source at `clock`."""
    return due.unleased(Source, clock)


def most_overdue_first() -> tuple[Any, ...]:
    return (col(Source.next_check_at).is_(None).desc(), col(Source.next_check_at), Source.id)


def due_sources(session: Session, now: datetime) -> Sequence[Source]:
    """Enabled, unretired sources never checked or whose next check time has come, most
    overdue first."""
    query = select(Source).where(due_source(now)).order_by(*most_overdue_first())
    return session.exec(query).all()


def due_source_urls(session: Session, due_at: datetime, clock: datetime) -> list[tuple[int, str]]:
    """(id, url) of the active sources due at `due_at` and not leased at `clock`, most
    overdue first: a round's sources."""
    query = (
        select(Source.id, Source.url)
        .where(due_source(due_at), unleased_source(clock))
        .order_by(*most_overdue_first())
    )
    return [(source_id, url) for source_id, url in session.exec(query).all() if source_id]


def recent_check_statuses(session: Session, source_id: int, limit: int) -> list[int | None]:
    """The HTTP status of the source's `limit` latest checks, newest first."""
    if limit <= 0:
        return []
    query = (
        select(Check.http_status)
        .where(Check.source_id == source_id)
        .order_by(col(Check.id).desc())
        .limit(limit)
    )
    return list(session.exec(query).all())


def source_first_seen(session: Session, source_id: int) -> datetime | None:
    """When the source first showed any item (None: no item yet).

    Asked after every check of an item page (its aging schedule): one statement built
    once, run on the session's connection, past the ORM's per-statement work (which
    cost several times the query itself).
    """
    session.flush()  # this check's new items count, as the ORM's autoflush made them
    value = session.connection().execute(_first_seen_query(), {"source_id": source_id})
    return stored_time(value.scalar())


def check_columns() -> tuple[Any, ...]:
    """What a check reads of its source before fetching (tracker/run/check.py): plain
    columns, as most checks end in a 304, whose recording needs only the schedule's and
    an aging item page's first sighting."""
    return (
        Source.id,
        Source.url,
        Source.etag,
        Source.last_modified,
        Source.interval_seconds,
        Source.cron,
        Source.listing,
        aging_first_seen(),
    )


def aging_first_seen() -> Any:
    """source_first_seen as a column beside the source's own row (labelled first_seen),
    for an item page on the aging schedule (no interval or cron of its own; None for any
    other source, which does not read its sightings for it): a check reads it with the
    source rather than in a statement of its own."""
    from sqlalchemy import and_, case, func

    aging = and_(  # as tracker/run/check.py _plan: `not interval_seconds and not cron`
        col(Source.listing).is_(False),
        func.coalesce(col(Source.interval_seconds), 0) == 0,
        func.coalesce(col(Source.cron), "") == "",
    )
    earliest = _earliest_sighting(col(Source.id)).scalar_subquery()
    return case((aging, earliest)).label("first_seen")


@cache
def _first_seen_query() -> Any:
    from sqlalchemy import bindparam

    return _earliest_sighting(bindparam("source_id"))


def _earliest_sighting(source_id: Any) -> Any:
    """When the source (a bind parameter, or a column to correlate with) first showed an
    item."""
    from sqlalchemy import func

    return select(func.min(col(ItemSighting.first_seen_at))).where(
        col(ItemSighting.source_id) == source_id
    )


def check_page(
    session: Session, source_id: int, limit: int, before: int | None = None
) -> Sequence[Row[Any]]:
    """Up to `limit` checks of the source with an id below `before`, newest first, as plain
    rows."""
    query = select(columns(Check)).where(Check.source_id == source_id)
    if before is not None:
        query = query.where(col(Check.id) < before)
    return plain_rows(session, query.order_by(col(Check.id).desc()).limit(limit))


def recent_check_times(session: Session, limit: int) -> list[tuple[datetime, datetime]]:
    """(started_at, finished_at) of the `limit` most recent checks, newest first."""
    query = select(Check.started_at, Check.finished_at).order_by(col(Check.id).desc()).limit(limit)
    return [(started, finished) for started, finished in session.exec(query).all()]


def check_seconds_total(session: Session) -> float:
    """The sum of finished_at - started_at over every check, in seconds."""
    from sqlalchemy import Integer, func, type_coerce

    started, finished = col(Check.started_at), col(Check.finished_at)
    if session.get_bind().dialect.name == "sqlite":
        # Integer microseconds there (storage/types.py).
        seconds = (type_coerce(finished, Integer) - type_coerce(started, Integer)) / 1e6
    else:  # PostgreSQL
        seconds = func.extract("epoch", finished - started)
    return float(session.exec(select(func.coalesce(func.sum(seconds), 0.0))).one())


def last_check_finished(session: Session) -> datetime | None:
    """When the most recent check finished."""
    from sqlalchemy import func

    return stored_time(session.exec(select(func.max(Check.finished_at))).one())
