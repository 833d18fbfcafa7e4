"""`redline check`'s round: checks run concurrently under the daemon's per-host limits,
and a round checks every source it should, exactly once."""

from __future__ import annotations

import re
import threading
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import event, update
from sqlalchemy.engine import Engine
from sqlmodel import select
from werkzeug import Request, Response

from storage import Check, Item, ItemSighting, Source, source_queries, transaction
from tests.tools import LocalServer
from tracker.record.not_modified import NotModified, NotModifiedLog
from tracker.run.check import CheckOptions, check_source
from tracker.run.config import DaemonSettings
from tracker.run.rounds import check_round
from tracker.run.schedule import Policy

from .conftest import Site, offstream_page, own_story
from .tools import local_server

START = datetime(2026, 3, 1, tzinfo=UTC)
PAGE = offstream_page("seeds/001_d715acd15c94cb49.txt")
MARKDOWN = "text/markdown; charset=utf-8"


def own_page(tag: str) -> str:
    return own_story(PAGE, tag)


STILL = Policy(jitter=0.0)


class GatedServer:
    """A threaded local server whose requests each wait until `together` of them are in
    flight at once (or a timeout passes), counting the most in flight, per host and in all."""

    def __init__(self, together: int) -> None:
        self.together = together
        self.met = threading.Event()  # `together` requests were in flight at once
        self.lock = threading.Lock()
        self.in_flight: Counter[str] = Counter()
        self.most: Counter[str] = Counter()
        self.server = LocalServer(host="127.0.0.1", port=0, threaded=True)
        self.server.expect_request(re.compile(".*")).respond_with_handler(self.handle)

    def handle(self, request: Request) -> Response:
        host = request.host.split(":")[0]
        with self.lock:
            for key in (host, "all"):
                self.in_flight[key] += 1
                self.most[key] = max(self.most[key], self.in_flight[key])
            if self.in_flight["all"] >= self.together:
                self.met.set()
        # Held until enough requests overlap; a round that fetched one at a time would
        # leave each waiting the whole timeout, and never meet.
        self.met.wait(timeout=5)
        with self.lock:
            self.in_flight[host] -= 1
            self.in_flight["all"] -= 1
        body = own_page(f"{request.host}{request.path}")
        return Response(body, headers={"Content-Type": "text/markdown; charset=utf-8"})


@pytest.fixture
def gated() -> Iterator[GatedServer]:
    server = GatedServer(together=2)
    server.server.start()
    yield server
    server.server.clear()
    server.server.stop()


def add_pages(engine: Engine, urls: list[str]) -> None:
    with transaction(engine) as session:
        session.add_all(Source(url=url, kind="offstream") for url in urls)


def checks_per_source(engine: Engine) -> Counter[int]:
    with transaction(engine) as session:
        return Counter(session.exec(select(Check.source_id)).all())


@pytest.mark.parametrize(
    ("hosts", "per_host"),
    [(("127.0.0.1", "localhost"), 1), (("127.0.0.1",), 2)],
    ids=["two hosts, one each", "one host, two at once"],
)
def test_a_round_overlaps_its_fetches_within_per_host(
    engine: Engine, gated: GatedServer, hosts: tuple[str, ...], per_host: int
) -> None:
    port = gated.server.port
    urls = [f"http://{host}:{port}/news/{n}.md" for host in hosts for n in range(4)]
    add_pages(engine, urls)
    settings = DaemonSettings(concurrency=4, per_host=per_host, host_delay=timedelta(0))
    seen: list[str] = []

    results = check_round(engine, now=START, policy=STILL, settings=settings, on_result=seen.append)

    assert gated.met.is_set(), "no two fetches were ever in flight at once"
    # Concurrency 4 would allow more: the per-host limit held each host to per_host.
    assert all(gated.most[host] == per_host for host in hosts), gated.most
    assert gated.most["all"] == 2
    assert sorted(r.url for r in results) == sorted(urls)
    assert {r.outcome for r in results} == {"changed"}
    assert seen == results  # each result reported once, as it came
    assert set(checks_per_source(engine).values()) == {1}
    with transaction(engine) as session:
        assert session.exec(select(Source).where(Source.leased_by.is_not(None))).all() == []  # type: ignore[union-attr]


