"""One check of one source: fetch, extract, record, in a single transaction.

A failure at any step becomes a Check with outcome "error" and a clear message
on the source; what was stored before is left untouched.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import httpx
from sqlalchemy.engine import Engine

from storage import Check, Source, queries, transaction, utcnow
from tracker.errors import RedlineError
from tracker.extract import Page, extract
from tracker.fetch import Snapshot, fetch, make_client
from tracker.ingest import IngestStats, is_listing, record_observations

log = logging.getLogger(__name__)

DEFAULT_INTERVAL = timedelta(minutes=15)
JITTER = 0.1  # each next check moves by up to ±10 % so sources spread out over time
MAX_BACKOFF = timedelta(hours=6)


@dataclass
class CheckResult:
    source_id: int
    url: str
    outcome: str  # changed, unchanged, not_modified, error
    error: str | None = None
    stats: IngestStats = field(default_factory=IngestStats)


def next_check_time(now: datetime, interval: timedelta, failures: int = 0) -> datetime:
    """When to look again: the interval with jitter, doubled per consecutive failure."""
    if failures:
        interval = min(interval * 2**failures, max(MAX_BACKOFF, interval))
    return now + interval * (1 + random.uniform(-JITTER, JITTER))


def check_source(
    engine: Engine,
    source_id: int,
    client: httpx.Client,
    now: datetime | None = None,
    default_interval: timedelta = DEFAULT_INTERVAL,
) -> CheckResult:
    """Check one source now and record the outcome."""
    # `now` is the check's time for versions and scheduling (a replay passes its own);
    # the Check row keeps the real start and end, so its duration is the fetch's.
    now = now or utcnow()
    started = utcnow()
    with transaction(engine) as session:
        source = session.get(Source, source_id)
        if source is None:
            raise RedlineError(f"no source {source_id}")
        url, etag, last_modified = source.url, source.etag, source.last_modified
    try:
        snapshot = fetch(client, url, etag=etag, last_modified=last_modified)
        return _record(engine, source_id, snapshot, now, started, default_interval)
    except RedlineError as error:
        return _record_failure(engine, source_id, str(error), now, started, default_interval)
    except Exception as error:  # a bug must not stop the round; keep the message
        log.exception("unexpected error checking %s", url)
        message = f"internal error: {type(error).__name__}: {error}"
        return _record_failure(engine, source_id, message, now, started, default_interval)


def _record(
    engine: Engine,
    source_id: int,
    snapshot: Snapshot,
    now: datetime,
    started: datetime,
    default_interval: timedelta,
) -> CheckResult:
    with transaction(engine) as session:
        source = session.get(Source, source_id)
        assert source is not None
        check = Check(
            source_id=source_id, started_at=started, finished_at=utcnow(), outcome="unchanged"
        )
        check.http_status, check.bytes = snapshot.status, len(snapshot.body)
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
            stats = record_observations(
                session,
                source,
                observations,
                now,
                check.id,
                page_urls=[snapshot.requested_url],
                listing=is_listing(observations, snapshot.final_url),
            )
            check.outcome = "changed" if stats.changes_added else "unchanged"
            source.etag, source.last_modified = snapshot.etag, snapshot.last_modified
        check.items_seen = stats.items_seen
        check.versions_added = stats.versions_added
        check.changes_added = stats.changes_added
        check.finished_at = utcnow()
        _schedule(source, now, default_interval, failed=False)
        source.last_error = None
        session.add_all([check, source])
        return CheckResult(source_id, source.url, check.outcome, stats=stats)


def _record_failure(
    engine: Engine,
    source_id: int,
    message: str,
    now: datetime,
    started: datetime,
    default_interval: timedelta,
) -> CheckResult:
    with transaction(engine) as session:
        source = session.get(Source, source_id)
        assert source is not None
        session.add(
            Check(
                source_id=source_id,
                started_at=started,
                finished_at=utcnow(),
                outcome="error",
                error=message,
            )
        )
        source.last_error = message
        _schedule(source, now, default_interval, failed=True)
        session.add(source)
        return CheckResult(source_id, source.url, "error", error=message)


def _schedule(source: Source, now: datetime, default_interval: timedelta, failed: bool) -> None:
    source.consecutive_failures = source.consecutive_failures + 1 if failed else 0
    interval = (
        timedelta(seconds=source.interval_seconds) if source.interval_seconds else default_interval
    )
    source.next_check_at = next_check_time(now, interval, source.consecutive_failures)
    source.last_checked_at = now


def check_round(
    engine: Engine,
    now: datetime | None = None,
    all_sources: bool = False,
    default_interval: timedelta = DEFAULT_INTERVAL,
    client: httpx.Client | None = None,
    on_result: Callable[[CheckResult], None] | None = None,
    keep_going: Callable[[], bool] = lambda: True,
) -> list[CheckResult]:
    """Check every due source (or every enabled one) once, in turn.

    keep_going is asked before each source, so a daemon told to stop finishes the
    check in hand and claims no more.
    """
    now = now or utcnow()
    with transaction(engine) as session:
        if all_sources:
            ids = [s.id for s in queries.all_sources(session) if s.enabled]
        else:
            ids = [s.id for s in queries.due_sources(session, now)]
    results = []
    own_client = client is None
    client = client or make_client()
    try:
        for source_id in ids:
            assert source_id is not None
            if not keep_going():
                break
            result = check_source(engine, source_id, client, now, default_interval)
            results.append(result)
            if on_result:
                on_result(result)
    finally:
        if own_client:
            client.close()
    return results
