"""One check of one source: fetch, extract, record, in a single transaction.

A failure at any step becomes a Check with outcome "error" and a clear message
on the source; what was stored before is left untouched. When checks run under
leases (several workers), a check is recorded only while its worker still holds
the source's lease, and recording it gives the lease up.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.engine import Engine, Row
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, col

from storage import Check, Source, leases, queries, transaction, utcnow
from tracker import archive_links, blocked
from tracker.config import DaemonSettings
from tracker.errors import HTTPStatusError, RedlineError
from tracker.extract import Page, extract
from tracker.fetch import Snapshot, fetch, make_client
from tracker.ingest import IngestStats, SeenUnchangedConflict, is_listing, record_observations
from tracker.listing_memory import ListingMemory
from tracker.normalise import redact_url
from tracker.not_modified import NotModified, NotModifiedLog
from tracker.not_modified import write as write_not_modified
from tracker.notify import outbox
from tracker.politeness import HostGate, host_of
from tracker.schedule import Plan, Policy, parse_retry_after, plan_next

log = logging.getLogger(__name__)

# A round claims each source just before its check; the lease outlasts any fetch.
ROUND_LEASE = timedelta(minutes=5)
# check_round's default: one source at a time, no pause between (library callers, replays;
# `redline check` passes the [daemon] settings).
SEQUENTIAL = DaemonSettings(concurrency=1, per_host=1, host_delay=timedelta(0))


LOCAL_ERROR = "local_error"


class LeaseLost(RedlineError):
    """Another worker holds the source now (this worker's lease expired): not recorded."""


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
    # A round's 304s, written in batches (tracker/not_modified.py); None: each at once.
    not_modified: NotModifiedLog | None = None


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
    # A read, without the write lock; plain columns, as most checks end in a 304 (whose
    # recording needs only the schedule's).
    read = select(
        Source.id,
        Source.url,
        Source.etag,
        Source.last_modified,
        Source.interval_seconds,
        Source.cron,
        Source.listing,
    ).where(col(Source.id) == source_id)
    with engine.connect() as connection:
        source = connection.execute(read).one_or_none()
    if source is None:
        raise RedlineError(f"no source {source_id}")
    try:
        result = _fetch_and_record(engine, source_id, source, client, now, options, slot, started)
    except OperationalError as error:
        result = _local_failure(source_id, redact_url(source.url), error)
    result.seconds = time.monotonic() - clock
    return result


def _fetch_and_record(
    engine: Engine,
    source_id: int,
    source: Row[Any],
    client: httpx.Client,
    now: datetime,
    options: CheckOptions,
    slot: Callable[[str], AbstractContextManager[object]] | None,
    started: datetime,
) -> CheckResult:
    """Fetch the source (its url, etag, last_modified and schedule as read before the
    check) and record what came back, or the error."""
    url, etag, last_modified = source.url, source.etag, source.last_modified
    try:
        with slot(url) if slot else nullcontext():
            _ensure_lease(engine, source_id, options)  # a wait for the host may outlast it
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
        first_line = redact_url(_first_line(error))
        failure = RedlineError(f"internal error: {type(error).__name__}: {first_line}")
        return _record_failure(engine, source_id, failure, now, started, options)


def _first_line(error: BaseException) -> str:
    """The first line only: a database error would carry its whole SQL and parameters."""
    return (str(error).strip().splitlines() or [""])[0][:300]


def _local_failure(source_id: int, url: str, error: OperationalError) -> CheckResult:
    """The service's own database failed (disk full, locked, connection lost): reported,
    and nothing is held against the source (no error check, no backoff). Its lease is
    kept: it expires, and only then is the source tried again, a pause for the database
    instead of a tight loop of failing claims."""
    cause = _first_line(error.orig or error)
    message = f"local error (this service's database, not the source): {cause}"
    log.error("check of %s not recorded: %s", url, message)
    return CheckResult(source_id, url, LOCAL_ERROR, error=message)


def _ensure_lease(engine: Engine, source_id: int, options: CheckOptions) -> None:
    """Raise LeaseLost unless this worker still holds a live lease on the source: a worker
    stopped past its lease (SIGSTOP, a long pause) must not fetch once it resumes."""
    if options.worker is None:
        return
    with Session(engine) as session:  # a read: no write lock
        holder = leases.live_holder(session, source_id, utcnow())
    if holder != options.worker:
        now_held = f"worker {holder}" if holder else "nobody (it expired)"
        raise LeaseLost(f"the lease on source {source_id} is now held by {now_held}: not fetched")


def _held_source(session: Session, source_id: int, options: CheckOptions) -> Source:
    """The source, locked, provided this worker still holds its lease."""
    source = leases.locked_source(session, source_id)
    assert source is not None
    _check_held(source_id, source.leased_by, options)
    return source


def _check_held(source_id: int, leased_by: str | None, options: CheckOptions) -> None:
    """Raise LeaseLost unless this worker (if checks run under leases) is `leased_by`."""
    if options.worker is not None and leased_by != options.worker:
        holder = f"worker {leased_by}" if leased_by else "nobody (it expired)"
        raise LeaseLost(f"the lease on source {source_id} is now held by {holder}")


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
    (tracker/listing_memory.py), so unchanged records are not read again.
    """
    started = utcnow()
    try:
        return _record(engine, source_id, snapshot, taken_at, started, CheckOptions(), ref, memory)
    except RedlineError as error:
        with transaction(engine) as session:
            session.add(_error_check(source_id, started, error, bytes=len(snapshot.body), ref=ref))
        return CheckResult(source_id, snapshot.requested_url, "error", error=str(error))


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
        memory.forget()
        return None
    source.listing = True
    try:
        stats = record_observations(
            session, source, split.observations, now, check_id, listing=True,
            seen_unchanged=split.known, context=split.context,
        )  # fmt: skip
    except SeenUnchangedConflict:
        memory.forget()
        return None
    memory.remember(session, split, stats.landed, check_id)
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
        source = _held_source(session, source_id, options)
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
            _give_up_lease(source, options)
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


def _plan(
    session: Session,
    source_id: int,
    schedule: tuple[int | None, str | None, bool | None],
    now: datetime,
    policy: Policy,
    failures: int = 0,
    retry_after: timedelta | None = None,
) -> Plan:
    """The source's next check; schedule: its (interval_seconds, cron, listing)."""
    interval_seconds, cron, listing = schedule
    item_age = None
    # Only the aging steps of an item page without its own interval or cron need its age.
    if policy.aging and listing is False and not interval_seconds and not cron:
        first_seen = queries.source_first_seen(session, source_id)
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
    planned from the source's schedule as check_source read it (and, for an aging item
    page, a read of its age), without the write lock; the writes go to the round's batch
    (tracker/not_modified.py), or are made now when there is none. Both make sure the
    lease is still this worker's."""
    source_id = source.id
    with Session(engine) as session:
        plan = _plan(session, source_id, (source.interval_seconds, source.cron, source.listing),
                     now, options.policy)  # fmt: skip
    retired = None if plan.at else (plan.retire_reason or "no longer due")  # as _retire
    values: dict[str, object] = {
        "last_checked_at": now,
        "next_check_at": plan.at,
        "consecutive_failures": 0,
        "last_error": None,
        "retired_at": now if retired else None,
        "retired_reason": retired,
    }
    if options.worker is not None:  # as _give_up_lease
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
            _check_held(source_id, connection.execute(holder).scalar_one_or_none(), options)
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