@pytest.mark.slow  # over 2.5 s (--durations, 2026-12-07): left out by `make quick`
def test_check_all_right_after_a_round_checks_every_source_once(engine: Engine) -> None:
    """Sources just checked sort first (next due in 15 minutes, the others in a day):
    the round must still go on to all the others, and take none twice."""

    def page(request: Request) -> Response:
        return Response(own_page(request.path), headers={"Content-Type": MARKDOWN})

    with local_server(page) as server:
        # Claims read 4 x 2 x concurrency = 32 candidates, most overdue first: a window
        # that filled with sources just checked once ended such a round early (125 of 200).
        sources = 80
        add_pages(engine, [server.url_for(f"/news/{n}.md") for n in range(sources)])
        settings = DaemonSettings(concurrency=4, per_host=4, host_delay=timedelta(0))
        first = check_round(engine, now=START, all_sources=True, policy=STILL, settings=settings)
        assert len(first) == sources
        with transaction(engine) as session:  # none due for a day
            session.exec(update(Source).values(next_check_at=START + timedelta(days=1)))  # type: ignore[call-overload]
        later = START + timedelta(minutes=1)
        again = check_round(engine, now=later, all_sources=True, policy=STILL, settings=settings)
        # A plain round now: nothing is due (the ones just checked are due in 15 minutes).
        assert check_round(engine, now=later, policy=STILL, settings=settings) == []
    assert sorted(r.source_id for r in again) == list(range(1, sources + 1))
    assert {r.outcome for r in again} == {"unchanged"}
    assert set(checks_per_source(engine).values()) == {2}


def test_a_plain_round_checks_each_due_source_once(engine: Engine, gated: GatedServer) -> None:
    gated.met.set()  # no holding back here
    port = gated.server.port
    due = [f"http://127.0.0.1:{port}/news/{n}.md" for n in range(6)]
    add_pages(engine, [*due, f"http://127.0.0.1:{port}/later.md"])
    with transaction(engine) as session:  # the last one is not due yet
        session.exec(
            update(Source)
            .where(Source.url.endswith("later.md"))  # type: ignore[attr-defined]
            .values(next_check_at=START + timedelta(hours=1))
        )  # type: ignore[call-overload]
    settings = DaemonSettings(concurrency=3, per_host=3, host_delay=timedelta(0))
    results = check_round(engine, now=START, policy=STILL, settings=settings)
    assert sorted(r.url for r in results) == sorted(due)
    assert set(checks_per_source(engine).values()) == {1}


def test_first_seen_counts_the_items_this_check_has_just_added(engine: Engine) -> None:
    """The aging schedule's one query sees the source's sightings not yet flushed, as the
    ORM's did."""
    with transaction(engine) as session:
        source = Source(url="https://example.org/a.md")
        session.add(source)
        session.flush()
        assert source.id is not None
        assert source_queries.source_first_seen(session, source.id) is None
        for hours in (3, 1, 2):
            seen = START + timedelta(hours=hours)
            item = Item(source_id=source.id, key=f"k{hours}", first_seen_at=seen, last_seen_at=seen)
            session.add(item)
            session.flush()
            assert item.id is not None
            session.add(ItemSighting(item_id=item.id, source_id=source.id, first_seen_at=seen))
        assert source_queries.source_first_seen(session, source.id) == START + timedelta(hours=1)


