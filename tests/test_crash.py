"""Crash consistency: `redline run` killed with SIGKILL mid-ingest leaves a whole database,
and a restart ends where an uninterrupted run ends.

The workload is served from 127.0.0.1 in three states: JSON listings of generated items
(edited, retyped, re-keyed, removed, restored and new from one state to the next) and real
Offstream pages (item pages whose URL moves with their headline, a day index). The first two
states are ingested once, in process, into a prepared database, so the third brings edits,
removals, restorations and fuzzy matches, not only new items. Each trial copies that database,
starts the real daemon on the third state and kills it (SIGKILL) at a random moment. Then:

1. integrity: SQLite's integrity and foreign key checks; on both backends no orphan rows and
   no duplicates where the schema (or identity) allows none;
2. no partial check: every check's versions and changes are all there, every version has its
   change, version numbers run 1..k, version_count and removed_at agree with them;
3. a restarted daemon takes the killed one's sources once its leases expire and ends with
   the same content as a reference run that was never interrupted.

bench/crash_trials.py runs many more trials with this machinery and reports them.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import signal
import sqlite3
import subprocess
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text, update
from sqlalchemy.engine import Engine, make_url
from sqlmodel import Session, func, select
from werkzeug import Request, Response

from storage import (
    Change,
    Check,
    Item,
    ItemAlias,
    ItemMatch,
    Source,
    Version,
    make_engine,
    transaction,
    utcnow,
)
from tests.databases import Backend
from tests.tools import LocalServer
from tracker.run.rounds import check_round
from tracker.run.sources import add_source

from .conftest import Site, manifest_snapshots, offstream_page, redline_command

SEED = 8
TRIALS = 3  # per backend here; bench/crash_trials.py runs many more
LISTINGS, STORIES = 3, 60  # the test's workload: 3 JSON listings of about 60 items each
JSON_TYPE = "application/json"
MARKDOWN_TYPE = "text/markdown; charset=utf-8"
# The first two states are ingested in the prepared database; trials run on the last.
STATES = 3
# Offstream chains: which snapshot (order) the site shows in each state.
CHAINS = {
    "palmyra-2017-03-02": (1, 3, 5),
    "boat-borneo-2018-01-01": (1, 2, 4),
    "nunes-memo-2018-02-02": (1, 2, 4),
    "day-index-2018-02-02": (1, 2, 2),
}
CONFIG = """every = "1h"

[daemon]
concurrency = 4
per_host = 16
host_delay = "0"
lease = "2s"
stop_grace = "5s"
log_format = "json"
"""
_WORDS = """
government minister president army forces city country military security police court
election party leader talks report statement attack protest strike storm flood fire
council budget vote plan law health hospital school market bank company workers union
trade deal border port bridge railway airport river coast village region capital
north south east west new old first last second major local national foreign
opens closes wins loses agrees rejects delays announces warns says calls plans
after before over under amid despite against with without during near
"""
WORDS = _WORDS.split()


# --- The workload -------------------------------------------------------------------------


@dataclass
class SiteState:
    """What the site serves in one state: pages by path, and moved pages' redirects."""

    pages: dict[str, tuple[bytes, str]] = field(default_factory=dict)
    redirects: dict[str, str] = field(default_factory=dict)


@dataclass
class Workload:
    states: list[SiteState]
    sources: list[tuple[str, str]]  # (path, kind) of each source
    listings: set[str]  # paths of the JSON listings: the long checks

    def final_path(self, path: str) -> str:
        """Where the source at `path` is answered in the last state (after its redirect)."""
        return self.states[-1].redirects.get(path, path)


@dataclass
class _Story:
    uid: str | None  # None: the listing gives this story no id, only its URL
    slug: str
    headline: str
    summary: str
    tags: list[str]
    section: str
    published: str
    shown: bool = True


def _words(rng: random.Random, count: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(count))


def _new_story(rng: random.Random, listing: int, number: int, state: int = 0) -> _Story:
    headline = f"{_words(rng, 9).capitalize()} {number}"
    return _Story(
        uid=f"l{listing}-{number}" if number % 4 else None,
        slug=f"/l{listing}/{number}-{headline.split()[0].lower()}",
        headline=headline,
        summary=_words(rng, 30).capitalize() + ".",
        tags=rng.sample(["world", "politics", "weather", "economy", "sport", "health"], 2),
        section=rng.choice(["World", "Business", "Local"]),
        published=f"2026-03-0{state + 1}T0{listing}:00:00Z",
    )


def _replace_words(rng: random.Random, text: str, count: int) -> str:
    words = text.split()
    for _ in range(count):
        words[rng.randrange(len(words) - 1)] = rng.choice(WORDS)  # the number stays: unique
    return " ".join(words)


def _typo(rng: random.Random, text: str) -> str:
    """Two neighbouring letters of a long word swapped: a style edit (a typo)."""
    words = text.split()
    long = [i for i, word in enumerate(words) if len(word) > 4] or [0]
    i = rng.choice(long)
    word = words[i]
    j = rng.randrange(len(word) - 1) if len(word) > 1 else 0
    words[i] = word[:j] + word[j + 1 : j + 2] + word[j : j + 1] + word[j + 2 :]
    return " ".join(words)


