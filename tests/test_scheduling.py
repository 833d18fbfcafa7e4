"""The daemon's scheduling against real pages: errors, retirement, aging, leases, upkeep."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from sqlalchemy import event, update
from sqlalchemy.engine import Engine
from sqlmodel import select
from werkzeug import Request, Response

from storage import (
    Check,
    Item,
    Source,
    Version,
    leases,
    maintenance,
    queries,
    source_queries,
    transaction,
    utcnow,
)
from tests.tools import LocalServer
from tracker.fetch.client import make_client
from tracker.run.check import CheckOptions, CheckResult, check_source
from tracker.run.config import DaemonSettings
from tracker.run.daemon import RELEASE_LOCK_WAIT, Daemon
from tracker.run.lease_checks import TRUSTED_LEASE_LEFT, LeaseLost, ensure_lease
from tracker.run.schedule import Policy
from tracker.run.sources import add_source

from .conftest import Site, offstream_page, redline_command
from .test_daemon import wait_for

START = datetime(2026, 3, 1, tzinfo=UTC)
ITEM_PAGE = "/news/2016/02/25/khanasir.md"
ITEM_TEXT = offstream_page("seeds/001_d715acd15c94cb49.txt")
INDEX_PAGE = "/news/2018/02/2/index.md"
STILL = CheckOptions(policy=Policy(jitter=0.0))


def add(engine: Engine, url: str, **options: object) -> int:
    with transaction(engine) as session:
        source, _ = add_source(session, url, **options)  # type: ignore[arg-type]
        assert source.id is not None
        return source.id


def check(
    engine: Engine, source_id: int, now: datetime, options: CheckOptions = STILL
) -> CheckResult:
    with make_client() as client:
        return check_source(engine, source_id, client, now, options)


def source(engine: Engine, source_id: int) -> Source:
    with transaction(engine) as session:
        found = session.get(Source, source_id)
        assert found is not None
        return found


def count(engine: Engine, model: type) -> int:
    with transaction(engine) as session:
        return queries.count_rows(session, model)


def test_retry_after_on_503_and_429_is_honoured(site: Site, engine: Engine) -> None:
    busy = add(engine, site.fail("/busy.md", 503, {"Retry-After": "7200"}))
    result = check(engine, busy, START)
    assert (result.outcome, result.http_status) == ("error", 503)
    assert source(engine, busy).next_check_at == START + timedelta(hours=2)  # not 30 min

    soon = (utcnow() + timedelta(hours=3)).strftime("%a, %d %b %Y %H:%M:%S GMT")
    limited = add(engine, site.fail("/limited.md", 429, {"Retry-After": soon}))
    check(engine, limited, START)
    wait = source(engine, limited).next_check_at - START  # type: ignore[operator]
    assert timedelta(hours=2, minutes=58) <= wait <= timedelta(hours=3)


def test_410_retires_an_item_page_and_keeps_its_history(site: Site, engine: Engine) -> None:
    page = add(engine, site.publish(ITEM_PAGE, ITEM_TEXT))
    assert check(engine, page, START).outcome == "changed"
    assert source(engine, page).listing is False
    versions = count(engine, Version)

    site.fail(ITEM_PAGE, 410)
    result = check(engine, page, START + timedelta(hours=1))
    assert result.retired == "gone: the server answered 410 Gone"
    retired = source(engine, page)
    assert retired.retired_at == START + timedelta(hours=1)
    assert retired.next_check_at is None
    assert count(engine, Version) == versions
    with transaction(engine) as session:
        assert source_queries.due_sources(session, START + timedelta(days=365)) == []


def test_404_retires_an_item_page_only_when_repeated(site: Site, engine: Engine) -> None:
    page = add(engine, site.publish(ITEM_PAGE, ITEM_TEXT))
    check(engine, page, START)
    site.fail(ITEM_PAGE, 404)
    outcomes = [check(engine, page, START + timedelta(hours=h)).retired for h in (1, 2, 3)]
    assert outcomes == [None, None, "not found: 404 on 3 checks in a row"]


def test_a_500_between_404s_starts_the_count_again(site: Site, engine: Engine) -> None:
    page = add(engine, site.publish(ITEM_PAGE, ITEM_TEXT))
    check(engine, page, START)
    statuses = [404, 500, 404, 404]
    retired = []
    for hour, status in enumerate(statuses, start=1):
        site.fail(ITEM_PAGE, status)
        retired.append(check(engine, page, START + timedelta(hours=hour)).retired)
    assert retired == [None, None, None, None]
    site.fail(ITEM_PAGE, 404)
    assert check(engine, page, START + timedelta(hours=9)).retired is not None


def test_a_listing_is_never_retired_for_missing(site: Site, engine: Engine) -> None:
    first = offstream_page(
        "pages/" + next(p for p in _manifest_files() if "2018/02/2/index" in p).split("pages/")[1]
    )
    index = add(engine, site.publish(INDEX_PAGE, first))
    check(engine, index, START)
    assert source(engine, index).listing is True
    site.fail(INDEX_PAGE, 410)
    results = [check(engine, index, START + timedelta(hours=h)) for h in range(1, 5)]
    assert [r.retired for r in results] == [None] * 4
    assert source(engine, index).consecutive_failures == 4
    assert source(engine, index).next_check_at is not None


def test_item_pages_are_checked_less_as_they_age_then_retired(site: Site, engine: Engine) -> None:
    page = add(engine, site.publish(ITEM_PAGE, ITEM_TEXT))
    gaps, outcomes = [], []
    for age in (timedelta(0), timedelta(hours=5), timedelta(days=3)):
        outcomes.append(check(engine, page, START + age).outcome)
        gaps.append(source(engine, page).next_check_at - (START + age))  # type: ignore[operator]
    assert gaps == [timedelta(minutes=15), timedelta(hours=1), timedelta(days=1)]
    # The later checks are 304s, planned from the page's age as read with the source.
    assert outcomes == ["changed", "not_modified", "not_modified"]
    result = check(engine, page, START + timedelta(days=30))
    assert (result.outcome, result.retired) == (
        "not_modified",
        "aged out: no longer checked 30 days after first seen",
    )
    # An explicit interval is the user's choice: no aging.
    chosen = add(engine, site.url("/other.md"), every=timedelta(hours=2))
    site.publish("/other.md", ITEM_TEXT.replace("Khanasir", "Khanaser"))
    check(engine, chosen, START + timedelta(days=60))
    assert source(engine, chosen).next_check_at == START + timedelta(days=60, hours=2)


def test_a_cron_source_is_due_at_its_times(site: Site, engine: Engine) -> None:
    page = add(engine, site.publish(ITEM_PAGE, ITEM_TEXT), cron="15 */6 * * *")
    check(engine, page, START + timedelta(hours=1))
    assert source(engine, page).next_check_at == START + timedelta(hours=6, minutes=15)


def test_a_check_whose_lease_was_lost_records_nothing(site: Site, engine: Engine) -> None:
    page = add(engine, site.publish(ITEM_PAGE, ITEM_TEXT))
    with transaction(engine) as session:
        leases.claim(session, "worker-b", START, utcnow(), timedelta(minutes=1), 10)
    result = check(engine, page, START, CheckOptions(worker="worker-a"))
    assert result.outcome == "skipped"
    assert "held by worker worker-b" in (result.error or "")
    assert (count(engine, Check), count(engine, Version)) == (0, 0)
    assert source(engine, page).leased_by == "worker-b"

    # worker-b's own check records and gives the lease up.
    assert check(engine, page, START, CheckOptions(worker="worker-b")).outcome == "changed"
    after = source(engine, page)
    assert (after.leased_by, after.lease_until) == (None, None)


def test_expired_leases_are_taken_over_live_ones_are_not(engine: Engine) -> None:
    ids = [add(engine, f"https://example.org/{n}.md") for n in range(4)]
    now = utcnow()
    with transaction(engine) as session:
        for source_id, (holder, until) in zip(
            ids,
            [("dead", now - timedelta(seconds=1)), ("alive", now + timedelta(minutes=1))],
            strict=False,
        ):
            row = session.get(Source, source_id)
            assert row is not None
            row.leased_by, row.lease_until = holder, until
            session.add(row)
    with transaction(engine) as session:
        taken = leases.claim(session, "me", now, utcnow(), timedelta(minutes=1), 10)
        assert sorted(s.id for s in taken) == [ids[0], ids[2], ids[3]]  # not the live lease


def test_a_claim_returns_what_a_check_reads_of_each_source(site: Site, engine: Engine) -> None:
    """A claim hands its checks the columns they would read (their etag, schedule, an aging
    item page's first sighting) and the lease it wrote, so they do not read them again."""
    aging = add(engine, site.publish(ITEM_PAGE, ITEM_TEXT))
    check(engine, aging, START)  # an item page seen: its first sighting is known
    hourly = add(engine, "https://example.org/feed.xml", every=timedelta(hours=1))
    with transaction(engine) as session:
        session.exec(update(Source).values(next_check_at=None, etag='"e"'))  # type: ignore[call-overload]
    clock = utcnow()
    with transaction(engine) as session:
        taken = leases.claim(session, "me", START, clock, timedelta(minutes=5), 10)
    with transaction(engine) as session:
        read = select(*source_queries.check_columns()).order_by(Source.id)  # type: ignore[arg-type]
        expected = [tuple(row) for row in session.connection().execute(read)]
    assert [tuple(row)[:-1] for row in taken] == expected
    assert [row.id for row in taken] == [aging, hourly]
    assert taken[0].first_seen is not None and taken[1].first_seen is None
    assert {row.lease_until for row in taken} == {clock + timedelta(minutes=5)}
    assert {source(engine, n).leased_by for n in (aging, hourly)} == {"me"}


def test_a_lease_just_claimed_is_trusted_one_near_its_end_is_read(engine: Engine) -> None:
    """ensure_lease reads nothing for a lease this worker wrote with more than
    TRUSTED_LEASE_LEFT to go (no other worker claims a live lease); nearer its end, or
    past it, the database says whose it is."""
    source_id = add(engine, "https://example.org/a.md")
    with transaction(engine) as session:
        session.exec(
            update(Source).values(leased_by="other", lease_until=utcnow() + timedelta(hours=1))
        )  # type: ignore[call-overload]
    sent: list[str] = []

    def remember(_conn, _cursor, statement: str, *_args) -> None:  # type: ignore[no-untyped-def]
        sent.append(statement)

    event.listen(engine, "before_cursor_execute", remember)
    try:
        ensure_lease(engine, source_id, "me", utcnow() + TRUSTED_LEASE_LEFT + timedelta(minutes=1))
        assert sent == []
        for written_until in (utcnow() + TRUSTED_LEASE_LEFT / 2, utcnow() - timedelta(seconds=1)):
            with pytest.raises(LeaseLost, match="held by worker other"):
                ensure_lease(engine, source_id, "me", written_until)
        with pytest.raises(LeaseLost, match="held by worker other"):
            ensure_lease(engine, source_id, "me")  # not known: read
    finally:
        event.remove(engine, "before_cursor_execute", remember)
    assert len(sent) == 3


def test_concurrent_claims_take_different_sources(engine: Engine, db_url: str) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite serialises writers: the second claim waits for the first")
    ids = [add(engine, f"https://example.org/{n}.md") for n in range(20)]
    lease = timedelta(minutes=1)
    with transaction(engine) as first:
        mine = leases.claim(first, "a", utcnow(), utcnow(), lease, 2)
        # While the first claim is uncommitted, a second worker skips the rows it holds
        # (its two and the candidates it looked at) instead of waiting for it.
        with transaction(engine) as second:
            theirs = leases.claim(second, "b", utcnow(), utcnow(), lease, 5)
    assert [s.id for s in mine] == ids[:2]
    assert [s.id for s in theirs] == ids[8:13]
    with transaction(engine) as session:
        holders = {s.id: s.leased_by for s in source_queries.all_sources(session) if s.leased_by}
    assert holders == {**dict.fromkeys(ids[:2], "a"), **dict.fromkeys(ids[8:13], "b")}


def test_pruning_keeps_checks_that_found_something(site: Site, engine: Engine) -> None:
    page = add(engine, site.publish(ITEM_PAGE, ITEM_TEXT))
    check(engine, page, START)  # changed: its versions point at it
    old, recent = utcnow() - timedelta(days=40), utcnow()
    with transaction(engine) as session:
        for outcome, finished in [
            ("unchanged", old),
            ("not_modified", old),
            ("error", old),
            ("unchanged", recent),
        ]:
            session.add(
                Check(source_id=page, started_at=finished, finished_at=finished, outcome=outcome)
            )
        session.exec(  # type: ignore[call-overload]
            Check.__table__.update()
            .values(finished_at=old)  # type: ignore[attr-defined]
            .where(Check.__table__.c.outcome == "changed")  # type: ignore[attr-defined]
        )
    with transaction(engine) as session:
        pruned = maintenance.prune_checks(session, utcnow() - timedelta(days=30))
    assert pruned == 2
    with transaction(engine) as session:
        left = Counter(session.exec(select(Check.outcome)).all())
    assert left == Counter({"changed": 1, "error": 1, "unchanged": 1})


def test_database_upkeep(engine: Engine, db_url: str) -> None:
    add(engine, "https://example.org/a.md")
    maintenance.refresh_statistics(engine)
    with engine.connect() as connection:
        if engine.dialect.name == "sqlite":
            wal = Path(db_url.removeprefix("sqlite:///") + "-wal")
            assert not wal.exists() or wal.stat().st_size == 0  # folded back
        else:
            analyzed = connection.exec_driver_sql(
                "SELECT last_analyze FROM pg_stat_user_tables WHERE relname = 'source'"
            ).scalar()
            assert analyzed is not None


def test_the_daemon_schedules_claims_renewals_and_upkeep(engine: Engine) -> None:
    daemon = Daemon(engine, timedelta(minutes=15), timedelta(seconds=30))
    triggers = {job.id: type(job.trigger).__name__ for job in daemon.scheduler.get_jobs()}
    assert triggers == {
        "claim": "IntervalTrigger",
        "renew-leases": "IntervalTrigger",
        "deliver-notifications": "IntervalTrigger",
        "watch-quiet": "IntervalTrigger",
        "prune-checks": "CronTrigger",
        "database-upkeep": "CronTrigger",
    }
    daemon.pool.shutdown()
    daemon.client.close()
    daemon.sender.close()


def test_a_stop_is_not_held_up_by_a_source_row_locked_elsewhere(engine: Engine) -> None:
    """On PostgreSQL a stopping worker gives its leases up in an UPDATE that would wait
    for the row lock of a check still recording: it waits RELEASE_LOCK_WAIT at most, and
    that lease is left to expire."""
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite's writer waits its busy timeout, already bounded")
    source_id = add(engine, "https://example.org/a.md")
    with transaction(engine) as session:  # held by the worker and not due: none claimed
        session.exec(
            update(Source).values(
                leased_by="stopping",
                lease_until=utcnow() + timedelta(minutes=2),
                next_check_at=utcnow() + timedelta(hours=1),
            )
        )  # type: ignore[call-overload]
    daemon = Daemon(engine, timedelta(hours=1), timedelta(hours=1), worker="stopping")
    daemon.start()
    abandoned: list[int] = []
    stopping = threading.Thread(target=lambda: abandoned.append(daemon.stop(timedelta(0))))
    with engine.connect() as holder, holder.begin():  # a check recording it, not finished
        holder.exec_driver_sql(f"SELECT id FROM source WHERE id = {source_id} FOR UPDATE")
        stopping.start()
        stopping.join(timeout=RELEASE_LOCK_WAIT.total_seconds() + 5)
        stopped_while_locked = not stopping.is_alive()
    stopping.join()
    assert stopped_while_locked and abandoned == [0]
    assert source(engine, source_id).leased_by == "stopping"  # it expires instead


def test_the_daemon_keeps_to_per_host_limits(engine: Engine) -> None:
    """Two host names for one local server: at most one check per host at once, the two
    hosts in parallel, every source checked once."""
    in_flight: Counter[str] = Counter()
    most: Counter[str] = Counter()
    lock = threading.Lock()

    def handler(request: Request) -> Response:
        host = request.host.split(":")[0]
        with lock:
            in_flight[host] += 1
            in_flight["all"] += 1
            for key in (host, "all"):
                most[key] = max(most[key], in_flight[key])
        time.sleep(0.1)  # a slow server: the shape of the load, not synchronisation
        with lock:
            in_flight[host] -= 1
            in_flight["all"] -= 1
        body = ITEM_TEXT.replace("Khanasir", f"Khanasir {request.path}", 1)
        return Response(body, headers={"Content-Type": "text/markdown"})

    server = LocalServer(host="127.0.0.1", port=0, threaded=True)
    server.expect_request(re.compile(".*")).respond_with_handler(handler)
    server.start()
    try:
        for host in ("127.0.0.1", "localhost"):
            for n in range(5):
                add(engine, f"http://{host}:{server.port}/news/{n}.md")
        settings = DaemonSettings(concurrency=4, per_host=1, host_delay=timedelta(0))
        daemon = Daemon(engine, timedelta(hours=1), timedelta(seconds=0.1), settings, "polite")
        daemon.start()
        try:
            wait_for(lambda: count(engine, Check) >= 10)
        finally:
            daemon.stop()
    finally:
        server.stop()
    assert (most["127.0.0.1"], most["localhost"]) == (1, 1)
    assert most["all"] == 2
    with transaction(engine) as session:
        checked = Counter(session.exec(select(Check.source_id)).all())
        assert sorted(checked.values()) == [1] * 10
        assert all(s.leased_by is None for s in source_queries.all_sources(session))


def test_sigterm_gives_up_checks_in_flight_within_the_grace(
    engine: Engine, db_url: str, tmp_path: Path, httpserver: HTTPServer
) -> None:
    arrived, release = threading.Event(), threading.Event()

    def stuck(request: Request) -> Response:
        arrived.set()
        release.wait(timeout=60)  # held until the test is done with the daemon
        return Response(ITEM_TEXT, headers={"Content-Type": "text/markdown"})

    httpserver.expect_request(re.compile(".*")).respond_with_handler(stuck)
    page = add(engine, httpserver.url_for(ITEM_PAGE))
    config = tmp_path / "redline.toml"
    config.write_text('[daemon]\nstop_grace = "1s"\nlease = "1m"\n')
    daemon = subprocess.Popen(
        [*redline_command(), "--db", db_url, "--config", str(config), "run", "--tick", "0.2s"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "REDLINE_DB": ""},
    )
    try:
        assert arrived.wait(timeout=30), "the daemon never fetched the page"
        assert source(engine, page).leased_by is not None
        asked = time.monotonic()
        daemon.send_signal(signal.SIGTERM)
        _, stderr = daemon.communicate(timeout=20)
        took = time.monotonic() - asked
    finally:
        release.set()
        if daemon.poll() is None:
            daemon.kill()
    assert daemon.returncode == 0, stderr
    assert took < 10, took  # the 1 s grace, then out: not the fetch's 60 s timeout
    assert "abandoned=1" in stderr
    stopped = source(engine, page)
    assert (stopped.leased_by, stopped.lease_until) == (None, None)
    assert count(engine, Check) == 0 and count(engine, Item) == 0


def _manifest_files() -> list[str]:
    import json

    from .conftest import OFFSTREAM

    manifest = json.loads((OFFSTREAM / "manifest.json").read_text(encoding="utf-8"))
    return [s["file"] for s in manifest["snapshots"]]


def test_add_takes_a_cron_line_and_refuses_a_bad_one(cli) -> None:  # type: ignore[no-untyped-def]
    added = cli("add", "https://example.org/index.md", "--cron", "*/30  6-22 * * *")
    assert "added: source 1" in added.stdout
    bad = cli("add", "https://example.org/other.md", "--cron", "every hour", check=False)
    assert bad.code == 2 and bad.stderr.startswith("redline: not a cron line: 'every hour'")
    both = cli(
        "add", "https://example.org/x.md", "--cron", "0 * * * *", "--every", "1h", check=False
    )
    assert both.code == 2 and "--every or --cron, not both" in both.stderr
    [row] = cli("sources", "--json").json()  # the refused ones were not added
    assert (row["cron"], row["interval_seconds"]) == ("*/30 6-22 * * *", None)


def test_a_check_longer_than_its_lease_keeps_it_by_renewal(engine: Engine) -> None:
    """Worker a's check outlasts the lease; its renewals keep worker b, claiming all the
    while, from taking the source too: one fetch, one check."""
    requests: list[str] = []

    def slow(request: Request) -> Response:
        requests.append(request.path)
        time.sleep(2.5)  # a slow server: longer than the 1 s lease
        return Response(ITEM_TEXT, headers={"Content-Type": "text/markdown"})

    server = LocalServer(host="127.0.0.1", port=0, threaded=True)
    server.expect_request(re.compile(".*")).respond_with_handler(slow)
    server.start()
    settings = DaemonSettings(lease=timedelta(seconds=1), host_delay=timedelta(0))
    try:
        add(engine, server.url_for(ITEM_PAGE))
        first = Daemon(engine, timedelta(hours=1), timedelta(seconds=0.1), settings, "a")
        second = Daemon(engine, timedelta(hours=1), timedelta(seconds=0.1), settings, "b")
        first.start()
        wait_for(lambda: bool(requests))
        second.start()
        try:
            wait_for(lambda: count(engine, Check) == 1)
        finally:
            first.stop()
            second.stop()
    finally:
        server.stop()
    assert requests == [ITEM_PAGE]
    with transaction(engine) as session:
        assert session.exec(select(Check.outcome)).all() == ["changed"]