@pytest.mark.parametrize(
    ("schedule", "message"),
    [
        ({"interval_seconds": 99999999 * 86400}, "interval of 8639999913600 seconds"),
        ({"interval_seconds": 2**31 - 1}, "interval of 2147483647 seconds"),
        ({"interval_seconds": 5}, "interval of 5 seconds"),
        ({"cron": "0 0 31 2 *"}, "never fires again"),
    ],
    ids=["99999999d", "68 years", "5 seconds", "31 February"],
)
def test_a_source_whose_stored_schedule_is_bad_is_an_error_check_not_the_end_of_the_round(
    engine: Engine, site: Site, schedule: dict[str, object], message: str
) -> None:
    """Rows stored before intervals and cron lines were checked when added: the round
    records the other sources, and the bad one gets an error check saying why."""
    if engine.dialect.name == "postgresql" and schedule.get("interval_seconds", 0) >= 2**31:  # type: ignore[operator]
        pytest.skip("PostgreSQL's interval_seconds column cannot hold it")
    urls = [site.publish(f"/news/{n}.md", own_page(str(n))) for n in range(3)]
    add_pages(engine, urls)
    with transaction(engine) as session:
        session.exec(update(Source).where(Source.url == urls[1]).values(**schedule))  # type: ignore[call-overload]

    results = {r.url: r for r in check_round(engine, now=START, policy=STILL)}

    assert sorted(results) == sorted(urls)
    assert (results[urls[0]].outcome, results[urls[2]].outcome) == ("changed", "changed")
    bad = results[urls[1]]
    assert bad.outcome == "error" and message in (bad.error or ""), bad.error
    assert set(checks_per_source(engine).values()) == {1}
    with transaction(engine) as session:
        stored = session.exec(select(Source).where(Source.url == urls[1])).one()
        # Retried later as after any error, its lease given up, and its schedule untouched.
        assert stored.next_check_at is not None and stored.next_check_at > START
        assert stored.leased_by is None and stored.consecutive_failures == 1
        assert message in (stored.last_error or "")
    # The next round goes on the same way: the source is retried, never the round lost.
    later = START + timedelta(days=2)
    again = {r.url: r for r in check_round(engine, now=later, all_sources=True, policy=STILL)}
    assert again[urls[1]].outcome == "error" and len(again) == 3


@pytest.mark.slow  # over 2.5 s (--durations, 2026-12-07): left out by `make quick`
def test_a_rounds_304s_are_written_in_batches_as_a_lone_check_writes_one(engine: Engine) -> None:
    """The 304s of a round go to the database a batch at a time (tracker/record/not_modified.py),
    and leave each source and check row as a check on its own leaves them."""

    def answer(request: Request) -> Response:
        if request.headers.get("If-None-Match") == '"v1"':
            return Response(status=304, headers={"ETag": '"v1"'})
        headers = {"Content-Type": MARKDOWN, "ETag": '"v1"'}
        return Response(own_page(request.path), headers=headers)

    sources = 150  # more than two batches
    inserts: list[int] = []  # rows each INSERT of check rows wrote
    statements: list[str] = []

    def count(_conn, _cursor, statement: str, parameters, _context, many: bool) -> None:  # type: ignore[no-untyped-def]
        statements.append(statement)
        if statement.lstrip().upper().startswith(('INSERT INTO "CHECK"', "INSERT INTO CHECK")):
            inserts.append(len(parameters) if many else 1)

    settings = DaemonSettings(concurrency=4, per_host=4, host_delay=timedelta(0))
    later = START + timedelta(hours=1)
    with local_server(answer) as server:
        add_pages(engine, [server.url_for(f"/news/{n}.md") for n in range(sources)])
        first = check_round(engine, now=START, all_sources=True, policy=STILL, settings=settings)
        assert {r.outcome for r in first} == {"changed"}
        with transaction(engine) as session:  # all due again but the first, checked alone
            session.exec(update(Source).values(next_check_at=START))  # type: ignore[call-overload]
            session.exec(
                update(Source).where(Source.id == 1).values(next_check_at=later + timedelta(days=1))  # type: ignore[arg-type]
            )  # type: ignore[call-overload]
        event.listen(engine, "before_cursor_execute", count)
        results = check_round(engine, now=later, policy=STILL, settings=settings)
        event.remove(engine, "before_cursor_execute", count)
        with httpx.Client() as client:
            alone = check_source(engine, 1, client, later, CheckOptions(policy=STILL))
    assert len(results) == sources - 1 and {r.outcome for r in results} == {"not_modified"}
    assert alone.outcome == "not_modified"
    assert sum(inserts) == sources - 1 and len(inserts) <= 3, inserts  # 64 a transaction
    # A check reads nothing of its source or its lease: its claim (a few sources at a
    # time) returned both. No statement reads one source by its id.
    one_source = [
        sql for sql in statements if re.match(r"SELECT\b.*\bWHERE source\.id = ", sql, re.S)
    ]
    assert one_source == [], one_source[:2]

    def state(source_id: int) -> tuple:
        with transaction(engine) as session:
            source = session.get(Source, source_id)
            check = session.exec(
                select(Check).where(Check.source_id == source_id).order_by(Check.id.desc())  # type: ignore[union-attr]
            ).first()
            assert source is not None and check is not None
            return (
                source.last_checked_at,
                source.next_check_at,
                source.consecutive_failures,
                source.last_error,
                source.leased_by,
                source.lease_until,
                source.retired_at,
                (check.outcome, check.http_status, check.bytes, check.items_seen),
            )

    assert state(1)[-1] == ("not_modified", 304, 0, 0)
    assert all(state(n) == state(1) for n in (2, 75, sources))


