"""The scheduler daemon: APScheduler runs a round over due sources every tick.

When each source is next due lives in the database (next_check_at), so a
restart loses nothing; the tick only decides how often to look for due work.
"""

from __future__ import annotations

import logging
import signal
import threading
from datetime import UTC, datetime, timedelta
from types import FrameType

from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy.engine import Engine

from tracker.check import CheckResult, check_round
from tracker.fetch import make_client

log = logging.getLogger("redline.daemon")
# APScheduler logs every tick at INFO; only its warnings are worth a line.
logging.getLogger("apscheduler").setLevel(logging.WARNING)


def log_result(result: CheckResult) -> None:
    stats = result.stats
    if result.outcome == "error":
        log.warning(
            "check source=%s url=%s outcome=error error=%r",
            result.source_id,
            result.url,
            result.error,
        )
    else:
        log.info(
            "check source=%s url=%s outcome=%s items=%d new_versions=%d",
            result.source_id,
            result.url,
            result.outcome,
            stats.items_seen,
            stats.versions_added,
        )


class Daemon:
    """The scheduler and its HTTP client; start() returns at once, stop() waits for the
    check in hand and claims no more."""

    def __init__(self, engine: Engine, every: timedelta, tick: timedelta) -> None:
        self.engine, self.every = engine, every
        self.stopping = threading.Event()
        self.client = make_client()
        self.scheduler = BackgroundScheduler(timezone=UTC)
        self.scheduler.add_job(
            self._round,
            "interval",
            seconds=tick.total_seconds(),
            next_run_time=datetime.now(UTC),
            max_instances=1,
            coalesce=True,
            id="check-round",
        )

    def _round(self) -> None:
        try:
            check_round(
                self.engine,
                default_interval=self.every,
                client=self.client,
                on_result=log_result,
                keep_going=lambda: not self.stopping.is_set(),
            )
        except Exception:  # the database may be briefly unavailable; try again next tick
            log.exception("check round failed")

    def start(self) -> None:
        self.scheduler.start()

    def stop(self) -> None:
        self.stopping.set()
        self.scheduler.shutdown(wait=True)
        self.client.close()
        log.info("stopped")


def run_daemon(
    engine: Engine, every: timedelta, tick: timedelta, stop: threading.Event | None = None
) -> None:
    """Check due sources every tick until SIGTERM / Ctrl-C (or until `stop` is set)."""
    stop = stop or threading.Event()

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        log.info(
            "received %s: finishing the check in hand, then stopping", signal.Signals(signum).name
        )
        stop.set()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, request_stop)
        signal.signal(signal.SIGINT, request_stop)
    daemon = Daemon(engine, every, tick)
    daemon.start()
    try:
        stop.wait()
    finally:
        daemon.stop()
