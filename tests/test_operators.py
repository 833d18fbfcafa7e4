"""What an operator meets when things go wrong around the checks (issue 15, "Operators"):
a worker paused past its lease, a local database failure, leases left by a killed check,
a corrupted database file."""

from __future__ import annotations

import logging
import os
import random
import sqlite3
import subprocess
from collections.abc import Iterator
from contextlib import closing, contextmanager
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import event, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError

from feeds.app import create_app
from feeds.settings import ServiceSettings
from storage import Check, Source, make_engine, transaction, upgrade, utcnow
from storage.types import iso_z
from tracker.fetch.client import make_client
from tracker.run import check as check_module
from tracker.run.check import CheckOptions, check_source
from tracker.run.progress_text import summary_line
from tracker.run.rounds import check_round
from tracker.run.sources import add_source

from .conftest import TWO_ITEM_RSS, Site, redline_command
from .test_tracking import add


def _lease(engine: Engine, source_id: int, worker: str, until_from_now: timedelta) -> None:
    with transaction(engine) as session:
        source = session.get(Source, source_id)
        assert source is not None
        source.leased_by, source.lease_until = worker, utcnow() + until_from_now
        session.add(source)


def test_a_worker_past_its_lease_does_not_fetch(site: Site, engine: Engine) -> None:
    """As a worker stopped (SIGSTOP) while it waited for the host, then resumed: by then
    its lease expired and another worker took the source."""
    url = site.publish("/feed.xml", TWO_ITEM_RSS, "application/rss+xml")
    source_id = add(engine, url)
    _lease(engine, source_id, "paused", timedelta(minutes=2))

    @contextmanager
    def paused_past_the_lease(_url: str) -> Iterator[None]:
        _lease(engine, source_id, "other", timedelta(minutes=2))
        yield

    with make_client() as client:
        result = check_source(
            engine, source_id, client, options=CheckOptions(worker="paused"),
            slot=paused_past_the_lease,
        )  # fmt: skip
    assert result.outcome == "skipped"
    assert "worker other" in (result.error or "")
    assert site.requests == []  # nothing fetched
    with transaction(engine) as session:
        source = session.get(Source, source_id)
        assert source is not None and source.leased_by == "other"


def test_a_worker_whose_lease_expired_unclaimed_does_not_fetch(site: Site, engine: Engine):
    url = site.publish("/feed.xml", TWO_ITEM_RSS, "application/rss+xml")
    source_id = add(engine, url)
    _lease(engine, source_id, "paused", -timedelta(seconds=1))
    with make_client() as client:
        result = check_source(engine, source_id, client, options=CheckOptions(worker="paused"))
    assert result.outcome == "skipped" and "expired" in (result.error or "")
    assert site.requests == []


def test_a_worker_holding_its_lease_fetches(site: Site, engine: Engine) -> None:
    url = site.publish("/feed.xml", TWO_ITEM_RSS, "application/rss+xml")
    source_id = add(engine, url)
    _lease(engine, source_id, "mine", timedelta(minutes=2))
    with make_client() as client:
        result = check_source(engine, source_id, client, options=CheckOptions(worker="mine"))
    assert result.outcome == "changed"
    assert site.requests == ["/feed.xml"]


@contextmanager
def disk_full(engine: Engine) -> Iterator[None]:
    """Storing items fails as SQLite does when the disk is full, while the small row of an
    error check still fits (as it happened: the failure was then held against the source)."""

    def refuse(_conn, _cursor, statement: str, *_args: object) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO ITEM"):
            cause = sqlite3.OperationalError("database or disk is full")
            raise OperationalError(statement, None, cause)

    event.listen(engine, "before_cursor_execute", refuse)
    try:
        yield
    finally:
        event.remove(engine, "before_cursor_execute", refuse)


