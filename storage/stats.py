"""Counts and short lists about the service itself, for `redline status`.

Plain functions taking a Session and the time to judge by (`now`, timezone-aware UTC).
Times are compared through the columns' UTCDateTime type (naive UTC in the database,
aware in Python), and only portable SQL is used, so SQLite and PostgreSQL agree.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import and_, case, func
from sqlmodel import Session, col, or_, select

from storage.models import Change, Check, Source
from storage.source_queries import active_source, due_source, unleased_source

# The outcomes a Check records; activity reports each, zero included, so the shape is fixed.
CHECK_OUTCOMES = ("changed", "unchanged", "not_modified", "error")
CHANGE_KINDS = ("created", "edited", "removed", "restored")


@dataclass(frozen=True)
class SourceCounts:
    total: int
    enabled: int
    retired: int
    due: int  # enabled, not retired, never checked or next check time reached
    overdue: int  # of those, due for longer than the grace period


@dataclass(frozen=True)
class Activity:
    """What was checked and recorded in a window of time ending at `until`."""

    since: datetime
    until: datetime
    checks: dict[str, int] = field(default_factory=dict)  # by outcome
    versions_added: int = 0
    changes: dict[str, int] = field(default_factory=dict)  # by kind: created, edited, ...

    @property
    def checks_total(self) -> int:
        return sum(self.checks.values())

    @property
    def changes_total(self) -> int:
        return sum(self.changes.values())


def _overdue(now: datetime, grace: timedelta):
    """Due since before now - grace. A source never checked has been due since it was added."""
    cutoff = now - grace
    return and_(
        active_source(),
        or_(
            col(Source.next_check_at) < cutoff,
            and_(col(Source.next_check_at).is_(None), col(Source.created_at) < cutoff),
        ),
    )


def _count_if(condition) -> object:
    # SUM(CASE ...) rather than COUNT(*) FILTER: SQLite before 3.30 has no FILTER.
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def source_counts(session: Session, now: datetime, grace: timedelta) -> SourceCounts:
    """How many sources there are, are enabled, retired, due now and overdue (one query)."""
    query = select(
        func.count(),
        _count_if(col(Source.enabled).is_(True)),
        _count_if(col(Source.retired_at).is_not(None)),
        _count_if(due_source(now)),
        _count_if(_overdue(now, grace)),
    ).select_from(Source)
    total, enabled, retired, due, overdue = session.exec(query).one()  # type: ignore[call-overload]
    return SourceCounts(int(total), int(enabled), int(retired), int(due), int(overdue))


def due_since(source: Source) -> datetime:
    """Since when the source has been due: its next check time, or when it was added."""
    return source.next_check_at or source.created_at


def overdue_sources(
    session: Session, now: datetime, grace: timedelta, limit: int
) -> Sequence[Source]:
    """Up to `limit` overdue sources, the longest overdue first."""
    since = func.coalesce(col(Source.next_check_at), col(Source.created_at))
    query = select(Source).where(_overdue(now, grace)).order_by(since, col(Source.id)).limit(limit)
    return session.exec(query).all()


def due_count(session: Session, due_at: datetime | None, clock: datetime) -> int:
    """How many active sources are due at `due_at` (None: due or not) and not leased at
    `clock`: the sources a round of checks would take, unless another worker claims
    some of them first."""
    query = (
        select(func.count())
        .select_from(Source)
        .where(active_source() if due_at is None else due_source(due_at))
        .where(unleased_source(clock))
    )
    return int(session.exec(query).one())


def leased_sources(session: Session, now: datetime) -> Sequence[Source]:
    """Sources a worker holds a live lease on (a check in flight), by worker, then expiry."""
    query = (
        select(Source)
        .where(col(Source.leased_by).is_not(None), col(Source.lease_until) > now)
        .order_by(col(Source.leased_by), col(Source.lease_until), col(Source.id))
    )
    return session.exec(query).all()


def expired_lease_count(session: Session, now: datetime) -> int:
    """Leases left behind past their expiry: a worker that died or stalled mid-check."""
    query = (
        select(func.count())
        .select_from(Source)
        .where(col(Source.leased_by).is_not(None), col(Source.lease_until) <= now)
    )
    return int(session.exec(query).one())


def failing_sources(session: Session, failing_after: int) -> Sequence[Source]:
    """Active sources whose last `failing_after` or more checks failed, most failures first.

    Disabled and retired sources are left out: nobody is checking them any more.
    """
    query = (
        select(Source)
        .where(active_source(), col(Source.consecutive_failures) >= failing_after)
        .order_by(col(Source.consecutive_failures).desc(), col(Source.id))
    )
    return session.exec(query).all()


def activity(session: Session, since: datetime, until: datetime) -> Activity:
    """Checks finished, versions they added and changes recorded in (since, until]."""
    finished = col(Check.finished_at)
    checks: dict[str, int] = dict.fromkeys(CHECK_OUTCOMES, 0)
    versions = 0
    by_outcome = (
        select(
            col(Check.outcome),
            func.count(),
            func.coalesce(func.sum(col(Check.versions_added)), 0),
        )
        .where(finished > since, finished <= until)
        .group_by(col(Check.outcome))
    )
    for outcome, count, added in session.exec(by_outcome).all():
        checks[outcome] = int(count)
        versions += int(added)
    recorded = col(Change.recorded_at)
    by_kind = (
        select(col(Change.kind), func.count())
        .where(recorded > since, recorded <= until)
        .group_by(col(Change.kind))
    )
    changes: dict[str, int] = dict.fromkeys(CHANGE_KINDS, 0)
    for kind, count in session.exec(by_kind).all():
        changes[kind] = int(count)
    return Activity(since, until, checks, versions, changes)
