"""Rounds of checks: sources checked on a thread pool, polite to each host, each under
a lease (the daemon claims due sources as slots free up; `redline check` runs one round
over the sources due when it starts). One check is tracker/run/check.py's."""

from __future__ import annotations

import logging
import queue
import threading
from collections import OrderedDict, deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy.engine import Engine, Row
from sqlalchemy.exc import OperationalError
from sqlmodel import Session

from storage import leases, source_queries, transaction, utcnow
from tracker.fetch.client import make_client
from tracker.fetch.politeness import HostGate, host_of
from tracker.record.not_modified import NotModifiedLog
from tracker.run.check import LOCAL_ERROR, CheckOptions, CheckResult, check_source, first_line
from tracker.run.config import DaemonSettings
from tracker.run.schedule import Policy

log = logging.getLogger(__name__)

# A round claims each source just before its check; the lease outlasts any fetch.
ROUND_LEASE = timedelta(minutes=5)
# check_round's default: one source at a time, no pause between (library callers, replays;
# `redline check` passes the [daemon] settings).
SEQUENTIAL = DaemonSettings(concurrency=1, per_host=1, host_delay=timedelta(0))


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

        def polite(source: Row[Any]) -> bool:
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
        except BaseException:
            for url in reserved:
                self.gate.release(url)
            raise
        unused = list(reserved)
        for source in claimed:
            unused.remove(source.url)
        for url in unused:
            self.gate.release(url)
        for source in claimed:
            self.start(source)
        return [source.id for source in claimed]

    def start(self, claimed: Row[Any]) -> None:
        """Check a source this worker holds (as its claim read it: storage/leases.py),
        its host's slot already reserved."""
        with self._lock:
            self._in_flight[claimed.id] = self.executor.submit(self._check, claimed)

    def _check(self, claimed: Row[Any]) -> None:
        source_id, url = claimed.id, claimed.url
        outcome: CheckResult | Exception
        try:
            outcome = check_source(
                self.engine, source_id, self.client, self.now, self.options, self.gate.spacing,
                claimed,
            )  # fmt: skip
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
    client = client or make_client(pool_size=settings.concurrency)
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
        _clean_up_failed_round(batch, engine, worker)
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
        rows = source_queries.due_source_urls(session, due_at, utcnow())
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
        self.waiting: OrderedDict[str, deque[Row[Any]]] = OrderedDict()  # claimed, as read
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
        # In the order chosen (hosts taking turns); the others are gone (another worker
        # holds them, or they are no longer due).
        taken = {source.id: source for source in claimed}
        for source_id, url in chosen:
            if source_id in taken:
                self.waiting.setdefault(host_of(url), deque()).append(taken[source_id])

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
            while queued and checks.room() > 0 and checks.gate.reserve(queued[0].url):
                checks.start(queued.popleft())
                started += 1
            if not queued:
                del self.waiting[host]
            else:
                self.waiting.move_to_end(host)
        return started

    def give_up(self) -> list[int]:
        """The claimed sources not started, no longer waiting: their leases to release."""
        ids = [source.id for queued in self.waiting.values() for source in queued]
        self.waiting.clear()
        return ids


def _clean_up_failed_round(batch: NotModifiedLog, engine: Engine, worker: str) -> None:
    """A round that fails (interrupted, or a check's exception) writes the 304s seen so
    far, while their leases are held, then gives up its leases (checks still running are
    then not recorded). Each step is tried whatever the other did, and a failure here is
    logged, not raised: the round's own failure is the one to report."""
    for step, what in (
        (batch.flush, "writing its 304s"),
        (lambda: _release(engine, worker), "releasing its leases"),
    ):
        try:
            step()
        except Exception as error:  # the database that failed the round may fail here too
            log.error("after the round failed, %s failed too: %s", what, first_line(error))


def _release(engine: Engine, worker: str, source_ids: list[int] | None = None) -> None:
    with transaction(engine) as session:
        leases.release_all(session, worker, source_ids)


def _release_after_local_errors(engine: Engine, worker: str) -> None:
    """A check that failed on our own database kept its lease (see _local_failure); the
    round is over, so the next `redline check` may take those sources at once."""
    try:
        _release(engine, worker)
    except OperationalError as error:  # still failing: the leases expire on their own
        log.error("giving up the round's leases failed: %s", first_line(error.orig or error))


def default_worker_name(role: str = "run") -> str:
    """host:pid:role, unique among live processes, readable in `redline status`."""
    import os
    import socket

    return f"{socket.gethostname()}:{os.getpid()}:{role}"
