"""`redline status`: how the service is doing, read from the database.

Sources (how many are due, which are late), checks in flight (leases held by
workers), failing sources, and what the last hour and day brought. The counting is
in storage.stats; this module gathers it at one moment and renders it for people
(text) or programs (JSON, the shape `as_json` documents).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from storage import Delivery, Source, Subscription, stats
from storage.types import iso_z
from tracker.normalise import redact_url
from tracker.run import archive_links

# A source due for longer than this is overdue: a daemon ticking every 30 s with free
# workers takes a due source within a minute, so 5 minutes late means it is falling
# behind (too few workers, a stalled host queue) or nothing is running at all.
OVERDUE_AFTER = timedelta(minutes=5)
MOST_OVERDUE = 5  # how many of the latest sources to name
WINDOWS = (("last_hour", timedelta(hours=1)), ("last_day", timedelta(days=1)))


# -- a source's health: the one definition behind `redline sources`, `redline status`,
# the /sources page and /metrics (storage.stats.failing_sources is its SQL twin) -------

HEALTH_STATES = ("retired", "disabled", "failing", "erring", "new", "ok")


@dataclass(frozen=True)
class Health:
    state: str  # one of HEALTH_STATES
    failures: int  # errors in a row

    @property
    def failing(self) -> bool:
        return self.state == "failing"


def source_health(source: Source, failing_after: int) -> Health:
    """Retired (never checked again) and disabled first: nobody checks them, so their
    last errors say nothing of now. An active source is failing after `failing_after`
    errors in a row ([daemon] failing_after); fewer is "erring": one timeout is news to
    nobody, and the retry with backoff usually succeeds."""
    failures = source.consecutive_failures
    if source.retired_at is not None:
        return Health("retired", failures)
    if not source.enabled:
        return Health("disabled", failures)
    if failures >= failing_after:
        return Health("failing", failures)
    if failures:
        return Health("erring", failures)
    if source.last_checked_at is None:
        return Health("new", failures)
    return Health("ok", failures)


@dataclass(frozen=True)
class SourceRef:
    id: int
    url: str
    name: str | None

    @classmethod
    def of(cls, source: Source) -> SourceRef:
        assert source.id is not None
        return cls(source.id, redact_url(source.url), source.name)


@dataclass(frozen=True)
class Late:
    source: SourceRef
    due_since: datetime
    leased_by: str | None  # a worker is checking it right now


@dataclass(frozen=True)
class InFlight:
    source: SourceRef
    worker: str
    lease_until: datetime


@dataclass(frozen=True)
class Failing:
    source: SourceRef
    failures: int
    last_error: str | None
    last_checked_at: datetime | None
    next_check_at: datetime | None


@dataclass(frozen=True)
class QuietSource:
    """Gone quiet (tracker/notify/quiet.py): health subscribers were told."""

    source: SourceRef
    since: datetime
    reason: str | None


@dataclass(frozen=True)
class Notifications:
    """The outbox (tracker/notify/): subscriptions, and deliveries by state."""

    subscriptions: int
    pending: int
    sent: int
    dead: int  # given up after [notifications] give_up_after


def _notifications(session: Session) -> Notifications:
    by_state = dict(
        session.exec(select(Delivery.state, func.count()).group_by(col(Delivery.state))).all()
    )
    subscriptions = session.exec(select(func.count()).select_from(Subscription)).one()
    return Notifications(
        int(subscriptions), *(int(by_state.get(state, 0)) for state in ("pending", "sent", "dead"))
    )


@dataclass(frozen=True)
class Status:
    now: datetime
    database: str
    failing_after: int
    overdue_after: timedelta
    counts: stats.SourceCounts
    most_overdue: list[Late]
    in_flight: list[InFlight]
    expired_leases: int
    failing: list[Failing]
    activity: dict[str, stats.Activity]  # by window name, as in WINDOWS
    notifications: Notifications
    quiet: list[QuietSource]
    # Archive requests by state (tracker/run/archive_links.py): pending, archived, failed.
    archive: dict[str, int] = dataclasses.field(default_factory=dict)


def gather(
    engine: Engine,
    now: datetime,
    failing_after: int,
    overdue_after: timedelta = OVERDUE_AFTER,
) -> Status:
    """Everything `redline status` shows, read in one session as of `now`."""
    # A plain session, not transaction(): reading must not take SQLite's write lock and
    # queue behind (or hold up) the daemon's checks.
    with Session(engine) as session:
        # Plain values are copied out inside the session: the rows expire at commit.
        late = [
            Late(SourceRef.of(s), stats.due_since(s), _live_lease(s, now))
            for s in stats.overdue_sources(session, now, overdue_after, MOST_OVERDUE)
        ]
        in_flight = [
            InFlight(SourceRef.of(s), s.leased_by or "", s.lease_until or now)
            for s in stats.leased_sources(session, now)
        ]
        failing = [
            Failing(
                SourceRef.of(s),
                s.consecutive_failures,
                redact_url(s.last_error) if s.last_error else None,
                s.last_checked_at,
                s.next_check_at,
            )
            for s in stats.failing_sources(session, failing_after)
        ]
        return Status(
            now=now,
            database=engine.url.render_as_string(hide_password=True),
            failing_after=failing_after,
            overdue_after=overdue_after,
            counts=stats.source_counts(session, now, overdue_after),
            most_overdue=late,
            in_flight=in_flight,
            expired_leases=stats.expired_lease_count(session, now),
            failing=failing,
            activity={name: stats.activity(session, now - span, now) for name, span in WINDOWS},
            notifications=_notifications(session),
            archive=archive_links.counts(session),
            quiet=[
                QuietSource(SourceRef.of(s), s.quiet_since, s.quiet_reason)
                for s in session.exec(
                    select(Source)
                    .where(col(Source.quiet_since).is_not(None), col(Source.enabled))
                    .order_by(col(Source.quiet_since))
                )
                if s.quiet_since is not None
            ],
        )


def _live_lease(source: Source, now: datetime) -> str | None:
    if source.leased_by and source.lease_until and source.lease_until > now:
        return source.leased_by
    return None


# JSON


def as_json(status: Status) -> dict[str, Any]:
    """The stable `redline status --json` document (docs/commands.md: `redline status`).

    Times are ISO 8601 UTC with a Z; durations are whole seconds; every key is always
    present (empty lists and zero counts included), and new keys may be added later.
    """
    counts = status.counts
    return {
        "now": iso_z(status.now),
        "database": status.database,
        "sources": {
            "total": counts.total,
            "enabled": counts.enabled,
            "retired": counts.retired,
            "due": counts.due,
            "overdue": counts.overdue,
            "overdue_after_seconds": _seconds(status.overdue_after),
            "most_overdue": [
                {
                    **_source_json(late.source),
                    "due_since": iso_z(late.due_since),
                    "late_seconds": _seconds(status.now - late.due_since),
                    "leased_by": late.leased_by,
                }
                for late in status.most_overdue
            ],
        },
        "in_flight": [
            {
                **_source_json(flight.source),
                "worker": flight.worker,
                "lease_until": iso_z(flight.lease_until),
            }
            for flight in status.in_flight
        ],
        "expired_leases": status.expired_leases,
        "failing_after": status.failing_after,
        "failing": [
            {
                **_source_json(failing.source),
                "consecutive_failures": failing.failures,
                "last_error": failing.last_error,
                "last_checked_at": iso_z(failing.last_checked_at),
                "next_check_at": iso_z(failing.next_check_at),
            }
            for failing in status.failing
        ],
        "activity": {name: _activity_json(window) for name, window in status.activity.items()},
        "notifications": dataclasses.asdict(status.notifications),
        "archive": status.archive,
        "quiet": [
            {**_source_json(quiet.source), "since": iso_z(quiet.since), "reason": quiet.reason}
            for quiet in status.quiet
        ],
    }


def _source_json(source: SourceRef) -> dict[str, Any]:
    return {"id": source.id, "url": source.url, "name": source.name}


def _activity_json(window: stats.Activity) -> dict[str, Any]:
    return {
        "since": iso_z(window.since),
        "until": iso_z(window.until),
        "checks": window.checks_total,
        "outcomes": dict(window.checks),
        "versions_added": window.versions_added,
        "changes": window.changes_total,
        "change_kinds": dict(window.changes),
    }


def _seconds(span: timedelta) -> int:
    return int(span.total_seconds())


# Text

LABEL = 11  # width of the left-hand labels; detail lines are indented past them
ACTIVITY_COLUMNS = (
    ("checks", lambda a: a.checks_total),
    ("changed", lambda a: a.checks.get("changed", 0)),
    ("unchanged", lambda a: a.checks.get("unchanged", 0)),
    ("not modified", lambda a: a.checks.get("not_modified", 0)),
    ("errors", lambda a: a.checks.get("error", 0)),
    ("versions", lambda a: a.versions_added),
    ("changes", lambda a: a.changes_total),
)


def render_text(status: Status) -> str:
    """The report for a person at a terminal: one section a line, details indented."""
    counts, now = status.counts, status.now
    indent = " " * LABEL
    lines = [f"redline status at {_clock(now, full=True)} ({status.database})", ""]

    def row(label: str, text: str) -> None:
        lines.append(f"{label:<{LABEL}}{text}")

    row(
        "sources",
        f"{counts.total} in all: {counts.enabled} enabled, {counts.retired} retired"
        if counts.total
        else "none yet: add one with `redline add URL`",
    )
    grace = _span(status.overdue_after)
    overdue = f"{counts.overdue} overdue by more than {grace}"
    row("due now", f"{counts.due} ({overdue})" + (", most overdue:" if counts.overdue else ""))
    lateness = [f"{_span(now - late.due_since)} late" for late in status.most_overdue]
    width = max(map(len, lateness), default=0)
    for late, how_late in zip(status.most_overdue, lateness, strict=True):
        checking = f" (being checked by {late.leased_by})" if late.leased_by else ""
        lines.append(
            f"{indent}{_ref(late.source)}  {how_late:>{width}}  {late.source.url}{checking}"
        )

    row("in flight", _plural(len(status.in_flight), "check") if status.in_flight else "none")
    for flight in status.in_flight:
        left = _span(flight.lease_until - now)
        lines.append(
            f"{indent}{_ref(flight.source)}  {flight.worker}, lease until "
            f"{_clock(flight.lease_until)} ({left} left)  {flight.source.url}"
        )
    if status.expired_leases:
        # Not in flight: their worker died or stalled; any worker may take them again.
        expired = _plural(status.expired_leases, "expired lease")
        row("stale", f"{expired} left behind (a worker stopped mid-check?)")

    threshold = f"{status.failing_after} or more errors in a row"
    if status.failing:
        row("failing", f"{_plural(len(status.failing), 'source')} with {threshold}")
    else:
        row("failing", f"none (a source is failing after {threshold})")
    for failing in status.failing:
        lines.append(f"{indent}{_ref(failing.source)}  {failing.failures}x  {failing.source.url}")
        if failing.last_error:
            lines.append(f"{indent}{'':<{len(_ref(failing.source))}}  {failing.last_error}")

    if status.quiet:
        row("quiet", f"{_plural(len(status.quiet), 'source')} quiet for longer than expected")
    for quiet in status.quiet:
        lines.append(
            f"{indent}{_ref(quiet.source)}  since {_clock(quiet.since)}  {quiet.source.url}"
        )
        if quiet.reason:
            lines.append(f"{indent}{'':<{len(_ref(quiet.source))}}  {quiet.reason}")
    told = status.notifications
    if told.subscriptions or told.pending or told.dead:
        row(
            "notify",
            f"{_plural(told.subscriptions, 'subscription')}: {told.pending} pending, "
            f"{told.sent} sent, {told.dead} given up"
            + (" (see `redline notify list`)" if told.dead else ""),
        )
    else:
        row("notify", "no subscriptions (see `redline notify add`)")
    saved = status.archive
    if any(saved.values()):
        row(
            "archive",
            f"{saved.get('archived', 0)} archived, {saved.get('pending', 0)} pending, "
            f"{saved.get('failed', 0)} given up (Wayback Machine, [archive])",
        )

    lines.append("")
    titles = [title for title, _ in ACTIVITY_COLUMNS]
    table = [
        [str(value(window)) for _, value in ACTIVITY_COLUMNS] for window in status.activity.values()
    ]
    widths = [max(len(cell) for cell in column) for column in zip(titles, *table, strict=True)]
    lines.append(indent + "  ".join(t.rjust(w) for t, w in zip(titles, widths, strict=True)))
    for name, cells in zip(status.activity, table, strict=True):
        label = name.replace("_", " ")
        lines.append(
            f"{label:<{LABEL}}" + "  ".join(c.rjust(w) for c, w in zip(cells, widths, strict=True))
        )
    return "\n".join(lines) + "\n"


def _ref(source: SourceRef) -> str:
    return f"#{source.id:<4}"


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")


def _clock(moment: datetime, full: bool = False) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC" if full else "%H:%M:%S UTC")


def _span(span: timedelta) -> str:
    """A duration in its two largest units: 45s, 5m, 1h 32m, 2d 3h (a zero second unit
    is left out: 1h, not 1h 0m)."""
    seconds = max(0, int(span.total_seconds()))
    units = (("d", 86400), ("h", 3600), ("m", 60), ("s", 1))
    for index, (unit, size) in enumerate(units):
        if seconds >= size or size == 1:
            text = f"{seconds // size}{unit}"
            if size > 1:
                next_unit, next_size = units[index + 1]
                if rest := (seconds % size) // next_size:
                    text += f" {rest}{next_unit}"
            return text
    raise AssertionError("unreachable: the seconds unit always matches")
