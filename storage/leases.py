"""Leases: how several `redline run` processes share the sources without checking one twice.

A worker claims due sources by writing its name and an expiry time on them, in one
transaction. On PostgreSQL the candidates are read with FOR UPDATE SKIP LOCKED, so
workers claiming at the same moment take different rows instead of waiting for each
other; on SQLite write transactions are serialised anyway (BEGIN IMMEDIATE). A worker
renews its leases while it checks and gives each up when the check is recorded; if it
dies, its leases expire and the sources are due again for everyone.

Lease times are wall-clock times, whatever logical time a check is recorded at.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from sqlalchemy import bindparam, func, update
from sqlalchemy.engine import Row
from sqlmodel import Session, col, select

from storage import source_queries
from storage.models import Source


def claim(
    session: Session,
    worker: str,
    due_at: datetime,
    clock: datetime,
    lease: timedelta,
    limit: int,
    accept: Callable[[Row[Any]], bool] = lambda source: True,
    among: Sequence[int] | None = None,
) -> list[Row[Any]]:
    """Lease up to `limit` due sources to `worker` until clock + lease, most overdue first;
    what a check reads of each (source_queries.check_columns, and the lease_until set).

    Up to four times `limit` candidates are read (id and url) and `accept` picks among
    them (the daemon uses it to skip hosts that already have all the checks they may
    have). On PostgreSQL the candidates are locked FOR UPDATE SKIP LOCKED for the few
    milliseconds of the claim, so a worker claiming at the same moment takes other
    sources instead of waiting or taking the same ones. `among`, if given, limits the
    candidates to these sources (a round of `redline check` picks its own).

    Two statements built once (a round claims a few sources at a time, hundreds of times):
    the candidates, then the leases written and the chosen sources' columns returned, so
    their checks need not read them again.
    """
    postgres = session.get_bind().dialect.name == "postgresql"
    connection = session.connection()
    values: dict[str, Any] = {"due_at": due_at, "clock": clock, "limit": limit * 4}
    if among is not None:
        values["among"] = list(among)
    candidates = connection.execute(_candidates(among is not None, postgres), values).all()
    chosen: list[int] = []
    for candidate in candidates:
        if len(chosen) == limit:
            break
        if accept(candidate):
            chosen.append(candidate.id)
    if not chosen:
        return []
    until = clock + lease
    taken = connection.execute(_lease_write(), {"ids": chosen, "until": until, "worker": worker})
    by_id = {row.id: row for row in taken}
    return [by_id[source_id] for source_id in chosen if source_id in by_id]


@cache
def _candidates(among: bool, postgres: bool) -> Any:
    query = (
        select(Source.id, Source.url)
        .where(
            source_queries.due_source(bindparam("due_at")),
            source_queries.unleased_source(bindparam("clock")),
        )
        .order_by(*source_queries.most_overdue_first())
        .limit(bindparam("limit"))
    )
    if among:
        query = query.where(col(Source.id).in_(bindparam("among", expanding=True)))
    if postgres:
        query = query.with_for_update(skip_locked=True)
    return query


@cache
def _lease_write() -> Any:
    return (
        update(Source)
        .where(col(Source.id).in_(bindparam("ids", expanding=True)))
        .values(lease_until=bindparam("until"), leased_by=bindparam("worker"))
        .returning(*source_queries.check_columns(), col(Source.lease_until))
    )


def renew(session: Session, worker: str, source_ids: Sequence[int], until: datetime) -> int:
    """Extend this worker's leases on these sources; how many it still held."""
    if not source_ids:
        return 0
    result = session.exec(  # type: ignore[call-overload]
        update(Source)
        .where(col(Source.id).in_(list(source_ids)), col(Source.leased_by) == worker)
        .values(lease_until=until)
    )
    return int(result.rowcount or 0)


def release_all(
    session: Session,
    worker: str,
    source_ids: Sequence[int] | None = None,
    lock_wait: timedelta | None = None,
) -> int:
    """Give up this worker's leases (all, or on these sources), e.g. when stopping.

    lock_wait: on PostgreSQL, how long to wait for a source row another transaction has
    locked (a check still recording it) before failing (lock_timeout), so that a worker
    stopping is never held up by one; its leases then expire. SQLite's wait for its
    writer lock is bounded by the busy timeout already."""
    if lock_wait is not None and session.get_bind().dialect.name == "postgresql":
        milliseconds = max(1, int(lock_wait.total_seconds() * 1000))
        session.connection().exec_driver_sql(f"SET LOCAL lock_timeout = {milliseconds}")
    query = update(Source).where(col(Source.leased_by) == worker)
    if source_ids is not None:
        query = query.where(col(Source.id).in_(list(source_ids)))
    result = session.exec(query.values(lease_until=None, leased_by=None))  # type: ignore[call-overload]
    return int(result.rowcount or 0)


@dataclass(frozen=True)
class Holder:
    """A worker holding live leases on sources a round would check."""

    worker: str
    sources: int
    until: datetime  # the latest of its leases ends then


def holders(session: Session, due_at: datetime | None, clock: datetime) -> list[Holder]:
    """The workers holding live leases at `clock` on active sources due at `due_at` (None:
    due or not): what a round must leave to them, e.g. those of a killed `redline check`."""
    query = (
        select(Source.leased_by, func.count(), func.max(Source.lease_until))
        .where(
            source_queries.active_source() if due_at is None else source_queries.due_source(due_at)
        )
        .where(col(Source.leased_by).is_not(None), col(Source.lease_until) > clock)
        .group_by(Source.leased_by)
        .order_by(Source.leased_by)
    )
    return [Holder(worker, count, until) for worker, count, until in session.exec(query).all()]


def live_holder(session: Session, source_id: int, clock: datetime) -> str | None:
    """The worker holding a live lease on the source at `clock`; None: nobody does. (Plain
    columns, one statement built once, on the session's connection: every check asks,
    before its fetch.)"""
    lease = session.connection().execute(_lease_read(), {"source_id": source_id}).one_or_none()
    if lease is None or lease.leased_by is None:
        return None
    if lease.lease_until is None or lease.lease_until <= clock:
        return None
    return lease.leased_by


@cache
def _lease_read() -> Any:
    return select(Source.leased_by, Source.lease_until).where(
        col(Source.id) == bindparam("source_id")
    )


def locked_source(session: Session, source_id: int) -> Source | None:
    """The source, its row locked until the transaction ends (PostgreSQL; SQLite's write
    transaction already excludes other writers)."""
    if session.get_bind().dialect.name == "postgresql":
        return session.get(Source, source_id, with_for_update=True)
    return session.get(Source, source_id)
