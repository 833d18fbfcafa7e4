"""One check of one source: fetch, extract, record, in a single transaction (rounds of
checks, on threads and under leases: tracker/run/rounds.py).

A failure at any step becomes a Check with outcome "error" and a clear message
on the source; what was stored before is left untouched. When checks run under
leases (several workers), a check is recorded only while its worker still holds
the source's lease, and recording it gives the lease up.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cache
from typing import Any

import httpx
from sqlalchemy import bindparam, select
from sqlalchemy.engine import Engine, Row
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, col

from storage import Check, Source, source_queries, transaction, utcnow
from tracker.errors import HTTPStatusError, RedlineError
from tracker.extract import Page, extract
from tracker.fetch import blocked
from tracker.fetch.client import Snapshot, fetch
from tracker.normalise import redact_url
from tracker.notify import outbox
from tracker.record.ingest import SeenUnchangedConflict, is_listing, record_observations
from tracker.record.ingest_state import IngestStats
from tracker.record.listing_memory import ListingMemory
from tracker.record.not_modified import NotModified, NotModifiedLog
from tracker.record.not_modified import write as write_not_modified
from tracker.run import archive_links
from tracker.run.lease_checks import LeaseLost, check_held, ensure_lease, give_up_lease, held_source
from tracker.run.schedule import Plan, Policy, parse_retry_after, plan_next

log = logging.getLogger(__name__)


LOCAL_ERROR = "local_error"


@dataclass
class CheckResult:
    source_id: int
    url: str  # the source's, as shown: without credentials
    # changed, unchanged, not_modified, error; not recorded: skipped (lease lost) and
    # local_error (this service's own database failed, see _local_failure)
    outcome: str
    error: str | None = None
    stats: IngestStats = field(default_factory=IngestStats)
    http_status: int | None = None
    bytes: int | None = None
    seconds: float = 0.0  # the fetch and the recording
    retired: str | None = None  # why this check retired the source


@dataclass(frozen=True)
class CheckOptions:
    """How checks are scheduled and recorded, beyond the source's own settings."""

    policy: Policy = Policy()
    worker: str | None = None  # the lease holder; None: no leases (a single process)
    failing_after: int = 3  # a 404 this many times in a row retires an item page
    archive: bool = False  # [archive] enabled: new versions of item pages are to be saved
    # A round's 304s, written in batches (tracker/record/not_modified.py); None: each at once.
    not_modified: NotModifiedLog | None = None


def check_source(
    engine: Engine,
    source_id: int,
    client: httpx.Client,
    now: datetime | None = None,
    options: CheckOptions = CheckOptions(),  # noqa: B008  (frozen)
    slot: Callable[[str], AbstractContextManager[object]] | None = None,
    claimed: Row[Any] | None = None,
) -> CheckResult:
    """Check one source now and record the outcome.

    slot(url), if given, is entered around the fetch (the daemon's per-host politeness).
    claimed: the source as this worker's claim read it (storage/leases.py claim: its
    check columns and the lease_until it wrote), so that it is not read again.
    """
    # `now` is the check's time for versions and scheduling (a replay passes its own);
    # the Check row keeps the real start and end, so its duration is the fetch's.
    now = now or utcnow()
    started, clock = utcnow(), time.monotonic()
    source = claimed
    if source is None:
        with engine.connect() as connection:
            source = connection.execute(_source_read(), {"source_id": source_id}).one_or_none()
    if source is None:
        raise RedlineError(f"no source {source_id}")
    try:
        written_until = claimed.lease_until if claimed is not None else None
        result = _fetch_and_record(
            engine, source_id, source, client, now, options, slot, started, written_until
        )
    except OperationalError as error:
        result = _local_failure(source_id, redact_url(source.url), error)
    result.seconds = time.monotonic() - clock
    return result


@cache
def _source_read() -> Any:
    """What a check reads of its source first, when its claim did not (a read, without
    the write lock). Built once: it is asked before every check."""
    return select(*source_queries.check_columns()).where(col(Source.id) == bindparam("source_id"))


