"""Archive links: new versions of item pages saved by the Wayback Machine ([archive]).

A local server on 127.0.0.1 stands in for the archive: SPN2 (POST /save, then the job's
status) with keys, the anonymous GET /save/URL without. The checks record their versions
whatever the archive does; the archive is asked afterwards, by the daemon's job or after
`redline check`, and the archived URL shows on the item page and in the feeds.
"""

from __future__ import annotations

import csv
import json
import threading
import time
from collections.abc import Iterator
from concurrent.futures import wait
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import unquote

import pytest
from fastapi.testclient import TestClient
from pytest_httpserver import HTTPServer
from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select
from werkzeug import Request, Response

from feeds import atom, feed_names, feed_query
from feeds.app import create_app
from storage import Version, VersionArchive, transaction
from tracker.errors import UserError
from tracker.run import archive_links, status, wayback
from tracker.run.archive_links import Archiver, archive_due
from tracker.run.config import ArchiveSettings, load_config
from tracker.run.daemon import Daemon
from tracker.run.rounds import check_round

from .conftest import Site
from .test_tracking import add
from .tools import local_server

START = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
STAMP = "20260301080000"
PAGE = "/news/2026/03/01/storm.html"
PROSE = "The storm reached the coast on Sunday night and the harbour was closed. " * 3


def article(headline: str) -> str:
    return (
        f"<!doctype html><html><head><title>{headline}</title></head><body><article>"
        f"<h1>{headline}</h1><p>{PROSE}</p><p>{PROSE}</p></article></body></html>"
    )


@dataclass
class FakeArchive:
    """The Wayback Machine's Save Page Now on 127.0.0.1. Each save answers the next status
    queued (a success when none is); a job's status is "pending" `pending` times, then a
    success; `hang` holds every answer until it is set."""

    server: HTTPServer = field(init=False)  # set by the fixture
    statuses: list[int] = field(default_factory=list)
    pending: int = 0
    hang: threading.Event | None = None
    saves: list[str] = field(default_factory=list)  # the URLs asked to be saved
    polls: list[str] = field(default_factory=list)  # the job ids asked about
    auth: list[str | None] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def endpoint(self) -> str:
        return self.server.url_for("").rstrip("/")

    def settings(self, keys: bool = True, **given: object) -> ArchiveSettings:
        secrets = {"access_key": "ACCESS", "secret_key": "SECRET"} if keys else {}
        return ArchiveSettings(enabled=True, endpoint=self.endpoint, **secrets | given)  # type: ignore[arg-type]

    def requests(self) -> int:
        return len(self.saves) + len(self.polls)

    def handle(self, request: Request) -> Response:
        if self.hang is not None:
            self.hang.wait(30)
        with self.lock:
            self.auth.append(request.headers.get("Authorization"))
            raw = unquote(request.environ.get("RAW_URI") or request.full_path).rstrip("?")
            if request.method == "POST" and request.path == "/save":
                return self._save(request.form["url"], spn2=True)
            if request.path.startswith("/save/status/"):
                job = request.path.removeprefix("/save/status/")
                self.polls.append(job)
                if self.pending:
                    self.pending -= 1
                    return Response('{"status": "pending"}', content_type="application/json")
                original = self.saves[int(job.removeprefix("spn2-"))]
                done = {"status": "success", "timestamp": STAMP, "original_url": original}
                return Response(json.dumps(done), content_type="application/json")
            if request.path.startswith("/save/"):
                return self._save(raw.split("/save/", 1)[1], spn2=False)
        return Response("not found", status=404)

    def _save(self, url: str, spn2: bool) -> Response:
        self.saves.append(url)
        status = self.statuses.pop(0) if self.statuses else 200
        if status != 200:
            return Response("busy", status=status, headers={"Retry-After": "120"})
        if spn2:
            job = f"spn2-{len(self.saves) - 1}"
            return Response(
                f'{{"url": "{url}", "job_id": "{job}"}}', content_type="application/json"
            )
        return Response("saved", headers={"Content-Location": f"/web/{STAMP}/{url}"})


@pytest.fixture
def archive() -> Iterator[FakeArchive]:
    found = FakeArchive()
    with local_server(found.handle) as found.server:
        yield found
        if found.hang is not None:
            found.hang.set()


