"""Several `redline run` processes share one database: each source checked exactly once.

Three real worker processes and 300 sources served from 127.0.0.1. One round: every
source is checked once, nothing is stored twice. Then again with one worker killed
(SIGKILL) mid-round: its leases expire and the others finish its sources.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from werkzeug import Request, Response

from storage import Check, Item, Source, Version, transaction

from .conftest import offstream_page, own_story, redline_command
from .test_daemon import wait_for
from .tools import local_server

SOURCES = 300
WORKERS = 3
PAGE = offstream_page("seeds/001_d715acd15c94cb49.txt")
CONFIG = """every = "1h"
[daemon]
concurrency = 4
per_host = 4
host_delay = "0"
lease = "5s"
stop_grace = "5s"
log_format = "json"
"""


@pytest.fixture
def news() -> Iterator[HTTPServer]:
    """A threaded local server: page N's headline names N, so every page is its own item."""

    def page(request: Request) -> Response:
        number = request.path.rsplit("/", 1)[-1].removesuffix(".md")
        body = own_story(PAGE, number)
        return Response(body, headers={"Content-Type": "text/markdown; charset=utf-8"})

    with local_server(page) as server:
        yield server


@dataclass
class Worker:
    process: subprocess.Popen[bytes]
    log: Path  # stderr goes to a file: a pipe nobody reads would fill and stall the worker

    def read_log(self) -> str:
        return self.log.read_text(encoding="utf-8")


def start_workers(db_url: str, config: Path) -> list[Worker]:
    workers = []
    for n in range(WORKERS):
        log = config.with_name(f"w{n}.log")
        command = [*redline_command(), "--db", db_url, "--config", str(config), "run"]
        with log.open("wb") as stderr:
            process = subprocess.Popen(
                [*command, "--tick", "0.2s", "--worker", f"w{n}"],
                stdout=subprocess.DEVNULL,
                stderr=stderr,
                env={**os.environ, "REDLINE_DB": "", "PYTHONFAULTHANDLER": "1"},
            )
        workers.append(Worker(process, log))
    return workers


def checked_sources(engine: Engine) -> int:
    with transaction(engine) as session:
        return session.exec(select(func.count(func.distinct(Check.source_id)))).one()


def stop(workers: list[Worker]) -> list[str]:
    """SIGTERM every live worker; the log of each. A worker still running 30 s later is
    made to write every thread's stack to its log (SIGABRT: faulthandler, enabled by
    PYTHONFAULTHANDLER) and the test fails showing it: where the stop hangs."""
    for worker in workers:
        if worker.process.poll() is None:
            worker.process.send_signal(signal.SIGTERM)
    hung = []
    for worker in workers:
        try:
            worker.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.process.send_signal(signal.SIGABRT)
            try:
                worker.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                worker.process.kill()
                worker.process.wait()
            hung.append(worker.read_log()[-6000:])
    assert not hung, "a worker did not stop within 30 s of SIGTERM:\n" + "\n\n".join(hung)
    return [worker.read_log() for worker in workers]


def check_lines(log: str) -> list[dict]:
    lines = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    return [line for line in lines if line.get("message") == "check"]


def assert_each_source_stored_once(engine: Engine) -> None:
    with transaction(engine) as session:
        checks = Counter(session.exec(select(Check.source_id)).all())
        assert len(checks) == SOURCES and set(checks.values()) == {1}, checks.most_common(3)
        items = Counter(session.exec(select(Item.source_id)).all())
        assert len(items) == SOURCES and set(items.values()) == {1}
        versions = Counter(session.exec(select(Version.item_id)).all())
        distinct = session.exec(
            select(func.count()).select_from(
                select(Version.item_id, Version.content_hash).distinct().subquery()
            )
        ).one()
        assert distinct == sum(versions.values())  # no version stored twice
        assert len(set(versions.values())) == 1  # every page alike: the same history
        held = session.exec(select(Source.leased_by).where(Source.leased_by.is_not(None))).all()  # type: ignore[union-attr]
        assert held == []


def leases_of(engine: Engine, worker: str) -> list[int]:
    """The sources the worker's committed leases are on (a read: it waits for no writer,
    not even a stopped one holding SQLite's write lock)."""
    with Session(engine) as session:
        return list(session.exec(select(Source.id).where(Source.leased_by == worker)).all())


def stop_holding_leases(engine: Engine, worker: Worker, name: str) -> list[int]:
    """Stop the worker (SIGSTOP) at a moment it holds leases, and those leases: stopped,
    it cannot give them up between our reading them and killing it."""
    for _ in range(100):
        wait_for(lambda: leases_of(engine, name))
        worker.process.send_signal(signal.SIGSTOP)
        held = leases_of(engine, name)
        if held:
            return held
        worker.process.send_signal(signal.SIGCONT)  # it gave them up in between: again
    raise AssertionError(f"{name} never held a lease while stopped")


def start_round(engine: Engine, db_url: str, news: HTTPServer, folder: Path) -> list[Worker]:
    """The 300 sources, all due, and three workers started on them."""
    with transaction(engine) as session:
        session.add_all(
            Source(url=news.url_for(f"/news/{n}.md"), kind="offstream") for n in range(SOURCES)
        )
    config = folder / "redline.toml"
    config.write_text(CONFIG)
    return start_workers(db_url, config)


@pytest.mark.slow  # over 2.5 s (--durations, 2026-12-07): left out by `make quick`
def test_three_workers_check_every_source_exactly_once(
    engine: Engine, db_url: str, news: HTTPServer, tmp_path: Path
) -> None:
    workers = start_round(engine, db_url, news, tmp_path)
    try:
        wait_for(lambda: checked_sources(engine) == SOURCES, timeout=120)
    finally:
        logs = stop(workers)
    assert [w.process.returncode for w in workers] == [0] * WORKERS, logs
    # A check that outlived its lease on a crowded machine is "skipped": not recorded,
    # another worker has the source. Every source is recorded exactly once.
    lines = [line for log in logs for line in check_lines(log) if line["outcome"] != "skipped"]
    assert sorted(line["source"] for line in lines) == list(range(1, SOURCES + 1))
    assert {line["outcome"] for line in lines} == {"changed"}
    assert len({line["worker"] for line in lines}) >= 2  # the work was shared
    assert_each_source_stored_once(engine)


@pytest.mark.slow  # over 2.5 s (--durations, 2026-12-07): left out by `make quick`
def test_a_killed_workers_sources_are_taken_over(
    engine: Engine, db_url: str, news: HTTPServer, tmp_path: Path
) -> None:
    workers = start_round(engine, db_url, news, tmp_path)
    try:
        # Mid-round, at a moment w0 holds leases (its checks in hand).
        wait_for(lambda: checked_sources(engine) >= SOURCES // 5)
        orphaned = stop_holding_leases(engine, workers[0], "w0")
        workers[0].process.send_signal(signal.SIGKILL)
        workers[0].process.wait(timeout=10)
        wait_for(lambda: checked_sources(engine) == SOURCES, timeout=120)
    finally:
        logs = stop(workers)
    assert workers[0].process.returncode == -signal.SIGKILL
    # The sources w0 held were checked by the others once its leases expired.
    lines = [line for log in logs[1:] for line in check_lines(log)]
    assert set(orphaned) <= {line["source"] for line in lines}
    assert [w.process.returncode for w in workers[1:]] == [0] * (WORKERS - 1), logs
    assert_each_source_stored_once(engine)