def _give_up_lease(source: Source, options: CheckOptions) -> None:
    if options.worker is not None:
        source.lease_until, source.leased_by = None, None


class CheckPool:
    """Checks on a thread pool, polite to each host: at most `concurrency` at once,
    `per_host` at once against one host (its slot in the HostGate is reserved when the
    source is claimed) and `host_delay` between two requests to it. The daemon and
    `redline check` both run their checks here.

    finished(source_id, result or exception) is called on the check's thread once the
    check is over and its slot is free again.
    """

    def __init__(
        self,
        engine: Engine,
        options: CheckOptions,
        settings: DaemonSettings,
        finished: Callable[[int, CheckResult | Exception], None],
        client: httpx.Client | None = None,
        now: datetime | None = None,
    ) -> None:
        self.engine, self.options, self.finished = engine, options, finished
        self.now = now  # the checks' time (a replay's); None: each its own real time
        self.concurrency = settings.concurrency
        self.gate = HostGate(settings.per_host, settings.host_delay)
        self.client = client or make_client(pool_size=settings.concurrency)
        self.executor = ThreadPoolExecutor(settings.concurrency, thread_name_prefix="check")
        self._in_flight: dict[int, Future[None]] = {}
        self._lock = threading.Lock()  # guards _in_flight

    def in_flight(self) -> list[int]:
        with self._lock:
            return list(self._in_flight)

    def running(self) -> list[Future[None]]:
        with self._lock:
            return list(self._in_flight.values())

    def room(self) -> int:
        return self.concurrency - len(self.in_flight())

    def claim(self, due_at: datetime, lease: timedelta) -> list[int]:
        """Claim due sources for the free slots, on hosts with a free slot, and start
        checking them (the daemon's way); the ids started."""
        room = self.room()
        if room <= 0:
            return []
        reserved: list[str] = []
        in_flight = set(self.in_flight())

        def polite(source: Source) -> bool:
            # A check that outlived its lease may still be running here: never twice.
            if source.id in in_flight or not self.gate.reserve(source.url):
                return False
            reserved.append(source.url)
            return True

        try:
            with transaction(self.engine) as session:
                clock = utcnow()
                claimed = leases.claim(
                    session, self.options.worker or "", due_at, clock, lease, room, polite
                )
                work = [(source.id, source.url) for source in claimed if source.id is not None]
        except BaseException:
            for url in reserved:
                self.gate.release(url)
            raise
        unused = list(reserved)
        for _, url in work:
            unused.remove(url)
        for url in unused:
            self.gate.release(url)
        for source_id, url in work:
            self.start(source_id, url)
        return [source_id for source_id, _ in work]

    def start(self, source_id: int, url: str) -> None:
        """Check a source this worker holds, its host's slot already reserved."""
        with self._lock:
            self._in_flight[source_id] = self.executor.submit(self._check, source_id, url)

    def _check(self, source_id: int, url: str) -> None:
        outcome: CheckResult | Exception
        try:
            outcome = check_source(
                self.engine, source_id, self.client, self.now, self.options, self.gate.spacing
            )
        except Exception as error:  # never lose the worker thread; the lease expires
            outcome = error
        finally:
            self.gate.release(url)
            with self._lock:
                self._in_flight.pop(source_id, None)
        self.finished(source_id, outcome)

    def shutdown(self) -> None:
        """Start no more checks; those running go on (their threads end with them)."""
        self.executor.shutdown(wait=False, cancel_futures=True)


