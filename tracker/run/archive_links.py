"""Archive links: each new version of an item page saved by the Wayback Machine, and the
archived URL kept with the version ([archive] in redline.toml, off by default).

A check that records a new version of an item page writes a pending request
(`version_archive`) in its own transaction, as it writes notification deliveries: one
INSERT, no request to the archive, so an archive that is slow, down or hanging never
holds up or fails a check. The daemon asks the archive every few seconds on a job of
its own, and `redline check` after its round, for a while at most (tracker/run/wayback.py
does the asking). A failure is recorded in one line and tried again after
[archive] retry_after, then twice that, ... up to six hours (or when the archive's
Retry-After says); a request still failing after give_up_after is "failed", shown by
`redline status`. A save the archive is still working on (SPN2) keeps its job id and is
asked about again a few seconds later.

Only versions a check observes on an item page are archived: not a listing's rows (the
page saved would be the listing), not a page's own history, not an import; nor a page
whose URL carries credentials (a private page is not for a public archive).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from urllib.parse import urlsplit

import httpx
from sqlalchemy import func, insert, update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from storage import Change, Version, VersionArchive, transaction, utcnow
from tracker.run import wayback
from tracker.run.config import ArchiveSettings

log = logging.getLogger("redline.archive")

POLL_EVERY = timedelta(seconds=10)  # a save the archive is working on is asked about again
CLAIM = timedelta(minutes=5)  # a request being asked is left alone by others this long
LONGEST_RETRY = timedelta(hours=6)
BATCH = 50  # due requests one round reads
STATES = ("pending", "archived", "failed")


def archivable(url: str | None) -> str | None:
    """The URL to ask the archive to save, or None: only http(s), never with credentials."""
    if not url:
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    if parts.username is not None or parts.password is not None:
        return None
    return url


def enqueue(session: Session, versions: Sequence[Version]) -> int:
    """In the check's transaction: a pending request for each of these new observed
    versions of an item page (flushed: with their ids); how many."""
    now = utcnow()
    rows = [
        {
            "version_id": version.id,
            "item_id": version.item_id,
            "url": url,
            "state": "pending",
            "attempts": 0,
            "created_at": now,
            "next_attempt_at": now,
        }
        for version in versions
        if version.id is not None and (url := archivable(version.url)) is not None
    ]
    if rows:
        session.connection().execute(insert(VersionArchive), rows)
    return len(rows)


def backoff(settings: ArchiveSettings, attempts: int) -> timedelta:
    """The wait after the attempts-th failure: retry_after, twice it, ... at most 6 hours."""
    return min(settings.retry_after * 2 ** max(0, min(attempts - 1, 20)), LONGEST_RETRY)


@dataclass
class RoundStats:
    archived: int = 0
    waiting: int = 0  # the archive is still saving it
    failed: int = 0  # to be tried again
    given_up: int = 0

    def add(self, other: RoundStats) -> None:
        for name in ("archived", "waiting", "failed", "given_up"):
            setattr(self, name, getattr(self, name) + getattr(other, name))


@dataclass
class Archiver:
    """Asks the archive for the requests that are due, one at a time (the archive limits
    how many saves run at once; one at a time stays well inside that)."""

    engine: Engine
    settings: ArchiveSettings
    client: httpx.Client | None = None
    poll_every: timedelta = POLL_EVERY
    closed: bool = False
    _round: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self._own_client = self.client is None
        self.client = self.client or wayback.make_client()

    def close(self) -> None:
        """Ask no more; a request under way is not waited for (a daemon stopping must not
        wait for a hanging archive): the round it is in closes the client when it ends."""
        self.closed = True
        if self._round.acquire(blocking=False):
            try:
                self._close_client()
            finally:
                self._round.release()

    def _close_client(self) -> None:
        if self._own_client and self.client is not None:
            self.client.close()

    def run_round(self, deadline: float | None = None) -> RoundStats:
        """Ask about each request due now, until `deadline` (time.monotonic()) passes."""
        stats = RoundStats()
        if self.closed or not self._round.acquire(blocking=False):
            return stats
        try:
            for row in self._due(utcnow()):
                if self.closed or (deadline is not None and time.monotonic() >= deadline):
                    break
                if self._claim(row):
                    left = None if deadline is None else deadline - time.monotonic()
                    state = self._ask(row, left)
                    setattr(stats, state, getattr(stats, state) + 1)
        finally:
            if self.closed:
                self._close_client()
            self._round.release()
        return stats

    def _due(self, now: datetime) -> list[VersionArchive]:
        with Session(self.engine, expire_on_commit=False) as session:
            return list(
                session.exec(
                    select(VersionArchive)
                    .where(col(VersionArchive.state) == "pending")
                    .where(col(VersionArchive.next_attempt_at) <= now)
                    .order_by(col(VersionArchive.next_attempt_at), col(VersionArchive.id))
                    .limit(BATCH)
                ).all()
            )

    def _claim(self, row: VersionArchive) -> bool:
        """Take the request for CLAIM (several daemons may share a database): moved on only
        if nobody moved it since it was read."""
        until = utcnow() + CLAIM
        with transaction(self.engine) as session:
            done = session.exec(  # type: ignore[call-overload]
                update(VersionArchive)
                .where(
                    col(VersionArchive.id) == row.id,
                    col(VersionArchive.state) == "pending",
                    col(VersionArchive.next_attempt_at) == row.next_attempt_at,
                )
                .values(next_attempt_at=until)
                .execution_options(synchronize_session=False)
            )
        return bool(done.rowcount)

    def _ask(self, row: VersionArchive, seconds: float | None) -> str:
        assert self.client is not None
        try:
            outcome = wayback.step(self.client, self.settings, row.url, row.job_id, seconds)
        except Exception as error:  # a bug must not stop the round: recorded, tried again
            log.exception("asking the archive about %s failed", row.url)
            outcome = wayback.Step(error=wayback.short(f"{type(error).__name__}: {error}"))
        return record(self.engine, self.settings, row, outcome, self.poll_every)


def record(
    engine: Engine, settings: ArchiveSettings, row: VersionArchive, outcome: wayback.Step,
    poll_every: timedelta = POLL_EVERY,
) -> str:  # fmt: skip
    """Store what the archive answered: "archived", "waiting" (asked again in poll_every),
    "failed" (tried again later) or "given_up"."""
    now = utcnow()
    asked_to_save = row.job_id is None  # a save asked for, not a job's status
    attempts = row.attempts + (1 if asked_to_save else 0)
    values: dict[str, object] = {"attempts": attempts}
    too_old = now - row.created_at >= settings.give_up_after
    if outcome.archived_url:
        state = "archived"
        values |= {
            "state": "archived",
            "archived_url": outcome.archived_url,
            "archived_at": now,
            "job_id": None,
            "last_error": None,
        }
    elif outcome.error is None and outcome.job_id is not None and not too_old:
        state = "waiting"
        values |= {"job_id": outcome.job_id, "next_attempt_at": now + poll_every}
    elif too_old:
        state = "given_up"
        error = outcome.error or "the archive was still saving it"
        values |= {"state": "failed", "last_error": error, "job_id": None}
    else:
        state = "failed"
        wait = backoff(settings, max(attempts, 1))
        if outcome.retry_after is not None:
            wait = max(wait, timedelta(seconds=outcome.retry_after))
        # A job the archive gave up on is asked for anew; a status not answered is asked again.
        values |= {"next_attempt_at": now + wait, "last_error": outcome.error}
        values["job_id"] = outcome.job_id
    with transaction(engine) as session:
        session.exec(  # type: ignore[call-overload]
            update(VersionArchive)
            .where(col(VersionArchive.id) == row.id)
            .values(values)
            .execution_options(synchronize_session=False)
        )
        if state == "archived":
            # The feed entries that show this version now carry its link: their ETag and
            # Last-Modified follow stored_at (as a change judged again does).
            session.exec(  # type: ignore[call-overload]
                update(Change)
                .where(
                    col(Change.item_id) == row.item_id,
                    col(Change.to_version_id) == row.version_id,
                )
                .values(stored_at=now)
                .execution_options(synchronize_session=False)
            )
    fields: dict[str, object] = {
        "version": row.version_id,
        "url": row.url,
        "outcome": state,
        "attempts": attempts,
    }
    if outcome.archived_url:
        fields["archived_url"] = outcome.archived_url
    if outcome.error:
        fields["error"] = outcome.error
    level = logging.WARNING if outcome.error else logging.INFO
    log.log(level, "archive", extra={"fields": fields})
    return state


def archive_due(
    engine: Engine,
    settings: ArchiveSettings,
    budget: timedelta = timedelta(seconds=60),
    client: httpx.Client | None = None,
    poll_every: timedelta = POLL_EVERY,
) -> RoundStats | None:
    """Ask the archive about what is due, and about saves it is working on as they come
    due, for up to `budget` (`redline check`, after its round); None when archiving is off
    or nothing is pending."""
    if not settings.enabled or pending_count(engine) == 0:
        return None
    deadline = time.monotonic() + budget.total_seconds()
    archiver = Archiver(engine, settings, client, poll_every)
    total = RoundStats()
    try:
        while time.monotonic() < deadline:
            done = archiver.run_round(deadline)
            total.add(done)
            wait = _next_poll(engine, deadline)
            if wait is None:
                break  # nothing more to ask within the budget: the daemon or the next check will
            time.sleep(wait)  # a save the archive is working on: its status comes due soon
    finally:
        archiver.close()
    return total


def _next_poll(engine: Engine, deadline: float) -> float | None:
    """Seconds until the next save the archive is working on comes due, if before deadline."""
    with Session(engine) as session:
        due = session.exec(
            select(func.min(VersionArchive.next_attempt_at)).where(
                col(VersionArchive.state) == "pending", col(VersionArchive.job_id).is_not(None)
            )
        ).first()
    if due is None:
        return None
    wait = max(0.0, (due - utcnow()).total_seconds())
    return wait if time.monotonic() + wait < deadline else None


def pending_count(engine: Engine) -> int:
    with Session(engine) as session:
        return int(
            session.exec(
                select(func.count())
                .select_from(VersionArchive)
                .where(col(VersionArchive.state) == "pending")
            ).one()
        )


def counts(session: Session) -> dict[str, int]:
    """How many requests are in each state (for `redline status`)."""
    rows = session.exec(
        select(VersionArchive.state, func.count()).group_by(col(VersionArchive.state))
    ).all()
    found = {state: 0 for state in STATES}
    found.update({state: int(count) for state, count in rows})
    return found