def check(engine: Engine, when: datetime, archive: bool = True) -> None:
    results = check_round(engine, now=when, all_sources=True, archive=archive)
    assert all(r.outcome in ("changed", "unchanged", "not_modified") for r in results), results


def requests_of(engine: Engine) -> list[VersionArchive]:
    with Session(engine) as session:
        return list(session.exec(select(VersionArchive).order_by(col(VersionArchive.id))).all())


def make_due(engine: Engine) -> None:
    """Every request waiting is due now (as if its wait had passed)."""
    with transaction(engine) as session:
        session.exec(  # type: ignore[call-overload]
            update(VersionArchive).values(next_attempt_at=datetime.now(UTC) - timedelta(seconds=1))
        )


def feed_etags(engine: Engine) -> list[str]:
    with Session(engine) as session:
        item_id = session.exec(select(Version.item_id)).first()
        return [
            atom.feed_state(session, feed_names.FeedConfig(), query).etag
            for query in (
                feed_query.FeedQuery(kind="all"),
                feed_query.FeedQuery("item", item_id, kind="all"),
            )
        ]


def archiver(engine: Engine, settings: ArchiveSettings, timeout: float = 5.0) -> Archiver:
    return Archiver(engine, settings, wayback.make_client(timeout), poll_every=timedelta(0))


def test_each_new_version_of_an_item_page_is_archived_and_shown(
    site: Site, engine: Engine, archive: FakeArchive
) -> None:
    url = site.publish(PAGE, article("Storm leaves 8 dead"), "text/html; charset=utf-8")
    add(engine, url)
    check(engine, START)
    [first] = requests_of(engine)
    assert (first.state, first.url, first.attempts) == ("pending", url, 0)
    assert archive.requests() == 0  # the check asked nothing of the archive

    archive.pending = 1  # the archive takes a while over the first save
    saver = archiver(engine, archive.settings())
    assert saver.run_round().waiting == 1  # POST /save: a job to ask about
    assert archive.saves == [url]
    assert archive.auth == ["LOW ACCESS:SECRET"]
    assert saver.run_round().waiting == 1  # its status: pending
    assert saver.run_round().archived == 1  # then a success
    [first] = requests_of(engine)
    assert first.state == "archived"
    assert first.archived_url == f"{archive.endpoint}/web/{STAMP}/{url}"
    assert first.attempts == 1  # one save asked for; the polls are not attempts

    site.publish(PAGE, article("Storm leaves 12 dead"), "text/html; charset=utf-8")
    check(engine, START + timedelta(hours=1))
    assert saver.run_round().waiting == 1
    before = feed_etags(engine)
    assert saver.run_round().archived == 1
    # The entry of the edit now says more: the feeds' ETags move, so no reader keeps a
    # copy without the link.
    assert all(a != b for a, b in zip(before, feed_etags(engine), strict=True))
    assert saver.run_round() == archive_links.RoundStats()  # nothing more to ask
    saver.close()
    first, second = requests_of(engine)
    assert second.state == "archived" and len(archive.saves) == 2

    with TestClient(create_app(engine)) as client:
        page = client.get(f"/items/{second.item_id}").text
        edits = client.get("/feeds/edits.atom?kind=all").text
        item_feed = client.get(f"/feeds/items/{second.item_id}.atom").text
        versions = client.get(f"/api/items/{second.item_id}/versions").json()["versions"]
    assert [v["archived_url"] for v in versions] == [first.archived_url, second.archived_url]
    for row in (first, second):
        assert f'<a href="{row.archived_url}" rel="noopener noreferrer"' in page
    # The edit's entry links to the new version's copy, in a link and in its content.
    assert f'href="{second.archived_url}" rel="related"' in edits
    assert "Archived copy of this version" in edits
    assert second.archived_url in item_feed