def _fetch_and_record(
    engine: Engine,
    source_id: int,
    source: Row[Any],
    client: httpx.Client,
    now: datetime,
    options: CheckOptions,
    slot: Callable[[str], AbstractContextManager[object]] | None,
    started: datetime,
    written_until: datetime | None,
) -> CheckResult:
    """Fetch the source (its url, etag, last_modified and schedule as read before the
    check) and record what came back, or the error. written_until: the expiry of the
    lease this worker's claim wrote, if known (see ensure_lease)."""
    url, etag, last_modified = source.url, source.etag, source.last_modified
    try:
        with slot(url) if slot else nullcontext():
            # A wait for the host may outlast the lease.
            ensure_lease(engine, source_id, options.worker, written_until)
            snapshot = fetch(client, url, etag=etag, last_modified=last_modified)
        if snapshot.not_modified:
            return _record_not_modified(engine, source, snapshot, now, started, options)
        return _record(engine, source_id, snapshot, now, started, options)
    except LeaseLost as error:
        return CheckResult(source_id, redact_url(url), "skipped", error=str(error))
    except RedlineError as error:
        return _record_failure(engine, source_id, error, now, started, options)
    except OperationalError:  # our own database failed: not the source's doing
        raise
    except Exception as error:  # a bug must not stop the round; keep the message
        log.exception("unexpected error checking %s", redact_url(url))
        said = redact_url(first_line(error))
        failure = RedlineError(f"internal error: {type(error).__name__}: {said}")
        return _record_failure(engine, source_id, failure, now, started, options)


def first_line(error: BaseException) -> str:
    """The first line only: a database error would carry its whole SQL and parameters."""
    return (str(error).strip().splitlines() or [""])[0][:300]


def _local_failure(source_id: int, url: str, error: OperationalError) -> CheckResult:
    """The service's own database failed (disk full, locked, connection lost): reported,
    and nothing is held against the source (no error check, no backoff). Its lease is
    kept: it expires, and only then is the source tried again, a pause for the database
    instead of a tight loop of failing claims."""
    cause = first_line(error.orig or error)
    message = f"local error (this service's database, not the source): {cause}"
    log.error("check of %s not recorded: %s", url, message)
    return CheckResult(source_id, url, LOCAL_ERROR, error=message)


def record_snapshot(
    engine: Engine,
    source_id: int,
    snapshot: Snapshot,
    taken_at: datetime,
    ref: str,
    memory: ListingMemory | None = None,
) -> CheckResult:
    """Record a snapshot taken elsewhere (an imported archive) as a check at its own time.

    Versions are observed at `taken_at`; the source's schedule, validators and health
    are left as they are. `ref` names the snapshot: a source records each ref once.
    An extraction error is recorded as an error check of that ref, not raised. memory:
    what the import remembers of a listing source between its snapshots
    (tracker/record/listing_memory.py), so unchanged records are not read again.
    """
    started = utcnow()
    try:
        result = _record(
            engine, source_id, snapshot, taken_at, started, CheckOptions(), ref, memory
        )
    except BaseException as error:
        if memory is not None:
            memory.rolled_back()  # the times it wrote or saw were not committed
        if not isinstance(error, RedlineError):
            raise
        with transaction(engine) as session:
            session.add(_error_check(source_id, started, error, bytes=len(snapshot.body), ref=ref))
        return CheckResult(source_id, snapshot.requested_url, "error", error=str(error))
    if memory is not None:
        memory.committed()
    return result


def _record_remembered(
    session: Session,
    source: Source,
    page: Page,
    memory: ListingMemory,
    now: datetime,
    check_id: int | None,
) -> IngestStats | None:
    """Record a listing snapshot of an import with what the import remembers of the last
    one: only new and changed records are read. None: record it the whole way (the
    memory is dropped, and built again from the next snapshot)."""
    split = memory.split(session, source, page, check_id or 0)
    if split is None:
        memory.forget(session)
        return None
    memory.write_seen(session, split)
    source.listing = True
    try:
        stats = record_observations(
            session, source, split.observations, now, check_id, listing=True,
            seen_unchanged=split.known, context=split.context,
            seen_times_written_late=memory.writes_seen_late(), context_sightings=memory.sightings,
        )  # fmt: skip
    except SeenUnchangedConflict:
        memory.forget(session)
        return None
    memory.remember(session, split, stats.landed, check_id, now)
    return stats


