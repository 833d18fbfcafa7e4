"""Notifications: what the outbox adds to a check, and how fast deliveries go out.

Run by hand from the repository root (never as a test):

    .venv/bin/python bench/bench_notify.py            # print the table only
    .venv/bin/python bench/bench_notify.py --write    # also replace its section of RESULTS.md
    .venv/bin/python bench/bench_notify.py --backend sqlite   # one backend (default both)

1. The extra time of a check with 10 subscriptions (issue 20's target: under 1 ms per
   change recorded). A listing of --items items is served from 127.0.0.1; each round
   edits every item's headline, so each check records --items edits. The same rounds
   run on two fresh databases, one with no subscription and one with 10 (every
   one wanting every edit: 10 deliveries per change, the most a check can write), the
   two taking turns; the difference of their median check times, per change, is the
   outbox's cost.
2. Deliveries per second to a local webhook: --deliveries pending deliveries (over 10
   subscriptions, each allowed 6,000 a minute) sent by the daemon's sender (its rounds,
   4 threads) to a threaded HTTP server on 127.0.0.1 answering 204; from the first round
   to the last delivery recorded as sent. The signed JSON of each is composed from the
   database, as in the daemon.

Both run on SQLite and on PostgreSQL (a fresh database of its own on the server at
--pg-url, dropped afterwards), one backend after the other.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import os  # noqa: E402

os.environ.setdefault("REDLINE_ALLOW_NETWORKS", "127.0.0.0/8")

import httpx  # noqa: E402
from sqlmodel import Session, col, func, select  # noqa: E402

from bench.harness.databases import PG_URL, backend_for, migrated_database  # noqa: E402
from bench.harness.results import load_line, machine_lines, publish  # noqa: E402
from bench.harness.timing import median_and_spread, median_text  # noqa: E402
from storage import Delivery, Source, make_engine, transaction  # noqa: E402
from tests.databases import Backend  # noqa: E402
from tracker.notify import subscriptions  # noqa: E402
from tracker.notify.sender import Sender  # noqa: E402
from tracker.notify.settings import NotifySettings  # noqa: E402
from tracker.run.check import check_source  # noqa: E402
from tracker.run.sources import add_source  # noqa: E402

SECTION = "## Notifications"
COMMAND = ".venv/bin/python bench/bench_notify.py --write"
TARGET_MS_PER_CHANGE = 1.0
SUBSCRIPTIONS = 10
START = datetime(2026, 3, 1, tzinfo=UTC)


class Listing:
    """A JSON listing on 127.0.0.1 whose headlines the bench rewrites; and a webhook."""

    def __init__(self, items: int) -> None:
        self.items, self.round, self.received = items, 0, 0
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_: object) -> None:
                pass

            def do_GET(self) -> None:
                body = outer.body()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with outer.lock:
                    outer.received += 1
                self.send_response(204)
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def body(self) -> bytes:
        n = self.round
        articles = [
            {"id": f"a{i}", "title": f"Story {i}: {8 + n} dead after storm, officials say"}
            for i in range(self.items)
        ]
        return json.dumps({"articles": articles}).encode()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def add_to(self, session: Session) -> Source:
        """This listing as a source of the database."""
        source, _ = add_source(
            session,
            self.url("/listing.json"),
            "listing",
            None,
            None,
            {"items": "articles", "map": {"id": "id", "headline": "title"}},
        )
        return source


def check_times(items: int, rounds: int, backend: Backend) -> tuple[list[float], list[float], int]:
    """Per-check seconds without and with SUBSCRIPTIONS subscriptions; changes a check."""
    listing = Listing(items)
    engines, sources = {}, {}
    for subs in (0, SUBSCRIPTIONS):
        engine = make_engine(migrated_database(backend, f"check_{subs}"))
        with transaction(engine) as session:
            source = listing.add_to(session)
            for _ in range(subs):
                subscriptions.add_subscription(
                    session,
                    listing.url("/hook"),
                    {"classes": ["substantive", "rewording", "style"]},
                )
        engines[subs], sources[subs] = engine, source.id
    client = httpx.Client(timeout=30)
    timings: dict[int, list[float]] = {0: [], SUBSCRIPTIONS: []}
    changes = 0
    for step in range(rounds + 1):
        listing.round = step
        for subs in (0, SUBSCRIPTIONS) if step % 2 else (SUBSCRIPTIONS, 0):  # taking turns
            started = time.perf_counter()
            result = check_source(
                engines[subs], sources[subs], client, START + timedelta(hours=step)
            )
            elapsed = time.perf_counter() - started
            assert result.outcome == "changed", result
            if step:  # the first check creates the items: not timed
                timings[subs].append(elapsed)
                changes = result.stats.changes_added
    with Session(engines[SUBSCRIPTIONS]) as session:
        written = session.exec(select(func.count()).select_from(Delivery)).one()
    assert written == rounds * items * SUBSCRIPTIONS, written
    client.close()
    for engine in engines.values():
        engine.dispose()
    listing.server.shutdown()
    return timings[0], timings[SUBSCRIPTIONS], changes


def delivery_rate(deliveries: int, backend: Backend) -> tuple[float, int]:
    """Deliveries a second from the sender to a local webhook; how many were sent."""
    items = deliveries // SUBSCRIPTIONS
    listing = Listing(items)
    engine = make_engine(migrated_database(backend, "deliver"))
    with transaction(engine) as session:
        source = listing.add_to(session)
        for _ in range(SUBSCRIPTIONS):
            subscriptions.add_subscription(session, listing.url("/hook"), per_minute=6000)
    client = httpx.Client(timeout=30)
    for step in (0, 1):
        listing.round = step
        check_source(engine, source.id, client, START + timedelta(hours=step))
    client.close()
    sender = Sender(engine, NotifySettings(per_minute=6000), "bench")
    started = time.perf_counter()
    while True:
        done = sender.run_round()
        if not done.sent and not done.failed:
            break
    elapsed = time.perf_counter() - started
    sender.close()
    with Session(engine) as session:
        sent = session.exec(
            select(func.count()).select_from(Delivery).where(col(Delivery.state) == "sent")
        ).one()
    assert sent == listing.received == items * SUBSCRIPTIONS, (sent, listing.received)
    engine.dispose()
    listing.server.shutdown()
    return sent / elapsed, sent


@dataclass
class Run:
    """One backend's measures."""

    backend: str
    without: list[float]  # seconds a check, no subscription
    with_subs: list[float]  # and with SUBSCRIPTIONS
    changes: int  # recorded a check
    rate: float  # deliveries a second
    sent: int

    def extra_ms(self) -> float:
        return (median_and_spread(self.with_subs)[0] - median_and_spread(self.without)[0]) * (
            1000 / self.changes
        )

    def rows(self) -> list[str]:
        extra = self.extra_ms()
        verdict = (
            f"met ({extra:.3f} ms < {TARGET_MS_PER_CHANGE:.0f} ms)"
            if extra < TARGET_MS_PER_CHANGE
            else f"**missed** by {extra - TARGET_MS_PER_CHANGE:.2f} ms"
        )
        rows = []
        for subs, times in ((0, self.without), (SUBSCRIPTIONS, self.with_subs)):
            milliseconds = median_text([t * 1000 for t in times], ",.1f")
            extra_cells = f"{extra:.3f} | under {TARGET_MS_PER_CHANGE:.0f} ms: {verdict}"
            rows.append(
                f"| {self.backend} | {subs} | {milliseconds} | {extra_cells if subs else ' | '} |"
            )
        return rows