def test_an_archive_that_fails_is_asked_again_later_and_archives_once(
    site: Site, engine: Engine, archive: FakeArchive
) -> None:
    url = site.publish(PAGE, article("Bridge closed"), "text/html; charset=utf-8")
    add(engine, url)
    check(engine, START)
    archive.statuses = [500]
    settings = archive.settings(keys=False, retry_after=timedelta(minutes=5))
    saver = archiver(engine, settings)
    assert saver.run_round().failed == 1
    [failed] = requests_of(engine)
    assert (failed.state, failed.attempts) == ("pending", 1)
    assert failed.last_error == "the archive answered HTTP 500"
    wait_ = failed.next_attempt_at - datetime.now(UTC)
    assert timedelta(minutes=4) < wait_ <= timedelta(minutes=5)
    assert saver.run_round() == archive_links.RoundStats()  # not due yet: nothing asked
    assert len(archive.saves) == 1

    make_due(engine)
    assert saver.run_round().archived == 1  # the anonymous GET /save/URL
    make_due(engine)
    assert saver.run_round() == archive_links.RoundStats()
    saver.close()
    assert archive.saves == [url, url] and archive.auth == [None, None]
    [done] = requests_of(engine)
    assert (done.state, done.attempts, done.last_error) == ("archived", 2, None)
    assert done.archived_url == f"{archive.endpoint}/web/{STAMP}/{url}"


def test_a_busy_archive_is_waited_for_and_a_request_failing_too_long_is_given_up(
    site: Site, engine: Engine, archive: FakeArchive
) -> None:
    add(engine, site.publish(PAGE, article("Bridge closed"), "text/html; charset=utf-8"))
    check(engine, START)
    archive.statuses = [429, 503]
    saver = archiver(engine, archive.settings(give_up_after=timedelta(hours=1)))
    assert saver.run_round().failed == 1
    [busy] = requests_of(engine)
    assert busy.next_attempt_at - datetime.now(UTC) > timedelta(seconds=110)  # Retry-After: 120
    with transaction(engine) as session:  # written two hours ago: past give_up_after
        session.exec(  # type: ignore[call-overload]
            update(VersionArchive).values(
                created_at=datetime.now(UTC) - timedelta(hours=2),
                next_attempt_at=datetime.now(UTC) - timedelta(seconds=1),
            )
        )
    assert saver.run_round().given_up == 1
    saver.close()
    [dead] = requests_of(engine)
    assert (dead.state, dead.last_error) == ("failed", "the archive answered HTTP 503")
    with Session(engine) as session:
        assert archive_links.counts(session) == {"pending": 0, "archived": 0, "failed": 1}
    shown = status.render_text(status.gather(engine, datetime.now(UTC), 3))
    assert "0 archived, 0 pending, 1 given up" in shown


def test_archiving_is_off_by_default_and_never_asks_for_listings(
    site: Site, engine: Engine, archive: FakeArchive, tmp_path: Path
) -> None:
    config = tmp_path / "redline.toml"
    config.write_text("[serve]\nport = 8001\n")
    assert load_config(config).archive == ArchiveSettings()
    assert ArchiveSettings().enabled is False
    add(engine, site.publish(PAGE, article("Bridge closed"), "text/html; charset=utf-8"))
    check(engine, START, archive=False)  # how `redline check` runs without [archive]
    assert requests_of(engine) == []
    assert archive_due(engine, ArchiveSettings(endpoint=archive.endpoint)) is None

    feed = (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>News</title>'
        "<link>https://news.example/</link><description>d</description>"
        "<item><guid>a</guid><title>Storm</title><link>https://news.example/a</link></item>"
        "</channel></rss>"
    )
    add(engine, site.publish("/feed.xml", feed))
    check(engine, START + timedelta(hours=1))  # archiving on: a listing's rows are not pages
    assert requests_of(engine) == []
    assert archive.requests() == 0


def test_a_hanging_archive_never_holds_up_a_check(
    site: Site, engine: Engine, archive: FakeArchive
) -> None:
    archive.hang = threading.Event()
    url = site.publish(PAGE, article("Storm leaves 8 dead"), "text/html; charset=utf-8")
    add(engine, url)
    settings = archive.settings()
    daemon = Daemon(engine, timedelta(hours=1), timedelta(hours=1), archive=settings)
    assert daemon.scheduler.get_job("archive") is not None  # the daemon's own archiving job
    try:
        assert daemon.claim() == 1
        done, not_done = wait(daemon.checks.running(), timeout=30)
        assert not not_done
        with Session(engine) as session:
            assert len(session.exec(select(Version)).all()) == 1  # recorded, archive or not
        [queued] = requests_of(engine)
        assert queued.state == "pending"
        # The archive is asked by a job of its own: it times out, recorded in one line.
        assert daemon.archiver is not None
        daemon.archiver.close()
        daemon.archiver = archiver(engine, settings, timeout=0.3)
        daemon.archive_versions()
    finally:  # not started: its parts are stopped one by one
        daemon.checks.shutdown()
        daemon.client.close()
        daemon.sender.close()
        if daemon.archiver is not None:
            daemon.archiver.close()
    [failed] = requests_of(engine)
    assert failed.state == "pending" and failed.attempts == 1
    assert failed.last_error is not None and "Timeout" in failed.last_error
    assert "\n" not in failed.last_error