def _record(
    engine: Engine,
    source_id: int,
    snapshot: Snapshot,
    now: datetime,
    started: datetime,
    options: CheckOptions,
    snapshot_ref: str | None = None,
    memory: ListingMemory | None = None,
) -> CheckResult:
    with transaction(engine) as session:
        source = held_source(session, source_id, options.worker)
        check = Check(
            source_id=source_id, started_at=started, finished_at=utcnow(), outcome="unchanged"
        )
        check.http_status, check.bytes = snapshot.status, len(snapshot.body)
        check.snapshot = snapshot_ref
        session.add(check)
        session.flush()  # the check's id, for the versions and matches it records
        blocked.check(snapshot)  # a challenge or error page: an error check, no version
        page = Page(
            url=snapshot.final_url,
            text=snapshot.text,
            body=snapshot.body,
            content_type=snapshot.content_type,
            options=source.options or {},
        )
        stats = None
        if memory is not None and source.kind == "listing":
            stats = _record_remembered(session, source, page, memory, now, check.id)
        if stats is None:
            kind, observations = extract(source.kind, page)
            if source.kind == "auto":
                source.kind = kind
            source.listing = is_listing(observations, snapshot.final_url)
            stats = record_observations(
                session,
                source,
                observations,
                now,
                check.id,
                page_urls=[snapshot.requested_url],
                listing=source.listing,
            )
        check.outcome = "changed" if stats.changes_added else "unchanged"
        check.items_seen = stats.items_seen
        check.versions_added = stats.versions_added
        check.changes_added = stats.changes_added
        check.finished_at = utcnow()
        retired = None
        if snapshot_ref is None and stats.recorded:  # changes seen now: tell subscribers
            session.flush()  # the changes' ids, for their deliveries
            outbox.enqueue(session, source, stats.recorded)
        if snapshot_ref is None and options.archive and source.listing is False and stats.observed:
            session.flush()  # the versions' ids (written pending: the daemon asks the archive)
            archive_links.enqueue(session, stats.observed)
        if snapshot_ref is None:  # a fetch now, not a replayed archive: the source's state
            source.etag, source.last_modified = snapshot.etag, snapshot.last_modified
            source.consecutive_failures = 0
            source.last_error = None
            retired = _schedule(session, source, now, options.policy)
            give_up_lease(source, options.worker)
        session.add_all([check, source])
        return CheckResult(
            source_id,
            redact_url(source.url),
            check.outcome,
            stats=stats,
            http_status=snapshot.status,
            bytes=len(snapshot.body),
            retired=retired,
        )


def _record_failure(
    engine: Engine,
    source_id: int,
    error: RedlineError,
    now: datetime,
    started: datetime,
    options: CheckOptions,
) -> CheckResult:
    status = error.status if isinstance(error, HTTPStatusError) else None
    try:
        with transaction(engine) as session:
            source = held_source(session, source_id, options.worker)
            session.add(_error_check(source_id, started, error, status=status))
            source.last_error = str(error)
            source.consecutive_failures += 1
            retired = _gone_reason(session, source, status, options.failing_after)
            if retired:
                _retire(source, now, retired)
            else:
                retry_after = None
                if isinstance(error, HTTPStatusError) and status in (429, 503):
                    retry_after = parse_retry_after(error.retry_after, utcnow())
                retired = _schedule(session, source, now, options.policy, retry_after)
            give_up_lease(source, options.worker)
            session.add(source)
            return CheckResult(
                source_id,
                redact_url(source.url),
                "error",
                error=str(error),
                http_status=status,
                retired=retired,
            )
    except LeaseLost as lost:
        return CheckResult(source_id, "", "skipped", error=str(lost))


def _error_check(
    source_id: int,
    started: datetime,
    error: RedlineError,
    status: int | None = None,
    bytes: int | None = None,
    ref: str | None = None,
) -> Check:
    """The Check row of a check that failed (or a snapshot that could not be read)."""
    return Check(
        source_id=source_id,
        started_at=started,
        finished_at=utcnow(),
        outcome="error",
        http_status=status,
        bytes=bytes,
        error=str(error),
        snapshot=ref,
    )


def _gone_reason(
    session: Session, source: Source, status: int | None, failing_after: int
) -> str | None:
    """Why an item page should no longer be checked: 410, or 404 `failing_after` times
    running. A listing (day index, feed) is never retired for it: it may come back."""
    if source.listing is True or status not in (404, 410):
        return None
    if status == 410:
        return "gone: the server answered 410 Gone"
    assert source.id is not None
    session.flush()  # this check's own row counts as the latest
    latest = source_queries.recent_check_statuses(session, source.id, failing_after)
    if len(latest) == failing_after and all(status == 404 for status in latest):
        return f"not found: 404 on {failing_after} checks in a row"
    return None