def _evolve(rng: random.Random, story: _Story, listing: int, number: int) -> None:
    """One story from one state of its listing to the next."""
    roll = rng.random()
    if not story.shown:
        story.shown = roll < 0.6  # back in the listing: restored
        if story.shown and roll < 0.2:
            story.headline = _replace_words(rng, story.headline, 1)
    elif roll < 0.12:
        story.headline = _replace_words(rng, story.headline, rng.randint(1, 3))
    elif roll < 0.20:
        story.summary = _replace_words(rng, story.summary, rng.randint(2, 6))
    elif roll < 0.24:
        story.headline = _typo(rng, story.headline)
    elif roll < 0.27:
        story.tags = list(reversed(story.tags))  # the same set: not an edit
    elif roll < 0.33:
        story.shown = False  # left the listing: removed
    elif roll < 0.36 and story.uid is None:
        # A new URL (a slug rebuilt) with an edited headline, and no id to follow it by:
        # only fuzzy matching can (the same summary, section and day help it).
        story.slug = f"/l{listing}/moved-{number}"
        story.headline = _replace_words(rng, story.headline, 1)


def _listing_body(stories: list[_Story], listing: int, state: int) -> bytes:
    articles = [
        {
            **({"id": story.uid} if story.uid else {}),
            "title": story.headline,
            "summary": story.summary,
            "url": story.slug,
            "tags": story.tags,
            "section": story.section,
            "updated": story.published,
        }
        for story in stories
        if story.shown
    ]
    return json.dumps({"status": "ok", "articles": articles}, indent=1).encode()


def make_workload(seed: int = SEED, listings: int = LISTINGS, stories: int = STORIES) -> Workload:
    """The same site for the same arguments: listings of generated stories, Offstream pages."""
    rng = random.Random(seed)
    states = [SiteState() for _ in range(STATES)]
    sources: list[tuple[str, str]] = []
    for listing in range(1, listings + 1):
        path = f"/api/{listing}/latest.json"
        sources.append((path, "listing"))
        numbers = iter(range(1, 1_000_000))
        shelf = [_new_story(rng, listing, next(numbers)) for _ in range(stories)]
        for state, site_state in enumerate(states):
            if state:
                for story in shelf:
                    _evolve(rng, story, listing, next(numbers))
                shelf += [
                    _new_story(rng, listing, next(numbers), state) for _ in range(stories // 16)
                ]
            site_state.pages[path] = (_listing_body(shelf, listing, state), JSON_TYPE)
    for chain, orders in CHAINS.items():
        snapshots = manifest_snapshots(chain)
        sources.append((snapshots[0]["url"], "offstream"))
        for site_state, order in zip(states, orders, strict=True):
            current = snapshots[order - 1]
            site_state.pages[current["url"]] = (
                offstream_page(current["file"]).encode(),
                MARKDOWN_TYPE,
            )
            for earlier in snapshots[: order - 1]:
                if earlier["url"] != current["url"]:
                    site_state.redirects[earlier["url"]] = current["url"]
    return Workload(states, sources, {path for path, kind in sources if kind == "listing"})


class CrashSite:
    """The workload on a threaded server on 127.0.0.1, one state at a time.

    Every page it answers (200 or 304) is noted with the time, so a trial can tell which
    sources the killed daemon had fetched.
    """

    def __init__(self, workload: Workload) -> None:
        self.workload = workload
        self.state = STATES - 1
        self.served: list[tuple[float, str]] = []
        self._served = threading.Condition()
        self.server = LocalServer(host="127.0.0.1", port=0, threaded=True)
        self.server.expect_request(re.compile(".*")).respond_with_handler(self.handle)

    def start(self) -> None:
        self.server.start()

    def stop(self) -> None:
        self.server.clear()
        self.server.stop()

    def url(self, path: str) -> str:
        return self.server.url_for(path)

    def handle(self, request: Request) -> Response:
        state = self.workload.states[self.state]
        path = request.path
        if path in state.redirects:
            return Response("", status=301, headers={"Location": self.url(state.redirects[path])})
        if path not in state.pages:
            return Response("not found", status=404)
        body, content_type = state.pages[path]
        etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
        if request.headers.get("If-None-Match") == etag:
            response = Response(status=304, headers={"ETag": etag})
        else:
            response = Response(body, headers={"ETag": etag, "Content-Type": content_type})
        with self._served:
            self.served.append((time.monotonic(), path))
            self._served.notify_all()
        return response

    def served_between(self, start: float, end: float) -> set[str]:
        with self._served:
            return {path for moment, path in self.served if start <= moment < end}

    def first_listing_since(self, start: float) -> float:
        with self._served:
            listings = self.workload.listings
            return min(t for t, path in self.served if t >= start and path in listings)

    def wait_for_listings(
        self, count: int, since: float, daemon: subprocess.Popen[bytes], timeout: float = 60
    ) -> None:
        """Until `count` listing pages have been answered since `since` (to this daemon)."""
        deadline = time.monotonic() + timeout
        with self._served:
            while True:
                listed = [p for t, p in self.served if t >= since and p in self.workload.listings]
                if len(listed) >= count:
                    return
                if daemon.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"the daemon fetched {len(listed)} of {count} listings")
                self._served.wait(0.1)


