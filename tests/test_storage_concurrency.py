"""One writer and many readers on one database: nobody errors, nothing is lost.

`redline serve` reads while `redline run` writes; on SQLite that rests on WAL (readers
never wait for the writer), a busy timeout (a second writer waits its turn) and write
transactions that take the write lock when they begin (BEGIN IMMEDIATE).
"""

from __future__ import annotations

import signal
import subprocess
import threading
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from storage import PoolSettings, Source, make_engine, transaction, upgrade
from storage.db import SQLITE_BUSY_TIMEOUT_MS
from tracker.errors import UserError
from tracker.run.config import load_config
from tracker.run.rounds import check_round
from tracker.run.sources import add_source

from .conftest import Site, offstream_page, redline_command
from .test_daemon import free_port, wait_for

PAGE = "/news/2016/02/25/khanasir.md"
START = datetime(2026, 3, 1, tzinfo=UTC)


@pytest.fixture
def sqlite_engine(tmp_path: Path):
    engine = make_engine(f"sqlite:///{tmp_path / 'redline.db'}")
    upgrade(engine)
    yield engine
    engine.dispose()


def test_sqlite_runs_in_wal_mode_with_a_busy_timeout(sqlite_engine: Engine) -> None:
    with sqlite_engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == (
            SQLITE_BUSY_TIMEOUT_MS
        )
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_sqlite_writers_that_read_first_wait_their_turn(sqlite_engine: Engine) -> None:
    # Each transaction reads a counter and writes it back plus one. With deferred
    # transactions two writers read the same value and the second to write fails at
    # once ("database is locked"); write transactions that lock when they begin queue
    # instead, so every increment lands.
    with transaction(sqlite_engine) as session:
        source, _ = add_source(session, "https://example.org/counter.md")
        source_id = source.id
    errors: list[BaseException] = []
    threads_count, increments = 6, 25

    def bump() -> None:
        try:
            for _ in range(increments):
                with transaction(sqlite_engine) as session:
                    counter = session.get(Source, source_id)
                    assert counter is not None
                    counter.consecutive_failures += 1
                    session.add(counter)
        except BaseException as error:  # reported below, not lost in the thread
            errors.append(error)

    threads = [threading.Thread(target=bump) for _ in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with transaction(sqlite_engine) as session:
        counter = session.get(Source, source_id)
        assert counter is not None and counter.consecutive_failures == threads_count * increments


@pytest.mark.slow  # over 2.5 s (--durations, 2026-12-07): left out by `make quick`
def test_serve_reads_while_the_tracker_writes(site: Site, engine: Engine, db_url: str) -> None:
    """A real `redline serve` answers every request while check rounds write edits."""
    first = offstream_page("seeds/001_d715acd15c94cb49.txt")
    url = site.publish(PAGE, first)
    with transaction(engine) as session:
        add_source(session, url, kind="offstream")
    port = free_port()
    server = subprocess.Popen(
        [*redline_command(), "--db", db_url, "serve", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    statuses: Counter[int] = Counter()
    failures: list[str] = []
    writing = threading.Event()
    writing.set()

    def read() -> None:
        with httpx.Client(base_url=base, timeout=30) as client:
            while writing.is_set():
                for path in ("/feeds/edits.atom", "/api/items", "/api/changes?after=0", "/"):
                    try:
                        statuses[client.get(path).status_code] += 1
                    except httpx.HTTPError as error:
                        failures.append(f"{path}: {error!r}")

    def healthy() -> bool:
        try:
            return httpx.get(f"{base}/healthz", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    readers = [threading.Thread(target=read) for _ in range(3)]
    rounds = 25
    try:
        wait_for(healthy)
        for reader in readers:
            reader.start()
        for step in range(rounds):
            # Each round edits the headline, so each check writes versions and changes.
            site.publish(PAGE, first.replace("Khanasir", f"Khanasir ({step})", 1))
            [result] = check_round(engine, now=START + timedelta(hours=step), all_sources=True)
            assert result.outcome == "changed", result.error
    finally:
        writing.clear()
        for reader in readers:
            reader.join()
        server.send_signal(signal.SIGTERM)
        _, stderr = server.communicate(timeout=20)
    assert failures == [], failures
    assert set(statuses) == {200}, (statuses, stderr)
    assert sum(statuses.values()) >= 4 * len(readers)
    assert "Traceback" not in stderr and "database is locked" not in stderr
    # And what was written is all there, read back through the API.
    with transaction(engine) as session:
        edits = session.exec(text("SELECT count(*) FROM change WHERE kind = 'edited'")).one()  # type: ignore[call-overload]
    assert edits[0] >= rounds


def test_pool_size_comes_from_configuration(tmp_path: Path, monkeypatch) -> None:
    config_file = tmp_path / "redline.toml"
    config_file.write_text("[database]\npool_size = 3\nmax_overflow = 7\n")
    config = load_config(config_file)
    pool = PoolSettings.from_env(config.pool_size, config.max_overflow)
    assert pool == PoolSettings(size=3, max_overflow=7)
    engine = make_engine(f"sqlite:///{tmp_path / 'pool.db'}", pool)
    assert (engine.pool.size(), engine.pool._max_overflow) == (3, 7)  # type: ignore[attr-defined]
    engine.dispose()

    monkeypatch.setenv("REDLINE_DB_POOL_SIZE", "9")
    assert PoolSettings.from_env() == PoolSettings(size=9, max_overflow=10)
    assert PoolSettings.from_env(size=2) == PoolSettings(size=2, max_overflow=10)

    config_file.write_text("[database]\npool_size = 0\n")
    with pytest.raises(UserError, match=r"\[database\] pool_size must be a whole number >= 1"):
        load_config(config_file)


def test_sqlite_runs_wal_with_normal_sync(engine: Engine) -> None:
    """WAL with synchronous=NORMAL (1): commits do not wait for the disk; see storage/db.py."""
    if engine.dialect.name != "sqlite":
        pytest.skip("a SQLite setting")
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA synchronous").scalar() == 1