def test_a_304_whose_lease_another_worker_took_is_not_written(engine: Engine) -> None:
    add_pages(engine, ["http://127.0.0.1:9/a.md", "http://127.0.0.1:9/b.md"])
    with transaction(engine) as session:
        session.exec(update(Source).values(leased_by="me"))  # type: ignore[call-overload]
        session.exec(update(Source).where(Source.id == 2).values(leased_by="another"))  # type: ignore[arg-type, call-overload]
    batch = NotModifiedLog(engine, "me", size=2)

    def record(source_id: int) -> NotModified:
        check = {"source_id": source_id, "started_at": START, "finished_at": START}
        check |= {"outcome": "not_modified", "http_status": 304, "bytes": 0}
        check |= {"items_seen": 0, "versions_added": 0, "changes_added": 0}
        return NotModified(source_id, {"last_checked_at": START, "leased_by": None}, check)

    batch.add(record(1))
    assert checks_per_source(engine) == Counter()  # kept until the batch is full
    batch.add(record(2))  # full: written, but for the source another worker holds
    assert batch.pending == []
    assert checks_per_source(engine) == Counter({1: 1})
    with transaction(engine) as session:
        mine, theirs = session.get(Source, 1), session.get(Source, 2)
        assert mine is not None and theirs is not None
        assert (mine.last_checked_at, mine.leased_by) == (START, None)
        assert (theirs.last_checked_at, theirs.leased_by) == (None, "another")


def test_a_failed_round_reports_its_own_failure_when_writing_its_304s_fails_too(
    engine: Engine, gated: GatedServer, monkeypatch: pytest.MonkeyPatch, caplog
) -> None:
    gated.met.set()
    port = gated.server.port
    add_pages(engine, [f"http://127.0.0.1:{port}/news/{n}.md" for n in range(3)])

    def database_gone(self: NotModifiedLog) -> None:
        raise RuntimeError("database gone")

    def interrupted(result: object) -> None:
        raise KeyboardInterrupt  # Ctrl-C as the first check's result comes in

    monkeypatch.setattr(NotModifiedLog, "flush", database_gone)
    with pytest.raises(KeyboardInterrupt):  # not the cleaning up's RuntimeError
        check_round(engine, now=START, policy=STILL, on_result=interrupted, worker="me")
    assert "writing its 304s failed too: database gone" in caplog.text
    with transaction(engine) as session:  # the leases were given up all the same
        assert session.exec(select(Source).where(Source.leased_by == "me")).all() == []