def check_round(
    engine: Engine,
    now: datetime | None = None,
    all_sources: bool = False,
    policy: Policy = Policy(),  # noqa: B008  (frozen)
    client: httpx.Client | None = None,
    on_result: Callable[[CheckResult], None] | None = None,
    keep_going: Callable[[], bool] = lambda: True,
    worker: str | None = None,
    settings: DaemonSettings = SEQUENTIAL,
    archive: bool = False,
) -> list[CheckResult]:
    """Check every source due now (or every enabled one) once, under leases, with the
    daemon's limits (settings: [daemon] concurrency, per_host, host_delay).

    The round is the sources due when it starts, each checked exactly once (unless
    another worker holds it when its turn comes: then that worker checks it). Each is
    claimed just before its check, so a round started beside running daemons never
    checks a source one of them is checking. Results come (to on_result, on this
    thread) in the order the checks end. keep_going is asked before each claim: a
    process told to stop finishes the checks in hand and claims no more. archive: new
    versions of item pages are queued for the Wayback Machine ([archive] enabled).
    """
    now = now or utcnow()
    worker = worker or default_worker_name("check")
    batch = NotModifiedLog(engine, worker)
    options = CheckOptions(policy=policy, worker=worker, archive=archive, not_modified=batch)
    # Every source, due or not: claim as if the time were far ahead.
    due_at = now + timedelta(days=36500) if all_sources else now
    ended: queue.Queue[CheckResult | Exception] = queue.Queue()
    own_client = client is None
    pending = _round_sources(engine, due_at)
    if not pending:
        return []  # nothing due: no client (its TLS context alone took 40 ms) and no pool
    # A connection to each host is kept between its checks (a 304 is then one round trip).
    client = client or make_client(pool_size=settings.concurrency, hosts=len(pending))
    checks = CheckPool(engine, options, settings, lambda _, done: ended.put(done), client, now)
    plan = _RoundPlan(pending, settings)
    results: list[CheckResult] = []
    running = 0  # checks started whose outcome has not come back yet
    try:
        while True:
            if keep_going():
                if plan.needs_claim(checks):
                    plan.claim(engine, worker, due_at)
                running += plan.start(checks)
            elif plan.held():
                _release(engine, worker, plan.give_up())
            if running == 0:
                if not keep_going() or plan.done():
                    break
                continue  # nothing running: the next turn claims or starts at least one
            outcome = ended.get()
            running -= 1
            if isinstance(outcome, Exception):
                raise outcome
            results.append(outcome)
            if on_result:
                on_result(outcome)
    except BaseException:
        checks.shutdown()
        batch.flush()  # the 304s seen so far, while their leases are held
        _release(engine, worker)  # checks still running are then not recorded
        raise
    checks.shutdown()
    batch.flush()
    if any(result.outcome == LOCAL_ERROR for result in results):
        _release_after_local_errors(engine, worker)
    if own_client:
        checks.client.close()
    return results