# --- Preparing, running, killing -----------------------------------------------------------


@dataclass
class Reference:
    """What an uninterrupted run of the last state stores, and when."""

    fingerprint: dict[str, Any]
    checks: int  # checks it added
    versions: int  # versions it added
    changes: dict[str, int]  # changes it added, by kind
    first_fetch: float  # seconds after launch: the first listing answered
    last_record: float  # seconds after launch: the last check recorded
    shortest_listing: float  # seconds: the quickest check of a listing (fetch to commit)


@dataclass
class Prepared:
    url: str  # the database holding the first two states, every source due
    last_check: int  # the id of its last check: later ones are a trial's
    versions: int  # versions it holds
    rolled_back: int | None  # PostgreSQL: ids drawn but not stored (0 here; the baseline)
    reference: Reference


def prepare(url: str, site: CrashSite) -> None:
    """Add the sources and ingest the first states in process; then every source is due."""
    engine = make_engine(url)
    try:
        with transaction(engine) as session:
            for path, kind in site.workload.sources:
                add_source(session, site.url(path), kind)
        # Recent times, so the item pages are young (checked often, not aged out).
        start = utcnow() - timedelta(hours=STATES)
        for state in range(STATES - 1):
            site.state = state
            results = check_round(engine, now=start + timedelta(hours=state), all_sources=True)
            failed = [(r.url, r.error) for r in results if r.outcome in ("error", "skipped")]
            assert not failed, failed
        with transaction(engine) as session:
            session.exec(update(Source).values(next_check_at=start))  # type: ignore[call-overload]
    finally:
        site.state = STATES - 1
        engine.dispose()


def write_config(folder: Path) -> Path:
    config = folder / "redline.toml"
    config.write_text(CONFIG)
    return config


def launch(url: str, config: Path, worker: str, log: Path) -> subprocess.Popen[bytes]:
    """`redline run`, as a user starts it; stderr to a file (a pipe nobody reads stalls it)."""
    command = [*redline_command(), "--db", url, "--config", str(config), "run"]
    with log.open("wb") as stderr:
        return subprocess.Popen(
            [*command, "--tick", "0.1s", "--worker", worker],
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            env={**os.environ, "REDLINE_DB": ""},
        )


def stop(daemon: subprocess.Popen[bytes]) -> int:
    """SIGTERM, as systemd stops it; its exit status."""
    if daemon.poll() is None:
        daemon.send_signal(signal.SIGTERM)
    try:
        return daemon.wait(timeout=30)
    finally:
        if daemon.poll() is None:
            daemon.kill()
            daemon.wait()


def started(daemon: subprocess.Popen[bytes], log: Path, timeout: float = 60) -> bool:
    """Until the daemon says it is checking (its signal handlers come next): a SIGTERM
    before that would end it as an unhandled signal, not a clean stop."""
    poll(lambda: daemon.poll() is not None or b"checking" in log.read_bytes(), timeout)
    return daemon.poll() is None


def ingest_done(engine: Engine, since: datetime) -> bool:
    """Every source checked (next due after `since`) and no lease held."""
    with Session(engine) as session:
        rows = session.exec(select(Source.next_check_at, Source.leased_by)).all()
    return all(due is not None and due > since and holder is None for due, holder in rows)