def _schedule(
    session: Session,
    source: Source,
    now: datetime,
    policy: Policy,
    retry_after: timedelta | None = None,
) -> str | None:
    """Set when the source is next due; if it is due never again, retire it and say why."""
    assert source.id is not None
    plan = _plan(
        session,
        source.id,
        (source.interval_seconds, source.cron, source.listing),
        now,
        policy,
        source.consecutive_failures,
        retry_after,
    )
    source.last_checked_at = now
    if plan.at is None:
        _retire(source, now, plan.retire_reason or "no longer due")
        return source.retired_reason
    source.next_check_at = plan.at
    return None


NOT_READ = object()  # _plan's first_seen: to be read


def _plan(
    session: Session | None,
    source_id: int,
    schedule: tuple[int | None, str | None, bool | None],
    now: datetime,
    policy: Policy,
    failures: int = 0,
    retry_after: timedelta | None = None,
    first_seen: datetime | None | object = NOT_READ,
) -> Plan:
    """The source's next check; schedule: its (interval_seconds, cron, listing); first_seen:
    when it first showed an item, if read already (source_queries.aging_first_seen);
    session: where to read it otherwise (None: it was read)."""
    interval_seconds, cron, listing = schedule
    item_age = None
    # Only the aging steps of an item page without its own interval or cron need its age.
    if policy.aging and listing is False and not interval_seconds and not cron:
        if first_seen is NOT_READ:
            assert session is not None
            first_seen = source_queries.source_first_seen(session, source_id)
        assert first_seen is None or isinstance(first_seen, datetime)  # aware, either way
        item_age = now - first_seen if first_seen else None
    return plan_next(
        now,
        interval_seconds=interval_seconds,
        cron=cron,
        listing=listing,
        item_age=item_age,
        failures=failures,
        retry_after=retry_after,
        policy=policy,
    )


def _record_not_modified(
    engine: Engine,
    source: Row[Any],
    snapshot: Snapshot,
    now: datetime,
    started: datetime,
    options: CheckOptions,
) -> CheckResult:
    """Record a 304 as _record does, in plain statements: most checks of a polling round
    are 304s, and the ORM's reading, tracking and flushing of the source and the check
    took most of a 304's recording (bench/RESULTS.md, polling round). Its next check is
    planned from the source's schedule and (an aging item page's) first sighting as
    check_source or its claim read them, without another read; the writes go to the round's batch
    (tracker/record/not_modified.py), or are made now when there is none. Both make sure the
    lease is still this worker's."""
    source_id = source.id
    # A 304 adds no item: its age was read with the source, so nothing is read here.
    schedule = (source.interval_seconds, source.cron, source.listing)
    plan = _plan(None, source_id, schedule, now, options.policy, first_seen=source.first_seen)
    retired = None if plan.at else (plan.retire_reason or "no longer due")  # as _retire
    values: dict[str, object] = {
        "last_checked_at": now,
        "next_check_at": plan.at,
        "consecutive_failures": 0,
        "last_error": None,
        "retired_at": now if retired else None,
        "retired_reason": retired,
    }
    if options.worker is not None:  # as give_up_lease
        values |= {"lease_until": None, "leased_by": None}
    check = {
        "source_id": source_id,
        "started_at": started,
        "finished_at": utcnow(),
        "outcome": "not_modified",
        "http_status": snapshot.status,
        "bytes": len(snapshot.body),
        "items_seen": 0,
        "versions_added": 0,
        "changes_added": 0,
    }
    record = NotModified(source_id, values, check)
    if options.not_modified is not None:
        options.not_modified.add(record)
    elif not write_not_modified(engine, [record], options.worker):  # the lease moved on
        with engine.connect() as connection:
            holder = select(Source.leased_by).where(col(Source.id) == source_id)
            check_held(source_id, connection.execute(holder).scalar_one_or_none(), options.worker)
    return CheckResult(
        source_id,
        redact_url(source.url),
        "not_modified",
        http_status=snapshot.status,
        bytes=len(snapshot.body),
        retired=retired,
    )


def _retire(source: Source, now: datetime, reason: str) -> None:
    source.retired_at, source.retired_reason = now, reason
    source.next_check_at = None
    source.last_checked_at = now