def test_a_full_disk_is_not_held_against_the_source(site: Site, engine: Engine, caplog) -> None:
    url = site.publish("/feed.xml", TWO_ITEM_RSS, "application/rss+xml")
    source_id = add(engine, url)
    with transaction(engine) as session:
        before = session.get(Source, source_id)
    assert before is not None
    with disk_full(engine), caplog.at_level(logging.ERROR):
        results = check_round(engine, all_sources=True)
    [result] = results
    assert result.outcome == "local_error"
    assert "database or disk is full" in (result.error or "")
    assert "not the source" in (result.error or "")
    assert "database or disk is full" in caplog.text  # logged for the operator
    assert "1 not recorded: this service's database failed" in summary_line(results)
    with transaction(engine) as session:
        after = session.get(Source, source_id)
        checks = session.exec(select(Check).where(Check.source_id == source_id)).all()
    assert after is not None and checks == []
    assert (after.consecutive_failures, after.last_error) == (0, None)
    assert after.next_check_at == before.next_check_at  # no backoff
    # Once the disk has room again, the source is checked as usual.
    assert check_round(engine, all_sources=True, worker="later")[0].outcome == "changed"


def test_check_says_which_sources_a_killed_check_still_holds(
    site: Site, engine: Engine, cli
) -> None:
    """A `redline check` killed mid-round leaves its leases for ROUND_LEASE (5 minutes)."""
    held = [add(engine, site.url(f"/held-{n}.xml")) for n in range(2)]
    add(engine, site.publish("/free.xml", TWO_ITEM_RSS, "application/rss+xml"))
    for minutes, source_id in enumerate(held, start=4):
        _lease(engine, source_id, "host:4242:check", timedelta(minutes=minutes))
    with transaction(engine) as session:
        until = session.get(Source, held[-1]).lease_until  # type: ignore[union-attr]
    assert until is not None
    result = cli("check", "--all")
    assert (
        "2 sources not checked: leased by other workers (2 by host:4242:check until "
        f"{iso_z(until.replace(microsecond=0))})"
    ) in result.stdout
    assert site.requests == ["/free.xml"]


def test_check_says_so_when_every_due_source_is_held_elsewhere(
    site: Site, engine: Engine, cli
) -> None:
    """Nothing a round may check, yet not "nothing due" alone: the held sources are named
    (storage/due.py counts a due source whoever holds it)."""
    held = add(engine, site.url("/held.xml"))
    _lease(engine, held, "host:4242:check", timedelta(minutes=4))
    result = cli("check")
    assert result.stdout.startswith("no source is due")
    assert "1 source not checked: leased by other workers (1 by host:4242:check" in result.stdout
    assert site.requests == []


def test_a_damaged_sqlite_file_is_not_written_to(site: Site, tmp_path: Path) -> None:
    path = tmp_path / "redline.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    with transaction(engine) as session:  # enough rows for the file to have many pages
        for number in range(150):
            add_source(session, site.url(f"/{'long-path-' * 40}{number}"))
    engine.dispose()  # the last connection checkpoints the WAL into the file
    # Ten pages of the index on source URLs: damage a check never reads, which is why
    # `check --all` went on writing (exit 0) while reading commands said "malformed".
    with closing(sqlite3.connect(path)) as reader:
        page_size = reader.execute("PRAGMA page_size").fetchone()[0]
        pages = [
            number
            for (number,) in reader.execute(
                "SELECT pageno FROM dbstat WHERE name = 'sqlite_autoindex_source_1' "
                "AND pagetype = 'leaf' ORDER BY pageno LIMIT 10"
            )
        ]
    assert len(pages) == 10
    with path.open("r+b") as damaged:
        for page in pages:
            damaged.seek((page - 1) * page_size)
            damaged.write(random.Random(page).randbytes(page_size))
    before = path.read_bytes()
    env = {**os.environ, "REDLINE_DB": f"sqlite:///{path}"}
    for command in (
        ["check"],
        ["check", "--all"],
        ["add", site.url("/new.xml")],
        ["db", "upgrade"],
    ):
        done = subprocess.run(
            [*redline_command(), *command], capture_output=True, text=True, env=env, timeout=120
        )
        assert done.returncode == 2, (command, done.stderr)
        [line] = done.stderr.splitlines()
        assert line.startswith(f"redline: {path} is damaged (PRAGMA quick_check"), line
        assert "refusing to write to it" in line
    assert path.read_bytes() == before  # not one byte written
    assert not path.with_name("redline.db-wal").exists()
    assert site.requests == []