def poll(condition: Callable[[], bool], timeout: float) -> bool:
    """Ask the database (another process writes it) until the condition holds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def log_tail(log: Path, lines: int = 5) -> str:
    return "\n".join(log.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])


def run_reference(backend: Backend, prepared_url: str, site: CrashSite, folder: Path) -> Reference:
    """An uninterrupted `redline run` on a copy of the prepared database."""
    url = backend.copy(prepared_url, "crash_reference")
    engine = make_engine(url)
    try:
        checks_before, versions_before = last_id(engine, Check), count(engine, Version)
        changes_before = last_id(engine, Change)
        log = folder / "reference.log"
        since, start = utcnow(), time.monotonic()
        daemon = launch(url, write_config(folder), "reference", log)
        try:
            finished = started(daemon, log) and poll(lambda: ingest_done(engine, since), 180)
        finally:
            code = stop(daemon)
        assert finished and code == 0, f"the reference run failed ({code}):\n{log_tail(log)}"
        problems = integrity(engine, url, settled=True) + partial_checks(engine)
        assert problems == [], problems
        with Session(engine) as session:
            checks = session.exec(select(Source.url, Check).join(Check)).all()
            kinds = session.exec(select(Change.kind).where(Change.id > changes_before)).all()
        new = [(url_, c) for url_, c in checks if (c.id or 0) > checks_before]
        assert {c.outcome for _, c in new} <= {"changed", "not_modified"}, new
        assert len(new) == len({url_ for url_, _ in new}) == len(site.workload.sources), new
        listing_urls = {site.url(path) for path in site.workload.listings}
        return Reference(
            fingerprint=fingerprint(engine),
            checks=len(new),
            versions=count(engine, Version) - versions_before,
            changes=dict(Counter(kinds)),
            first_fetch=site.first_listing_since(start) - start,
            last_record=max((c.finished_at - since).total_seconds() for _, c in new),
            shortest_listing=min(
                (c.finished_at - c.started_at).total_seconds()
                for url_, c in new
                if url_ in listing_urls
            ),
        )
    finally:
        engine.dispose()
        backend.drop(url)


def make_prepared(backend: Backend, empty_url: str, site: CrashSite, folder: Path) -> Prepared:
    """The prepared database (from a migrated empty one) and its reference run."""
    url = backend.copy(empty_url, "crash_prepared")
    prepare(url, site)
    engine = make_engine(url)
    try:
        last_check, versions = last_id(engine, Check), count(engine, Version)
        rolled_back = ids_drawn_not_stored(engine)
    finally:
        engine.dispose()
    reference = run_reference(backend, url, site, folder)
    return Prepared(url, last_check, versions, rolled_back, reference)


@dataclass(frozen=True)
class KillPlan:
    """When to kill: `delay` seconds after the launch, or after the `after_listings`-th
    listing page is answered (0: from the launch)."""

    delay: float
    after_listings: int = 0

    def describe(self) -> str:
        if self.after_listings:
            return f"{self.delay * 1000:.0f} ms after listing fetch #{self.after_listings}"
        return f"{self.delay * 1000:.0f} ms after launch"


def spread_kill(rng: random.Random, reference: Reference) -> KillPlan:
    """A moment drawn evenly over the reference run's ingest: from its first listing fetch
    to a little after its last commit. Counted from the first fetch, not the launch, so a
    slow start (a loaded machine) does not move the kills out of the ingest."""
    window = reference.last_record - reference.first_fetch
    return KillPlan(rng.uniform(0, 1.05 * window), after_listings=1)


def kill_in_a_check(rng: random.Random, reference: Reference, listings: int) -> KillPlan:
    """Shortly after a listing is fetched: well within the check that records it (at most
    0.1 s, however slow the reference was: recording a listing takes longer)."""
    delay = rng.uniform(0, min(0.5 * reference.shortest_listing, 0.1))
    return KillPlan(delay, rng.randint(1, listings))


@dataclass
class AtKill:
    """What the database held right after the kill."""

    checks: int  # checks of this run recorded
    versions: int  # versions of this run recorded
    fetched: int  # sources whose page the daemon had been given
    in_flight: list[str]  # fetched, not recorded: the kill landed inside their checks
    leases: int  # sources still leased to the killed worker
    rolled_back: int | None  # PostgreSQL: rows written by transactions the kill ended
    writing: bool  # a write transaction was open a moment before the kill


@dataclass
class Trial:
    backend: str
    plan: KillPlan
    killed_ms: float = 0.0  # after the launch
    at_kill: AtKill | None = None
    # What each check found wrong, after the kill and after the restart: [] when right.
    integrity: list[str] = field(default_factory=list)  # 1
    partial: list[str] = field(default_factory=list)  # 2
    differences: list[str] = field(default_factory=list)  # 3: the restart against the reference
    restart_seconds: float = 0.0
    restart_code: int | None = None

    @property
    def mid_check(self) -> bool:
        """The daemon had been served a page whose check it had not committed."""
        at = self.at_kill
        return at is not None and (bool(at.in_flight) or bool(at.rolled_back))

    @property
    def mid_transaction(self) -> bool:
        """Besides, a write transaction was open (PostgreSQL: rows of it were lost)."""
        at = self.at_kill
        return self.mid_check and at is not None and (at.writing or bool(at.rolled_back))

    @property
    def ok(self) -> bool:
        return not (self.integrity or self.partial or self.differences)


def run_trial(
    backend: Backend, prepared: Prepared, site: CrashSite, plan: KillPlan, folder: Path
) -> Trial:
    """Kill a daemon as planned, audit, restart, audit, compare with the reference."""
    trial = Trial(backend.name, plan)
    url = backend.copy(prepared.url, "crash")
    engine = make_engine(url)
    config = write_config(folder)
    try:
        since, start = utcnow(), time.monotonic()
        log = folder / "crashed.log"
        probe = WriteProbe(url)
        daemon = launch(url, config, "crashed", log)
        try:
            if plan.after_listings:
                site.wait_for_listings(plan.after_listings, start, daemon)
            time.sleep(plan.delay)  # the random moment is what the trial is about
            writing = probe.writing()
            killed = time.monotonic()
            daemon.send_signal(signal.SIGKILL)
            daemon.wait(timeout=30)
        finally:
            probe.close()
            if daemon.poll() is None:
                daemon.kill()
                daemon.wait()
        if daemon.returncode != -signal.SIGKILL:
            trial.differences.append(
                f"the daemon ended by itself ({daemon.returncode}): {log_tail(log)}"
            )
        trial.killed_ms = (killed - start) * 1000
        trial.at_kill = at_kill(engine, prepared, site, start, killed, writing)
        trial.integrity += [f"at the kill: {p}" for p in integrity(engine, url)]
        trial.partial += [f"at the kill: {p}" for p in partial_checks(engine)]

        # The restart: the killed worker's leases block nothing once they expire.
        log = folder / "restarted.log"
        restarted = time.monotonic()
        daemon = launch(url, config, "restarted", log)
        try:
            finished = started(daemon, log) and poll(lambda: ingest_done(engine, since), 180)
            trial.restart_seconds = time.monotonic() - restarted
        finally:
            trial.restart_code = stop(daemon)
        if not finished or trial.restart_code != 0:
            trial.differences.append(
                f"restart {'ended' if finished else 'did not finish'}, exit status "
                f"{trial.restart_code}: {log_tail(log)}"
            )
        trial.integrity += [f"after the restart: {p}" for p in integrity(engine, url, True)]
        trial.partial += [f"after the restart: {p}" for p in partial_checks(engine)]
        trial.differences += compare(prepared.reference.fingerprint, fingerprint(engine))
    finally:
        engine.dispose()
        backend.drop(url)
    return trial


def at_kill(
    engine: Engine,
    prepared: Prepared,
    site: CrashSite,
    start: float,
    killed: float,
    writing: bool,
) -> AtKill:
    base = site.url("/").rstrip("/")
    fetched = site.served_between(start, killed)
    with Session(engine) as session:
        sources = session.exec(select(Source.id, Source.url, Source.leased_by)).all()
        recorded = set(session.exec(select(Check.source_id).where(Check.id > prepared.last_check)))
    in_flight = [
        url
        for source_id, url, _ in sources
        if source_id not in recorded and site.workload.final_path(url.removeprefix(base)) in fetched
    ]
    fetched_sources = [
        url for _, url, _ in sources if site.workload.final_path(url.removeprefix(base)) in fetched
    ]
    rolled_back = ids_drawn_not_stored(engine)
    return AtKill(
        checks=len(recorded),
        versions=count(engine, Version) - prepared.versions,
        fetched=len(fetched_sources),
        in_flight=sorted(url.removeprefix(base) for url in in_flight),
        leases=sum(1 for _, _, holder in sources if holder == "crashed"),
        writing=writing,
        rolled_back=None
        if rolled_back is None or prepared.rolled_back is None
        else rolled_back - prepared.rolled_back,
    )


class WriteProbe:
    """Asks, from outside, whether a write transaction is open in the database now.

    SQLite: another writer holds the lock if BEGIN IMMEDIATE fails at once. PostgreSQL:
    a session of this database has a transaction id (given at its first write).
    """

    def __init__(self, url: str) -> None:
        parsed = make_url(url)
        self.sqlite = parsed.get_backend_name() == "sqlite"
        if self.sqlite:
            self.connection: Any = sqlite3.connect(
                parsed.database or "", timeout=0, isolation_level=None
            )
        else:
            import psycopg

            libpq = parsed.set(drivername="postgresql").render_as_string(False)
            self.connection = psycopg.connect(libpq, autocommit=True)

    def writing(self) -> bool:
        if self.sqlite:
            try:
                self.connection.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError:  # database is locked
                return True
            self.connection.execute("ROLLBACK")
            return False
        return bool(
            self.connection.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND backend_xid IS NOT NULL AND pid <> pg_backend_pid()"
            ).fetchone()[0]
        )

    def close(self) -> None:
        self.connection.close()


def count(engine: Engine, model: type) -> int:
    with Session(engine) as session:
        return session.exec(select(func.count()).select_from(model)).one()


def last_id(engine: Engine, model: Any) -> int:
    with Session(engine) as session:
        return session.exec(select(func.max(model.id))).one() or 0


def ids_drawn_not_stored(engine: Engine) -> int | None:
    """PostgreSQL: ids its sequences gave out minus rows stored (nothing here is deleted),
    so rows a transaction wrote and never committed; None on SQLite (ids are reused)."""
    if engine.dialect.name != "postgresql":
        return None
    lost = 0
    with engine.connect() as connection:
        for table in ("source", "check", "item", "itemalias", "itemmatch", "version", "change"):
            sequence = connection.execute(
                text("SELECT pg_get_serial_sequence(:table, 'id')"), {"table": f'"{table}"'}
            ).scalar_one()
            drawn = connection.execute(
                text(f"SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM {sequence}")
            ).scalar_one()
            stored = connection.execute(text(f'SELECT count(*) FROM "{table}"')).scalar_one()
            lost += drawn - stored
    return lost


# --- Checks 1 and 2: integrity, no partial check -------------------------------------------


def integrity(engine: Engine, url: str, settled: bool = False) -> list[str]:
    """Check 1: what is broken (SQLite's own checks, orphans, duplicates); [] when whole.

    settled: no daemon runs any more, so no lease may be left either.
    """
    problems = _sqlite_checks(url) if engine.dialect.name == "sqlite" else []
    with Session(engine) as session:
        problems += _orphans_and_duplicates(session)
        if settled:
            held = session.exec(select(Source.id).where(Source.leased_by.is_not(None))).all()  # type: ignore[union-attr]
            if held:
                problems.append(f"leases left on sources {held}")
    return problems


def partial_checks(engine: Engine) -> list[str]:
    """Check 2: any check stored in part, or versions and changes that disagree; []."""
    with Session(engine) as session:
        return _partial_checks(session)


def _sqlite_checks(url: str) -> list[str]:
    connection = sqlite3.connect(make_url(url).database or "")
    try:
        integrity = [row[0] for row in connection.execute("PRAGMA integrity_check")]
        foreign = connection.execute("PRAGMA foreign_key_check").fetchall()
    finally:
        connection.close()
    problems = [] if integrity == ["ok"] else [f"integrity_check: {integrity[:5]}"]
    if foreign:
        problems.append(f"foreign_key_check: {len(foreign)} rows, e.g. {foreign[:3]}")
    return problems


def _missing(what: str, references: list[int | None], existing: set[int]) -> list[str]:
    missing = [ref for ref in references if ref is not None and ref not in existing]
    return [f"{len(missing)} {what}, e.g. {missing[:3]}"] if missing else []


def _duplicated(what: str, keys: list[Any]) -> list[str]:
    twice = [key for key, times in Counter(keys).items() if times > 1]
    return [f"{len(twice)} duplicated {what}, e.g. {twice[:3]}"] if twice else []


def _orphans_and_duplicates(session: Session) -> list[str]:
    sources = set(session.exec(select(Source.id)))
    checks = set(session.exec(select(Check.id)))
    items = dict(session.exec(select(Item.id, Item.source_id)).all())
    versions = set(session.exec(select(Version.id)))
    checked = list(session.exec(select(Check.source_id)))
    problems = _missing("checks without their source", checked, sources)
    problems += _missing("items without their source", list(items.values()), sources)
    aliases = session.exec(
        select(ItemAlias.item_id, ItemAlias.source_id, ItemAlias.kind, ItemAlias.value)
    ).all()
    problems += _missing("aliases without their item", [a[0] for a in aliases], set(items))
    problems += _missing("aliases without their source", [a[1] for a in aliases], sources)
    matches = session.exec(select(ItemMatch.item_id, ItemMatch.check_id)).all()
    problems += _missing("item matches without their item", [m[0] for m in matches], set(items))
    problems += _missing("item matches without their check", [m[1] for m in matches], checks)
    rows = session.exec(select(Version.item_id, Version.check_id, Version.n)).all()
    problems += _missing("versions without their item", [r[0] for r in rows], set(items))
    problems += _missing("versions without their check", [r[1] for r in rows], checks)
    changes = session.exec(
        select(Change.item_id, Change.source_id, Change.from_version_id, Change.to_version_id)
    ).all()
    problems += _missing("changes without their item", [c[0] for c in changes], set(items))
    problems += _missing("changes without their source", [c[1] for c in changes], sources)
    problems += _missing("changes without their from version", [c[2] for c in changes], versions)
    problems += _missing("changes without their to version", [c[3] for c in changes], versions)
    strays = [c for c in changes if c[0] in items and items[c[0]] != c[1]]
    problems += [f"{len(strays)} changes filed under another source"] if strays else []
    strays = [a for a in aliases if a[0] in items and items[a[0]] != a[1]]
    problems += [f"{len(strays)} aliases filed under another source"] if strays else []
    # Unique constraints, and identity: one item per key in a source.
    problems += _duplicated("source URLs", list(session.exec(select(Source.url))))
    problems += _duplicated("version numbers", [(r[0], r[2]) for r in rows])
    problems += _duplicated("aliases", [a[1:] for a in aliases])
    problems += _duplicated("item keys", list(session.exec(select(Item.source_id, Item.key))))
    return problems


def _partial_checks(session: Session) -> list[str]:
    problems: list[str] = []
    checks = session.exec(select(Check)).all()
    versions = session.exec(select(Version).order_by(Version.item_id, Version.n)).all()
    changes = session.exec(select(Change).order_by(Change.id)).all()
    items = session.exec(select(Item)).all()
    by_check: dict[int | None, list[Version]] = defaultdict(list)
    by_item: dict[int, list[Version]] = defaultdict(list)
    for version in versions:
        by_check[version.check_id].append(version)
        by_item[version.item_id].append(version)
    leading: dict[int | None, list[Change]] = defaultdict(list)  # the change to each version
    events: Counter[tuple[int, datetime]] = Counter()  # removed, restored: (source, time)
    last_change: dict[int, Change] = {}
    for change in changes:
        last_change[change.item_id] = change
        if change.kind in ("created", "edited"):
            leading[change.to_version_id].append(change)
        else:
            events[(change.source_id, change.recorded_at)] += 1
    source_events: Counter[int] = Counter()  # events of checks that added no version
    for check in checks:
        own = by_check.get(check.id, [])
        if len(own) != check.versions_added:
            problems.append(
                f"check {check.id}: versions_added {check.versions_added}, {len(own)} stored"
            )
        expected = check.changes_added - check.versions_added
        if not own:
            source_events[check.source_id] += expected
            continue
        # A check's versions and its removed / restored events carry the check's time.
        moments = {version.observed_at for version in own}
        if len(moments) != 1:
            problems.append(f"check {check.id}: versions at {len(moments)} different times")
        found = events.pop((check.source_id, min(moments)), 0)
        if found != expected:
            problems.append(f"check {check.id}: {expected} removals/restorations, {found} stored")
    for (source_id, _), found in events.items():
        source_events[source_id] -= found
    problems += [
        f"source {source_id}: removals/restorations and its checks disagree by {left}"
        for source_id, left in source_events.items()
        if left
    ]
    for version in versions:
        leads = leading.pop(version.id, [])
        kind = "created" if version.n == 1 else "edited"
        if [(c.kind, c.item_id, c.to_n) for c in leads] != [(kind, version.item_id, version.n)]:
            problems.append(f"version {version.id} (n={version.n}): changes {leads}")
    if leading:
        problems.append(f"changes to versions that are not there: {sorted(leading)[:3]}")
    for item in items:
        own = by_item.get(item.id or 0, [])
        if [version.n for version in own] != list(range(1, len(own) + 1)) or not own:
            problems.append(f"item {item.id}: version numbers {[v.n for v in own]}")
        if item.version_count != len(own):
            problems.append(f"item {item.id}: version_count {item.version_count}, {len(own)} kept")
        hashes = [version.content_hash for version in own]
        if any(a == b for a, b in zip(hashes, hashes[1:], strict=False)):
            problems.append(f"item {item.id}: the same content stored twice in a row")
        last = last_change.get(item.id or 0)
        if (item.removed_at is not None) != (last is not None and last.kind == "removed"):
            problems.append(f"item {item.id}: removed_at disagrees with its last change")
    return problems


# --- Check 3: the same content as the reference ------------------------------------------


def fingerprint(engine: Engine) -> dict[str, Any]:
    """The database's content without times and ids: what two runs must agree on."""
    with Session(engine) as session:
        sources = {s.id: s for s in session.exec(select(Source))}
        items = {i.id: i for i in session.exec(select(Item))}
        names = {i.id: f"{sources[i.source_id].url} {i.key}" for i in items.values()}
        content: dict[str, dict[str, Any]] = {
            names[i.id]: {
                "url": i.url,
                "headline": i.headline,
                "event_date": str(i.event_date),
                "removed": i.removed_at is not None,
                "version_count": i.version_count,
                "versions": [],
                "changes": [],
                "aliases": [],
                "matches": [],
            }
            for i in items.values()
        }
        for v in session.exec(select(Version).order_by(Version.item_id, Version.n)):
            reported = v.reported_at.isoformat() if v.reported_at else None
            entry = [v.n, v.content_hash, v.origin, v.url, v.headline, reported]
            content[names[v.item_id]]["versions"].append(entry)
        for c in session.exec(select(Change).order_by(Change.id)):
            diff = json.dumps(c.diff, sort_keys=True)
            similarity = None if c.similarity is None else round(c.similarity, 9)
            entry = [c.kind, c.from_n, c.to_n, c.fields, c.classification, similarity, diff]
            content[names[c.item_id]]["changes"].append(entry)
        for a in session.exec(select(ItemAlias).order_by(ItemAlias.kind, ItemAlias.value)):
            content[names[a.item_id]]["aliases"].append([a.kind, a.value])
        for m in session.exec(select(ItemMatch).order_by(ItemMatch.matched_url)):
            entry = [m.method, round(m.score, 9), m.matched_headline, m.matched_url]
            content[names[m.item_id]]["matches"].append(entry)
        checks: dict[str, list[Any]] = defaultdict(list)
        for k in session.exec(select(Check).order_by(Check.id)):
            checks[sources[k.source_id].url].append(
                [k.outcome, k.http_status, k.items_seen, k.versions_added, k.changes_added]
            )
        return {
            "sources": {
                s.url: [s.kind, s.listing, s.etag, s.consecutive_failures, s.last_error]
                + [s.retired_reason, s.enabled]
                for s in sources.values()
            },
            "items": content,
            "checks": dict(checks),
        }


def compare(expected: dict[str, Any], found: dict[str, Any], limit: int = 5) -> list[str]:
    """Where `found` differs from `expected`: a line per difference, at most `limit`."""
    differences: list[str] = []

    def walk(a: Any, b: Any, where: str) -> None:
        if len(differences) >= limit or a == b:
            return
        if isinstance(a, dict) and isinstance(b, dict):
            for key in sorted(set(a) | set(b)):
                if key not in b:
                    differences.append(f"{where}/{key}: missing")
                elif key not in a:
                    differences.append(f"{where}/{key}: not in the reference")
                else:
                    walk(a[key], b[key], f"{where}/{key}")
        else:
            differences.append(f"{where}: {str(b)[:160]} instead of {str(a)[:160]}")

    walk(expected, found, "")
    return differences


# --- The tests -----------------------------------------------------------------------------


@pytest.fixture
def crash_site() -> Iterator[CrashSite]:
    site = CrashSite(make_workload())
    site.start()
    yield site
    site.stop()


@pytest.mark.slow  # over 2.5 s (--durations, 2026-12-07): left out by `make quick`
def test_sigkill_mid_ingest_leaves_a_whole_database_and_a_restart_converges(
    backend: Backend, migrated_url: str, crash_site: CrashSite, tmp_path: Path
) -> None:
    prepared = make_prepared(backend, migrated_url, crash_site, tmp_path)
    try:
        reference = prepared.reference
        # The trials are worth something only if the killed check has much to write.
        assert set(reference.changes) == {"created", "edited", "removed", "restored"}, reference
        items = reference.fingerprint["items"].values()
        classes = Counter(change[4] for item in items for change in item["changes"])
        assert classes["style"] and classes["rewording"] and classes["substantive"], classes
        assert any(item["matches"] for item in items)  # fuzzy identity is exercised
        assert reference.versions > 50
        assert reference.checks == len(reference.fingerprint["sources"])

        for trial in range(TRIALS):
            rng = random.Random(f"{SEED} {backend.name} {trial}")
            # The first kill falls anywhere in the ingest; the others inside a listing's check.
            if trial == 0:
                plan = spread_kill(rng, reference)
            else:
                plan = kill_in_a_check(rng, reference, LISTINGS)
            folder = tmp_path / f"trial-{trial}"
            folder.mkdir()
            result = run_trial(backend, prepared, crash_site, plan, folder)
            assert result.integrity == [], (plan, result.at_kill)
            assert result.partial == [], (plan, result.at_kill)
            assert result.differences == [], (plan, result.at_kill)
            if trial:
                assert result.mid_check, f"the kill ({plan.describe()}) missed: {result.at_kill}"
                assert result.at_kill and result.at_kill.versions < reference.versions
    finally:
        backend.drop(prepared.url)


def test_the_audit_sees_a_check_stored_in_part(site: Site, engine: Engine, db_url: str) -> None:
    """The checks above would pass on anything if they saw nothing: tamper and look."""
    with transaction(engine) as session:
        add_source(session, site.url("/latest.json"), "listing")
    stories = [{"id": f"s{n}", "title": f"Storm closes the coast road {n}"} for n in range(3)]
    start = utcnow() - timedelta(hours=2)
    for hour, shown in enumerate([stories, [{**stories[0], "title": "Storm shuts it"}]]):
        site.publish("/latest.json", json.dumps(shown), JSON_TYPE)
        check_round(engine, now=start + timedelta(hours=hour), all_sources=True)
    assert integrity(engine, db_url, settled=True) == [] and partial_checks(engine) == []
    before = fingerprint(engine)

    with transaction(engine) as session:
        edit = session.exec(select(Change).where(Change.kind == "edited")).one()
        removal = session.exec(select(Change).where(Change.kind == "removed")).first()
        assert removal is not None
        session.delete(edit)
        session.delete(removal)
        check = session.exec(select(Check).order_by(Check.id)).first()
        assert check is not None
        item = session.get(Item, edit.item_id)
        assert item is not None
        item.version_count += 2  # 2 -> 4 while one version is added: 3
        session.add(item)
        session.add(
            Version(
                item_id=edit.item_id,
                n=9,
                content_hash=hashlib.sha256(b"x").hexdigest(),
                origin="observed",
                observed_at=start,
                last_observed_at=start,
                check_id=check.id,
            )
        )
    problems = "\n".join(partial_checks(engine))
    assert f"version {edit.to_version_id} (n=2): changes []" in problems
    assert f"check {check.id}: versions_added {check.versions_added}" in problems
    assert "removals/restorations" in problems
    assert f"item {item.id}: version numbers [1, 2, 9]" in problems
    assert f"item {item.id}: version_count 4, 3 kept" in problems
    assert f"item {removal.item_id}: removed_at disagrees with its last change" in problems
    differences = compare(before, fingerprint(engine))
    assert differences and all("/items/" in line for line in differences), differences

    # An orphan: foreign keys are switched off for the one insert (never so in redline).
    orphan = "INSERT INTO itemalias (item_id, source_id, kind, value) VALUES (999, 1, 'url', 'x')"
    if engine.dialect.name == "sqlite":
        with sqlite3.connect(make_url(db_url).database or "") as connection:
            connection.execute(orphan)  # sqlite3 leaves foreign keys off unless told
    else:
        with engine.begin() as connection:
            connection.execute(text("SET LOCAL session_replication_role = replica"))
            connection.execute(text(orphan))
    problems = "\n".join(integrity(engine, db_url))
    assert "1 aliases without their item, e.g. [999]" in problems
    assert engine.dialect.name != "sqlite" or "foreign_key_check: 1 rows" in problems