def test_asking_after_a_round_keeps_to_its_time_budget(
    site: Site, engine: Engine, archive: FakeArchive
) -> None:
    archive.hang = threading.Event()
    add(engine, site.publish(PAGE, article("Bridge closed"), "text/html; charset=utf-8"))
    check(engine, START)
    started = time.monotonic()
    done = archive_due(engine, archive.settings(keys=False), budget=timedelta(seconds=0.5))
    assert time.monotonic() - started < 5  # not the client's 60 s timeout
    assert done is not None and done.failed == 1
    [failed] = requests_of(engine)
    assert failed.state == "pending" and "Timeout" in (failed.last_error or "")


def test_redline_check_asks_the_archive_after_its_round(
    site: Site, cli, archive: FakeArchive, tmp_path: Path
) -> None:
    url = site.publish(PAGE, article("Storm leaves 8 dead"), "text/html; charset=utf-8")
    config = tmp_path / "redline.toml"
    config.write_text(f'[archive]\nenabled = true\nendpoint = "{archive.endpoint}"\n')
    cli("add", url)
    done = cli("--config", str(config), "check")
    assert "archive: 1 archived" in done.stdout
    assert archive.saves == [url]
    shown = cli("--config", str(config), "status").stdout
    assert "1 archived, 0 pending, 0 given up" in shown
    # The copy's address goes with the version wherever the version goes.
    copy = f"{archive.endpoint}/web/{STAMP}/{url}"
    [version] = cli("history", url, "--json").json()["versions"]
    assert version["archived_url"] == copy
    [item] = cli("export", "--all").json()["items"]
    assert [v["archived_url"] for v in item["versions"]] == [copy]
    exported = tmp_path / "versions.csv"
    cli("export", "--all", "--format", "csv", "--out", str(exported))
    [row] = list(csv.DictReader(exported.open(encoding="utf-8", newline="")))
    assert row["archived_url"] == copy


@pytest.mark.parametrize(
    ("table", "complaint"),
    [
        ("enabled = 'yes'", "[archive] enabled is true or false"),
        ('endpoint = "ftp://archive.example"', "[archive] endpoint is an http(s) address"),
        ('access_key = "only-one"', "[archive] access_key and secret_key go together"),
        ('retry_after = "soon"', "[archive] retry_after: not a duration"),
        ('give_up_after = "-1d"', "[archive] give_up_after: not a duration"),
        ("budget = 3", "unknown [archive] setting 'budget'"),
    ],
)
def test_bad_archive_settings_are_one_line_errors(
    tmp_path: Path, table: str, complaint: str
) -> None:
    config = tmp_path / "redline.toml"
    config.write_text(f"[archive]\n{table}\n")
    with pytest.raises(UserError) as raised:
        load_config(config)
    assert complaint in str(raised.value)
    assert "\n" not in str(raised.value)


def test_bad_archive_settings_stop_the_cli_with_one_line(cli, tmp_path: Path) -> None:
    config = tmp_path / "redline.toml"
    config.write_text('[archive]\nenabled = true\nendpoint = "web.archive.org"\n')
    done = cli("--config", str(config), "check", check=False)
    assert done.code != 0
    assert "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert "[archive] endpoint" in done.stderr


def test_only_public_http_addresses_are_sent_to_the_archive() -> None:
    assert archive_links.archivable("https://news.example/a") == "https://news.example/a"
    assert archive_links.archivable("https://user:pw@news.example/a") is None
    assert archive_links.archivable("file:///etc/passwd") is None
    assert archive_links.archivable(None) is None
