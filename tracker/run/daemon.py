"""The scheduler daemon: claims due sources under leases and checks them, politely.

APScheduler (3.x) drives the jobs: every tick, claim due sources (as many as there
are free check slots and polite hosts); every third of a lease, renew the leases of
checks in flight; every second, send the notifications due (tracker/notify/sender.py,
on threads of its own, so a slow target never holds up a check); every five minutes,
look for sources gone quiet (tracker/notify/quiet.py); with [archive] enabled, every
few seconds, ask the Wayback Machine to save new versions of item pages
(tracker/run/archive_links.py, a job of its own: a slow archive never holds up a check);
daily, prune checks
past retention and refresh the planner's statistics. Checks run on a thread pool
(`concurrency`); each host gets at most `per_host` checks at once and `host_delay`
between two. When each source is next due
lives in the database (next_check_at), so a restart loses nothing, and any number of
daemons can share one PostgreSQL database.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from concurrent.futures import wait
from datetime import UTC, datetime, timedelta
from types import FrameType

from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy.engine import Engine

from storage import leases, maintenance, transaction, utcnow
from tracker.notify import quiet
from tracker.notify.sender import Sender
from tracker.notify.settings import NotifySettings
from tracker.run.archive_links import Archiver
from tracker.run.check import CheckOptions, CheckResult
from tracker.run.config import ArchiveSettings, DaemonSettings
from tracker.run.rounds import CheckPool, default_worker_name
from tracker.run.schedule import Policy

log = logging.getLogger("redline.daemon")
NOTIFY_EVERY = 1.0  # seconds between rounds of sending notifications
QUIET_EVERY = 300.0  # seconds between looks for sources gone quiet
ARCHIVE_EVERY = 5.0  # seconds between rounds of asking the Wayback Machine
ARCHIVE_ROUND = 60.0  # seconds one round of archiving may take at most
# How long a stopping worker waits for a source row a check still in flight has locked
# (PostgreSQL) before leaving that lease to expire.
RELEASE_LOCK_WAIT = timedelta(seconds=2)
# APScheduler logs every tick at INFO; only its warnings are worth a line.
logging.getLogger("apscheduler").setLevel(logging.WARNING)


def log_result(result: CheckResult, worker: str | None = None) -> None:
    """One structured line per check."""
    stats = result.stats
    fields = {
        "source": result.source_id,
        "url": result.url,
        "outcome": result.outcome,
        "status": result.http_status,
        "bytes": result.bytes,
        "duration_ms": round(result.seconds * 1000),
        "items": stats.items_seen,
        "new_versions": stats.versions_added,
        "changes": stats.changes_added,
    }
    if result.error:
        fields["error"] = result.error
    if result.retired:
        fields["retired"] = result.retired
    if worker:
        fields["worker"] = worker
    level = logging.WARNING if result.outcome in ("error", "skipped") else logging.INFO
    if result.outcome == "local_error":  # this service's own database failed
        level = logging.ERROR
    log.log(level, "check", extra={"fields": fields})


class Daemon:
    """start() returns at once; stop() stops claiming, lets checks in flight finish for
    a while, then gives up the leases of any still running."""

    def __init__(
        self,
        engine: Engine,
        every: timedelta,
        tick: timedelta,
        settings: DaemonSettings | None = None,
        worker: str | None = None,
        notify: NotifySettings | None = None,
        public_url: str | None = None,
        archive: ArchiveSettings | None = None,
    ) -> None:
        self.engine, self.every = engine, every
        self.settings = settings or DaemonSettings()
        self.notify = notify or NotifySettings()
        self.archive = archive or ArchiveSettings()
        self.worker = worker or default_worker_name("run")
        self.options = CheckOptions(
            policy=Policy.from_settings(self.settings, every),
            worker=self.worker,
            failing_after=self.settings.failing_after,
            archive=self.archive.enabled,
        )
        self.stopping = threading.Event()
        self.checks = CheckPool(engine, self.options, self.settings, self._finished)
        # The pool's parts, by their old names (tests and shutdown use them).
        self.client, self.pool = self.checks.client, self.checks.executor
        self._claiming = threading.Lock()  # one claim at a time
        self.sender = Sender(engine, self.notify, self.worker, public_url)
        self.archiver = Archiver(engine, self.archive) if self.archive.enabled else None
        self.scheduler = BackgroundScheduler(timezone=UTC)
        self._add_jobs(tick)

    def _add_jobs(self, tick: timedelta) -> None:
        now = datetime.now(UTC)
        common = {"max_instances": 1, "coalesce": True}
        self.scheduler.add_job(
            self.claim, "interval", seconds=tick.total_seconds(), next_run_time=now,
            id="claim", **common,
        )  # fmt: skip
        renew_every = max(self.settings.lease.total_seconds() / 3, 0.5)
        self.scheduler.add_job(
            self.renew, "interval", seconds=renew_every, id="renew-leases", **common
        )
        self.scheduler.add_job(
            self.deliver, "interval", seconds=NOTIFY_EVERY, id="deliver-notifications", **common
        )
        self.scheduler.add_job(
            self.watch_quiet, "interval", seconds=QUIET_EVERY, id="watch-quiet", **common
        )
        if self.archiver is not None:
            self.scheduler.add_job(
                self.archive_versions, "interval", seconds=ARCHIVE_EVERY, id="archive", **common
            )
        self.scheduler.add_job(
            self.prune, "cron", hour=3, minute=17, id="prune-checks",
            misfire_grace_time=3600, **common,
        )  # fmt: skip
        self.scheduler.add_job(
            self.upkeep, "cron", hour=4, minute=7, id="database-upkeep",
            misfire_grace_time=3600, **common,
        )  # fmt: skip

    def start(self) -> None:
        self.scheduler.start()

    def in_flight(self) -> list[int]:
        return self.checks.in_flight()

    def claim(self) -> int:
        """Claim due sources for the free check slots and start checking them; how many."""
        if self.stopping.is_set() or not self._claiming.acquire(blocking=False):
            return 0
        try:
            clock = utcnow()
            return len(self.checks.claim(clock, self.settings.lease))
        except Exception:  # the database may be briefly away: try again next tick
            log.exception("claiming due sources failed")
            return 0
        finally:
            self._claiming.release()

    def _finished(self, source_id: int, outcome: CheckResult | Exception) -> None:
        if isinstance(outcome, Exception):  # the lease expires; the source is due again
            log.error("check of source %s failed", source_id, exc_info=outcome)
        else:
            log_result(outcome, self.worker)
        self.claim()  # a slot is free: take the next due source without waiting a tick

    def deliver(self) -> None:
        if self.stopping.is_set():
            return
        try:
            self.sender.run_round(wait=False)
        except Exception:  # the database may be briefly away: try again next second
            log.exception("sending notifications failed")

    def archive_versions(self) -> None:
        """Ask the Wayback Machine about the archive requests due (tracker/run/archive_links.py)."""
        if self.stopping.is_set() or self.archiver is None:
            return
        try:
            self.archiver.run_round(time.monotonic() + ARCHIVE_ROUND)
        except Exception:  # the database may be briefly away: try again next round
            log.exception("asking the archive failed")

    def watch_quiet(self) -> None:
        """Report sources gone quiet, and back, to health subscribers (tracker/notify/quiet.py)."""
        if self.stopping.is_set():
            return
        try:
            for alert in quiet.watch(self.engine, utcnow(), self.every, self.notify.quiet_after):
                fields = {"source": alert.source_id, "reason": alert.reason}
                log.warning(f"source {alert.event}", extra={"fields": fields})
        except Exception:
            log.exception("watching for quiet sources failed")

    def renew(self) -> None:
        ids = self.in_flight()
        if not ids:
            return
        try:
            with transaction(self.engine) as session:
                leases.renew(session, self.worker, ids, utcnow() + self.settings.lease)
        except Exception:
            log.exception("renewing leases failed")

    def prune(self) -> int:
        before = utcnow() - self.settings.check_retention
        with transaction(self.engine) as session:
            pruned = maintenance.prune_checks(session, before)
        log.info("pruned checks", extra={"fields": {"pruned": pruned, "before": before}})
        return pruned

    def upkeep(self) -> None:
        maintenance.refresh_statistics(self.engine)
        log.info("database upkeep done")

    def stop(self, grace: timedelta | None = None) -> int:
        """Stop: claim no more, wait up to `grace` ([daemon] stop_grace) for checks in
        flight, give up the leases of any still running (nothing of theirs is recorded);
        the number of checks so abandoned."""
        grace = self.settings.stop_grace if grace is None else grace
        self.stopping.set()
        running = self.checks.running()
        _, unfinished = wait(running, timeout=grace.total_seconds())
        self.scheduler.shutdown(wait=False)
        self.checks.shutdown()
        self.sender.close()  # a round sending now finishes; the rest waits for the next start
        if self.archiver is not None:
            self.archiver.close()  # not waited for: a request under way ends on its own
        try:
            with transaction(self.engine) as session:
                released = leases.release_all(session, self.worker, lock_wait=RELEASE_LOCK_WAIT)
        except Exception:
            log.exception("giving up leases failed; they expire in %s", self.settings.lease)
            released = 0
        if not unfinished:
            self.client.close()
        log.info("stopped", extra={"fields": {"abandoned": len(unfinished), "released": released}})
        return len(unfinished)


def run_daemon(
    engine: Engine,
    every: timedelta,
    tick: timedelta,
    stop: threading.Event | None = None,
    settings: DaemonSettings | None = None,
    worker: str | None = None,
    notify: NotifySettings | None = None,
    public_url: str | None = None,
    archive: ArchiveSettings | None = None,
) -> int:
    """Check due sources until SIGTERM / Ctrl-C (or until `stop` is set); the number of
    checks abandoned at the end."""
    stop = stop or threading.Event()

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        log.info(
            "received %s: finishing checks in flight, claiming no more",
            signal.Signals(signum).name,
        )
        stop.set()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, request_stop)
        signal.signal(signal.SIGINT, request_stop)
    daemon = Daemon(engine, every, tick, settings, worker, notify, public_url, archive)
    daemon.start()
    try:
        stop.wait()
    finally:
        abandoned = daemon.stop()
    return abandoned


def exit_now(status: int = 0) -> None:
    """Leave at once: threads still fetching hold nothing (their leases were given up)
    and would only delay the exit until their timeouts."""
    logging.shutdown()
    os._exit(status)