def run(backend: Backend, args: argparse.Namespace) -> Run:
    print(f"{backend.name}: timing checks", file=sys.stderr)
    without, with_subs, changes = check_times(args.items, args.rounds, backend)
    print(f"{backend.name}: sending deliveries", file=sys.stderr)
    rate, sent = delivery_rate(args.deliveries, backend)
    return Run(backend.name, without, with_subs, changes, rate, sent)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=200, help="items edited per check (200)")
    parser.add_argument("--rounds", type=int, default=10, help="checks timed per database (10)")
    parser.add_argument("--deliveries", type=int, default=2000, help="deliveries sent (2,000)")
    parser.add_argument("--backend", choices=("both", "sqlite", "postgresql"), default="both")
    parser.add_argument("--pg-url", default=PG_URL, help="a PostgreSQL server")
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    load = os.getloadavg()
    runs = []
    for name in ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]:
        with backend_for(name, args.pg_url, "notify") as (backend, _):
            runs.append(run(backend, args))
    first = runs[0]
    text = "\n".join(
        [
            SECTION,
            "",
            *machine_lines(),
            load_line(load, "when the runs started"),
            f"- Command: `{COMMAND}`",
            "",
            f"A check of a JSON listing of {args.items} items whose every headline is edited "
            f"({first.changes} changes a check), {args.rounds} checks on each of two fresh "
            f"databases taking turns: one with no subscription, one with {SUBSCRIPTIONS} that "
            f"all want every edit ({first.changes * SUBSCRIPTIONS} deliveries written a check, "
            "in the check's transaction); SQLite, then PostgreSQL. Median milliseconds a check "
            "(min–max):",
            "",
            "| backend | subscriptions | check ms | extra ms per change recorded | target |",
            "| --- | ---: | ---: | ---: | --- |",
            *(row for r in runs for row in r.rows()),
            "",
            "Deliveries to a local webhook (a threaded HTTP server on 127.0.0.1 answering 204): "
            f"{first.sent:,} pending deliveries over {SUBSCRIPTIONS} subscriptions, sent by the "
            "daemon's sender (rounds of at most 500, 4 sending threads, each delivery's JSON "
            "composed from the database, signed, and its outcome recorded): "
            + "; ".join(f"**{r.rate:,.0f} deliveries/s** on {r.backend}" for r in runs)
            + ". No target is set for it; a subscription's own rate (30 a minute unless it "
            "says) is far below it.",
        ]
    )
    publish(SECTION, text + "\n", args.write)


if __name__ == "__main__":
    main()