def _round_sources(engine: Engine, due_at: datetime) -> OrderedDict[str, deque[tuple[int, str]]]:
    """The round's sources, by host (most overdue host first), each host's most overdue
    first: read once at the start, so a source checked in the round is never taken again."""
    with Session(engine) as session:  # a read: no write lock
        rows = queries.due_source_urls(session, due_at, utcnow())
    by_host: OrderedDict[str, deque[tuple[int, str]]] = OrderedDict()
    for source_id, url in rows:
        by_host.setdefault(host_of(url), deque()).append((source_id, url))
    return by_host


class _RoundPlan:
    """Which of a round's sources to claim and to start next.

    Sources are claimed (leased) a few at a time ahead of their checks, hosts taking
    turns, so a claim's transaction serves several checks; each host has at most twice
    its per_host slots claimed and waiting, so no lease waits long for its host's turn.
    """

    def __init__(
        self, pending: OrderedDict[str, deque[tuple[int, str]]], settings: DaemonSettings
    ) -> None:
        self.pending = pending  # not claimed yet
        self.waiting: OrderedDict[str, deque[tuple[int, str]]] = OrderedDict()  # claimed
        self.batch = 2 * settings.concurrency
        self.per_host_waiting = 2 * settings.per_host

    def held(self) -> int:
        return sum(map(len, self.waiting.values()))

    def done(self) -> bool:
        return not self.pending and not self.waiting

    def needs_claim(self, checks: CheckPool) -> bool:
        return bool(self.pending) and self.held() < checks.concurrency

    def claim(self, engine: Engine, worker: str, due_at: datetime) -> None:
        chosen = self._choose()
        if not chosen:
            return
        with transaction(engine) as session:
            ids = [source_id for source_id, _ in chosen]
            claimed = leases.claim(
                session, worker, due_at, utcnow(), ROUND_LEASE, len(ids), among=ids
            )
            taken = {source.id for source in claimed}
        # The others are gone (another worker holds them, or they are no longer due).
        for source_id, url in chosen:
            if source_id in taken:
                self.waiting.setdefault(host_of(url), deque()).append((source_id, url))

    def _choose(self) -> list[tuple[int, str]]:
        """The next sources to claim: hosts take turns, each up to its waiting limit."""
        chosen: list[tuple[int, str]] = []
        for host in list(self.pending):
            room = self.per_host_waiting - len(self.waiting.get(host, ()))
            queued = self.pending[host]
            while room > 0 and queued and len(chosen) < self.batch:
                chosen.append(queued.popleft())
                room -= 1
            if not queued:
                del self.pending[host]
            elif room <= 0:
                self.pending.move_to_end(host)  # its turn is taken: the others come first
            if len(chosen) >= self.batch:
                break
        return chosen

    def start(self, checks: CheckPool) -> int:
        """Start the claimed sources whose host has a free slot, while the pool has room."""
        started = 0
        for host in list(self.waiting):
            queued = self.waiting[host]
            while queued and checks.room() > 0 and checks.gate.reserve(queued[0][1]):
                checks.start(*queued.popleft())
                started += 1
            if not queued:
                del self.waiting[host]
            else:
                self.waiting.move_to_end(host)
        return started

    def give_up(self) -> list[int]:
        """The claimed sources not started, no longer waiting: their leases to release."""
        ids = [source_id for queued in self.waiting.values() for source_id, _ in queued]
        self.waiting.clear()
        return ids


def _release(engine: Engine, worker: str, source_ids: list[int] | None = None) -> None:
    with transaction(engine) as session:
        leases.release_all(session, worker, source_ids)


def _release_after_local_errors(engine: Engine, worker: str) -> None:
    """A check that failed on our own database kept its lease (see _local_failure); the
    round is over, so the next `redline check` may take those sources at once."""
    try:
        _release(engine, worker)
    except OperationalError as error:  # still failing: the leases expire on their own
        log.error("giving up the round's leases failed: %s", _first_line(error.orig or error))


def default_worker_name(role: str = "run") -> str:
    """host:pid:role, unique among live processes, readable in `redline status`."""
    import os
    import socket

    return f"{socket.gethostname()}:{os.getpid()}:{role}"