def test_sources_page_metrics_and_cli_agree_on_health(engine: Engine, cli) -> None:
    def source(path: str, failures: int, **state: object) -> int:
        source_id = add(engine, f"https://news.example/{path}")
        with transaction(engine) as session:
            row = session.get(Source, source_id)
            assert row is not None
            row.consecutive_failures, row.last_checked_at = failures, utcnow()
            row.next_check_at = utcnow() + timedelta(hours=1)
            row.last_error = "HTTP 404" if failures else None
            for key, value in state.items():
                setattr(row, key, value)
            session.add(row)
        return source_id

    expected = {
        source("gone.md", 3, retired_at=utcnow(), retired_reason="gone: 410", next_check_at=None): (
            "retired"
        ),
        source("once.md", 1): "erring",
        source("broken.md", 3): "failing",
        source("off.md", 5, enabled=False): "disabled",
        source("fine.md", 0): "ok",
    }
    listed = {row["id"]: row["health"] for row in cli("sources", "--json").json()}
    assert listed == expected
    status = cli("status", "--json").json()
    assert [failing["id"] for failing in status["failing"]] == [
        source_id for source_id, state in expected.items() if state == "failing"
    ]
    with TestClient(create_app(engine, ServiceSettings(failing_after=3))) as client:
        metrics = {
            sample.name: sample.value
            for family in text_string_to_metric_families(client.get("/metrics").text)
            for sample in family.samples
        }
        page = client.get("/sources").text
    assert metrics["redline_sources_failing"] == 1
    rows = {
        source_id: page.split(f'<tr id="source-{source_id}">')[1].split("</tr>")[0]
        for source_id in expected
    }
    retired = next(i for i, state in expected.items() if state == "retired")
    assert ">retired<" in rows[retired] and "failing" not in rows[retired]
    assert "due now" not in rows[retired]
    assert "gone: 410" in page.split(f'id="source-{retired}-error"')[1].split("</tr>")[0]
    erring = next(i for i, state in expected.items() if state == "erring")
    assert "ok, last check failed" in rows[erring] and "status-failing" not in rows[erring]
    failing = next(i for i, state in expected.items() if state == "failing")
    assert "status-failing" in rows[failing]
    assert sum("status-failing" in row for row in rows.values()) == 1


def test_a_304_is_not_recorded_once_the_lease_is_lost(
    site: Site, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The lease passes to another worker while the page is fetched (a 304): the check is
    not recorded, and the source stays the other worker's."""
    url = site.publish("/feed.xml", TWO_ITEM_RSS, "application/rss+xml")
    source_id = add(engine, url)
    with make_client() as client:
        assert check_source(engine, source_id, client).outcome == "changed"
    _lease(engine, source_id, "slow", timedelta(minutes=2))
    real_fetch = check_module.fetch
    not_modified: list[bool] = []

    def fetch_then_lose_the_lease(*args: object, **kwargs: object) -> object:
        snapshot = real_fetch(*args, **kwargs)  # type: ignore[arg-type]
        not_modified.append(snapshot.not_modified)
        _lease(engine, source_id, "other", timedelta(minutes=2))
        return snapshot

    monkeypatch.setattr(check_module, "fetch", fetch_then_lose_the_lease)
    with transaction(engine) as session:
        checks_before = len(session.exec(select(Check)).all())
    with make_client() as client:
        result = check_source(engine, source_id, client, options=CheckOptions(worker="slow"))
    assert result.outcome == "skipped" and "worker other" in (result.error or "")
    assert not_modified == [True]  # the page answered 304
    with transaction(engine) as session:
        assert len(session.exec(select(Check)).all()) == checks_before
        source = session.get(Source, source_id)
        assert source is not None and source.leased_by == "other"
