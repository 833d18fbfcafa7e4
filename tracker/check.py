"""One check of one source: fetch, extract, record, in a single transaction.

A failure at any step becomes a Check with outcome "error" and a clear message
on the source; what was stored before is left untouched. When checks run under
leases (several workers), a check is recorded only while its worker still holds
the source's lease, and recording it gives the lease up.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import httpx
from sqlalchemy.engine import Engine
from sqlmodel import Session

from storage import Check, Source, leases, queries, transaction, utcnow
from tracker.errors import HTTPStatusError, RedlineError
from tracker.extract import Page, extract
from tracker.fetch import Snapshot, fetch, make_client
from tracker.ingest import IngestStats, is_listing, record_observations
from tracker.schedule import Policy, parse_retry_after, plan_next

log = logging.getLogger(__name__)

# A round claims this many sources at a time, so its leases stay short.
ROUND_BATCH = 20
ROUND_LEASE = timedelta(minutes=5)


class LeaseLost(RedlineError):
    """Another worker holds the source now (this worker's lease expired): not recorded."""


@dataclass
class CheckResult:
    source_id: int
    url: str
    outcome: str  # changed, unchanged, not_modified, error; skipped: lease lost, not recorded
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


def check_source(
    engine: Engine,
    source_id: int,
    client: httpx.Client,
    now: datetime | None = None,
    options: CheckOptions = CheckOptions(),  # noqa: B008  (frozen)
    slot: Callable[[str], AbstractContextManager[object]] | None = None,
) -> CheckResult:
    """Check one source now and record the outcome.

    slot(url), if given, is entered around the fetch (the daemon's per-host politeness).
    """
    # `now` is the check's time for versions and scheduling (a replay passes its own);
    # the Check row keeps the real start and end, so its duration is the fetch's.
    now = now or utcnow()
    started, clock = utcnow(), time.monotonic()
    with transaction(engine) as session:
        source = session.get(Source, source_id)
        if source is None:
            raise RedlineError(f"no source {source_id}")
        url, etag, last_modified = source.url, source.etag, source.last_modified
    try:
        with slot(url) if slot else nullcontext():
            snapshot = fetch(client, url, etag=etag, last_modified=last_modified)
        result = _record(engine, source_id, snapshot, now, started, options)
    except LeaseLost as error:
        result = CheckResult(source_id, url, "skipped", error=str(error))
    except RedlineError as error:
        result = _record_failure(engine, source_id, error, now, started, options)
    except Exception as error:  # a bug must not stop the round; keep the message
        log.exception("unexpected error checking %s", url)
        # The first line only: a database error would carry its whole SQL and parameters.
        first_line = (str(error).strip().splitlines() or [""])[0][:300]
        failure = RedlineError(f"internal error: {type(error).__name__}: {first_line}")
        result = _record_failure(engine, source_id, failure, now, started, options)
    result.seconds = time.monotonic() - clock
    return result


def _held_source(session: Session, source_id: int, options: CheckOptions) -> Source:
    """The source, locked, provided this worker still holds its lease."""
    source = leases.locked_source(session, source_id)
    assert source is not None
    if options.worker is not None and source.leased_by != options.worker:
        holder = f"worker {source.leased_by}" if source.leased_by else "nobody (it expired)"
        raise LeaseLost(f"the lease on source {source_id} is now held by {holder}")
    return source


def record_snapshot(
    engine: Engine, source_id: int, snapshot: Snapshot, taken_at: datetime, ref: str
) -> CheckResult:
    """Record a snapshot taken elsewhere (an imported archive) as a check at its own time.

    Versions are observed at `taken_at`; the source's schedule, validators and health
    are left as they are. `ref` names the snapshot: a source records each ref once.
    An extraction error is recorded as an error check of that ref, not raised.
    """
    started = utcnow()
    try:
        return _record(engine, source_id, snapshot, taken_at, started, CheckOptions(), ref)
    except RedlineError as error:
        with transaction(engine) as session:
            session.add(_error_check(source_id, started, error, bytes=len(snapshot.body), ref=ref))
        return CheckResult(source_id, snapshot.requested_url, "error", error=str(error))


def _record(
    engine: Engine,
    source_id: int,
    snapshot: Snapshot,
    now: datetime,
    started: datetime,
    options: CheckOptions,
    snapshot_ref: str | None = None,
) -> CheckResult:
    with transaction(engine) as session:
        source = _held_source(session, source_id, options)
        check = Check(
            source_id=source_id, started_at=started, finished_at=utcnow(), outcome="unchanged"
        )
        check.http_status, check.bytes = snapshot.status, len(snapshot.body)
        check.snapshot = snapshot_ref
        session.add(check)
        session.flush()
        stats = IngestStats()
        if snapshot.not_modified:
            check.outcome = "not_modified"
        else:
            page = Page(
                url=snapshot.final_url,
                text=snapshot.text,
                body=snapshot.body,
                content_type=snapshot.content_type,
                options=source.options or {},
            )
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
        if snapshot_ref is None:  # a fetch now, not a replayed archive: the source's state
            if not snapshot.not_modified:
                source.etag, source.last_modified = snapshot.etag, snapshot.last_modified
            source.consecutive_failures = 0
            source.last_error = None
            retired = _schedule(session, source, now, options.policy)
            _give_up_lease(source, options)
        session.add_all([check, source])
        return CheckResult(
            source_id,
            source.url,
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
            source = _held_source(session, source_id, options)
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
            _give_up_lease(source, options)
            session.add(source)
            return CheckResult(
                source_id,
                source.url,
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
    latest = queries.recent_check_statuses(session, source.id, failing_after)
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
    item_age = None
    if source.listing is False and not source.interval_seconds and not source.cron:
        assert source.id is not None
        first_seen = queries.source_first_seen(session, source.id)
        item_age = now - first_seen if first_seen else None
    plan = plan_next(
        now,
        interval_seconds=source.interval_seconds,
        cron=source.cron,
        listing=source.listing,
        item_age=item_age,
        failures=source.consecutive_failures,
        retry_after=retry_after,
        policy=policy,
    )
    source.last_checked_at = now
    if plan.at is None:
        _retire(source, now, plan.retire_reason or "no longer due")
        return source.retired_reason
    source.next_check_at = plan.at
    return None


def _retire(source: Source, now: datetime, reason: str) -> None:
    source.retired_at, source.retired_reason = now, reason
    source.next_check_at = None
    source.last_checked_at = now


def _give_up_lease(source: Source, options: CheckOptions) -> None:
    if options.worker is not None:
        source.lease_until, source.leased_by = None, None


def check_round(
    engine: Engine,
    now: datetime | None = None,
    all_sources: bool = False,
    policy: Policy = Policy(),  # noqa: B008  (frozen)
    client: httpx.Client | None = None,
    on_result: Callable[[CheckResult], None] | None = None,
    keep_going: Callable[[], bool] = lambda: True,
    worker: str | None = None,
) -> list[CheckResult]:
    """Check every due source (or every enabled one) once, in turn, under leases.

    Sources are claimed a batch at a time, so a round started beside running daemons
    never checks a source one of them is checking. keep_going is asked before each
    source, so a process told to stop finishes the check in hand and claims no more.
    """
    now = now or utcnow()
    worker = worker or default_worker_name("check")
    options = CheckOptions(policy=policy, worker=worker)
    # Every source, due or not: claim as if the time were far ahead.
    due_at = now + timedelta(days=36500) if all_sources else now
    results: list[CheckResult] = []
    done: set[int] = set()
    own_client = client is None
    client = client or make_client()
    try:
        for batch in _claimed_batches(engine, worker, due_at, done, keep_going):
            for index, source_id in enumerate(batch):
                if not keep_going():
                    _release(engine, worker, batch[index:])
                    return results
                result = check_source(engine, source_id, client, now, options)
                done.add(source_id)
                results.append(result)
                if on_result:
                    on_result(result)
    finally:
        if own_client:
            client.close()
    return results


def _claimed_batches(
    engine: Engine,
    worker: str,
    due_at: datetime,
    done: set[int],
    keep_going: Callable[[], bool],
) -> Iterator[list[int]]:
    while keep_going():
        with transaction(engine) as session:
            claimed = leases.claim(
                session,
                worker,
                due_at,
                utcnow(),
                ROUND_LEASE,
                ROUND_BATCH,
                accept=lambda source: source.id not in done,
            )
            batch = [source.id for source in claimed if source.id is not None]
        if not batch:
            return
        yield batch


def _release(engine: Engine, worker: str, source_ids: list[int]) -> None:
    with transaction(engine) as session:
        leases.release_all(session, worker, source_ids)


def default_worker_name(role: str = "run") -> str:
    """host:pid:role, unique among live processes, readable in `redline status`."""
    import os
    import socket

    return f"{socket.gethostname()}:{os.getpid()}:{role}"
