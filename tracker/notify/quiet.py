"""Quiet sources: a source that has not answered well, or a listing that has shown no new
item, for longer than expected is reported once to the subscribers that ask for health
alerts (kind "health"), and again when it recovers.

Expected, unless [notifications] quiet_after says: no good answer for three of its check
intervals (at least an hour); for a listing, no new item for twice the longest wait
between new items it showed in the last 30 days (at least an hour; learnt from five or
more new items, so a listing too young to know stays unjudged). The daemon looks every
few minutes (Daemon.watch_quiet); the state is the source's quiet_since.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import pairwise
from typing import Any

from sqlalchemy import func, update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from storage import Check, ItemSighting, Source, transaction
from storage.types import iso_z
from tracker.notify import outbox

MIN_QUIET = timedelta(hours=1)
FAILING_FACTOR = 3  # intervals without a good answer
LISTING_FACTOR = 2  # times the longest wait between new items
LEARN_SPAN = timedelta(days=30)
MIN_NEW_ITEMS = 5


@dataclass(frozen=True)
class Alert:
    source_id: int
    event: str  # quiet or recovered
    reason: str


def watch(
    engine: Engine, now: datetime, every: timedelta, quiet_after: timedelta | None
) -> list[Alert]:
    """Judge every enabled source now; record who went quiet or recovered, and write the
    health alerts for the subscribers that want them.

    The judging is a read (no write lock held while every source is looked at); only the
    sources whose state flips are written, each by a conditional UPDATE, so two daemons
    looking at once alert once.
    """
    with Session(engine) as session:
        sources = session.exec(
            select(Source).where(col(Source.enabled), col(Source.retired_at).is_(None))
        ).all()
        last_good = _last_good_answers(session, [s.id for s in sources if s.consecutive_failures])
        new_items = _new_item_times(session, [s.id for s in sources if s.listing], now)
        flips = []
        for source in sources:
            assert source.id is not None
            reason = _why_quiet(source, now, every, quiet_after, last_good, new_items[source.id])
            if (reason is None) != (source.quiet_since is None):
                flips.append((source.id, source.site, reason, source.quiet_since))
    if not flips:
        return []
    alerts, sites = [], {}
    with transaction(engine) as session:
        for source_id, site, reason, since in flips:
            held = col(Source.quiet_since)
            if reason is not None:  # gone quiet
                values = {"quiet_since": now, "quiet_reason": reason}
                alert = Alert(source_id, "quiet", reason)
                unchanged = held.is_(None)
            else:  # back
                values = {"quiet_since": None, "quiet_reason": None}
                alert = Alert(source_id, "recovered", f"quiet since {iso_z(since)}")
                unchanged = held == since
            done = session.exec(  # type: ignore[call-overload]
                update(Source).where(col(Source.id) == source_id, unchanged).values(values)
            )
            if done.rowcount == 1:  # not already written by another daemon
                alerts.append(alert)
                sites[source_id] = site
        _enqueue(session, sites, alerts, now)
    return alerts


def _why_quiet(
    source: Source,
    now: datetime,
    every: timedelta,
    quiet_after: timedelta | None,
    last_good: dict[int, datetime],
    new_items: list[datetime],
) -> str | None:
    assert source.id is not None
    interval = timedelta(seconds=source.interval_seconds) if source.interval_seconds else every
    if source.consecutive_failures:
        since = last_good.get(source.id, source.created_at)
        limit = quiet_after or max(MIN_QUIET, FAILING_FACTOR * interval)
        if now - since > limit:
            return (
                f"no good answer since {iso_z(since)} ({source.consecutive_failures} errors "
                f"in a row; last: {source.last_error or 'unknown'})"
            )
    if source.listing and len(new_items) >= MIN_NEW_ITEMS:
        longest = max(later - earlier for earlier, later in pairwise(new_items))
        limit = quiet_after or max(MIN_QUIET, LISTING_FACTOR * longest)
        if now - new_items[-1] > limit:
            hours = limit.total_seconds() / 3600
            return f"no new item since {iso_z(new_items[-1])} (expected within {hours:.3g} h)"
    return None


def _last_good_answers(session: Session, source_ids: list[int | None]) -> dict[int, datetime]:
    if not source_ids:
        return {}
    rows = session.exec(
        select(Check.source_id, func.max(Check.finished_at))
        .where(col(Check.source_id).in_(source_ids), col(Check.outcome) != "error")
        .group_by(col(Check.source_id))
    ).all()
    return {source_id: finished for source_id, finished in rows if finished is not None}


def _new_item_times(
    session: Session, source_ids: list[int | None], now: datetime
) -> defaultdict[int | None, list[datetime]]:
    """Each listing's times of showing new items in the last LEARN_SPAN (one per check)."""
    times: defaultdict[int | None, list[datetime]] = defaultdict(list)
    if not source_ids:
        return times
    rows = session.exec(
        select(ItemSighting.source_id, ItemSighting.first_seen_at)
        .where(
            col(ItemSighting.source_id).in_(source_ids),
            col(ItemSighting.first_seen_at) >= now - LEARN_SPAN,
        )
        .distinct()
        .order_by(col(ItemSighting.source_id), col(ItemSighting.first_seen_at))
    ).all()
    for source_id, seen in rows:
        times[source_id].append(seen)
    return times


def _enqueue(
    session: Session, sites: dict[int, str | None], alerts: list[Alert], now: datetime
) -> None:
    if not alerts:
        return
    wanted = outbox.filters_of_subscriptions(session)
    outbox.write(
        session,
        [
            {"subscription_id": sub_id, "event": _event(alert, now)}
            for alert in alerts
            for sub_id, wants in wanted
            if wants.wants_health(alert.source_id, sites[alert.source_id])
        ],
    )


def _event(alert: Alert, now: datetime) -> dict[str, Any]:
    return {
        "event": alert.event,
        "source_id": alert.source_id,
        "reason": alert.reason,
        "at": iso_z(now),
    }
