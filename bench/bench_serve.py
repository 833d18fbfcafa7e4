"""`redline serve` under load on 1,000,000 versions: wrk's requests/s and p99 latency.

Run by hand from the repository root (never as a test):

    .venv/bin/python bench/bench_serve.py --write              # both backends, update RESULTS.md
    .venv/bin/python bench/bench_serve.py --backend sqlite     # one backend, print only
    .venv/bin/python bench/bench_serve.py --duration 3s --runs 1 --versions 20000  # smoke test

The database is bench_queries.py's, the world of bench/world.py (seeded, 1,000,000
versions; bench/.data/ and the PostgreSQL database redline_bench_queries), found, or built
once if missing, by bench/world_database.py; serving only reads it. The real service is
started as a user starts it, `redline serve --db URL --port PORT`, on a free port of
127.0.0.1: one process (the target), then with `--workers 2`. Debian's wrk then loads five
requests, and two floors:

- the Atom feed of edits, `/feeds/edits.atom` (its newest page, 50 entries);
- an item's versions, `/api/items/{id}/versions`, for an item of the mean number of
  versions (the median item has one or two);
- the feed of edits again as a conditional GET, `If-None-Match` with the ETag it
  answered, so the service answers 304 without building the feed;
- the feed of the picked item's source, `/feeds/sources/{id}.atom`;
- `/api/changes?since=CURSOR` with the cursor a poller holds after "latest" (nothing new);
- `/healthz` (one `SELECT 1`): what any request that reads the database costs here;
- bench/raw_asgi.py under the same uvicorn (no framework, no database), with as many
  processes: what the server alone costs, the floor redline's requests/s are read against.

Before timing, one request of each is checked (200 with a body, or 304), and the SQL
statements one request sends are counted in-process on the same app. Each endpoint gets a
warm-up run and a run at one connection (its service time without queueing), then --runs
runs at --connections, the endpoints taking turns so machine noise spreads over all of
them; the table gives the median and the range of requests/s and of wrk's p99, and the
server's CPU use during the runs (from /proc: one core is 100 %). wrk runs with --timeout
30s: at its default of 2 s, the slowest requests would count as timeouts and be left out
of its percentiles.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import os
import re
import sys
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx  # noqa: E402
from sqlalchemy import func, select  # noqa: E402

from bench.harness.databases import PG_URL, pg_server_line  # noqa: E402
from bench.harness.paths import REDLINE, ROOT  # noqa: E402
from bench.harness.processes import cpu_seconds, serving, settle  # noqa: E402
from bench.harness.results import RESULTS, load_line, machine_lines, publish  # noqa: E402
from bench.harness.timing import median_and_spread, median_text  # noqa: E402
from bench.harness.wrk import parse_wrk, run_wrk, wrk_options, wrk_version  # noqa: E402
from bench.world import FULL  # noqa: E402
from bench.world_database import Database, chosen_databases, ensure_data  # noqa: E402
from storage import Item, make_engine  # noqa: E402

SECTION = f"## Serving on {FULL:,} versions"
COMMAND = ".venv/bin/python bench/bench_serve.py --write"
TARGET_P99_MS = 50.0


@dataclass(frozen=True)
class Endpoint:
    name: str
    path: str
    status: int  # what the checked request must answer
    headers: tuple[tuple[str, str], ...] = ()
    target: bool = True  # False: a reference row, not one of the targets


@dataclass
class WrkRun:
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int  # socket errors (connect, read, write) and non-2xx/3xx answers
    timeouts: int  # requests unanswered after --timeout: not in wrk's latency figures
    server_cpu: float  # the server's CPU seconds per second of the run (1.0 = one core)


@dataclass
class Row:
    endpoint: Endpoint
    backend: str
    statements: int  # SQL statements one request sends (counted in-process)
    workers: int  # server processes (`redline serve --workers N`)
    alone: WrkRun | None = None  # one connection: the service time without queueing
    runs: list[WrkRun] = field(default_factory=list)

    def spread(self, attribute: str) -> tuple[float, float, float]:
        return median_and_spread([getattr(run, attribute) for run in self.runs])

    @property
    def label(self) -> str:
        return f"{self.backend} ×{self.workers}"

    @property
    def met(self) -> bool:
        return self.spread("p99_ms")[0] < TARGET_P99_MS


# --- the service ----------------------------------------------------------------------------


def redline_serve(url: str, workers: int) -> contextlib.AbstractContextManager[tuple[int, int]]:
    """`redline serve` on this database at a free port, with `workers` processes."""
    return serving(
        lambda port: (
            [str(REDLINE), "--db", url, "serve", "--port", str(port)]
            + (["--workers", str(workers)] if workers > 1 else [])
        )
    )


def raw_asgi_serve(workers: int) -> contextlib.AbstractContextManager[tuple[int, int]]:
    """bench/raw_asgi.py's app under uvicorn, as `redline serve` runs it: the floor."""
    return serving(
        lambda port: (
            [sys.executable, "-m", "uvicorn", "bench.raw_asgi:app", "--port", str(port)]
            + ["--log-level", "warning", "--workers", str(workers)]
        ),
        cwd=ROOT,
    )


# --- what is asked --------------------------------------------------------------------------


@dataclass(frozen=True)
class Picked:
    item: int
    versions: int
    mean: float
    median: int
    source: int  # the item's source: its feed is the per-source feed asked for


def pick_item(url: str) -> Picked:
    """The lowest-id item whose version count is the mean, rounded (a typical busy item)."""
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            items, versions = connection.execute(
                select(func.count(), func.sum(Item.version_count))
            ).one()
            mean = versions / items
            wanted = round(mean)
            item = connection.execute(
                select(func.min(Item.id)).where(Item.version_count == wanted)
            ).scalar_one()
            median = connection.execute(
                select(Item.version_count).order_by(Item.version_count).offset(items // 2).limit(1)
            ).scalar_one()
            source = connection.execute(select(Item.source_id).where(Item.id == item)).scalar_one()
    finally:
        engine.dispose()
    return Picked(int(item), wanted, float(mean), int(median), int(source))


def endpoints(base: str, picked: Picked) -> list[Endpoint]:
    """The five requests, and /healthz as a floor; the conditional GET carries the ETag the
    feed answers now."""
    feed = "/feeds/edits.atom"
    answer = httpx.get(base + feed, timeout=60)
    answer.raise_for_status()
    etag = answer.headers["etag"]
    # A client polling the change log: its cursor from "latest", so each poll finds nothing
    # new (the steady state of a poller between edits).
    latest = httpx.get(base + "/api/changes", params={"since": "latest"}, timeout=60)
    latest.raise_for_status()
    return [
        Endpoint("Atom feed of edits", feed, 200),
        Endpoint(
            f"item versions ({picked.versions} versions)",
            f"/api/items/{picked.item}/versions",
            200,
        ),
        Endpoint("feed of edits, conditional GET → 304", feed, 304, (("If-None-Match", etag),)),
        Endpoint(
            f"Atom feed of source {picked.source}", f"/feeds/sources/{picked.source}.atom", 200
        ),
        Endpoint(
            "/api/changes?since= (nothing new)", f"/api/changes?since={latest.json()['next']}", 200
        ),
        Endpoint("floor: /healthz (SELECT 1), no target", "/healthz", 200, target=False),
    ]


def verify(base: str, endpoint: Endpoint, picked: Picked) -> str:
    """One request must answer as expected before it is timed; a line describing the answer."""
    answer = httpx.get(base + endpoint.path, headers=dict(endpoint.headers), timeout=60)
    if answer.status_code != endpoint.status:
        raise SystemExit(f"{endpoint.path}: answered {answer.status_code}, not {endpoint.status}")
    if endpoint.status == 304:
        if answer.content:
            raise SystemExit(f"{endpoint.path}: a 304 with a body")
        return f"304, no body, ETag {answer.headers.get('etag')}"
    if not answer.content:
        raise SystemExit(f"{endpoint.path}: an empty body")
    kind = answer.headers.get("content-type", "").split(";")[0]
    extra = ""
    if endpoint.path.startswith("/api/items/"):
        count = len(answer.json()["versions"])  # the object `redline history --json` prints
        if count != picked.versions:
            raise SystemExit(f"{endpoint.path}: {count} versions, not {picked.versions}")
        extra = f", {count} versions"
    elif endpoint.path.startswith("/api/changes"):
        extra = f", {len(answer.json()['changes'])} changes"
    elif kind == "application/atom+xml":
        extra = f", {answer.text.count('<entry>')} entries"
    return f"200, {kind}, {len(answer.content):,} bytes{extra}"


def statements_per_request(url: str, base: str, chosen: list[Endpoint]) -> dict[str, int]:
    """The SQL statements one request of each endpoint sends, counted in this process on
    redline's app (the same code and settings as `redline serve` at `base`), after one
    request to warm up."""
    import warnings

    from sqlalchemy import event

    from feeds.app import create_app
    from feeds.settings import ServiceSettings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Starlette's TestClient on httpx: a deprecation
        from starlette.testclient import TestClient

        engine = make_engine(url)
        sent = 0

        def count(*_: object) -> None:
            nonlocal sent
            sent += 1

        event.listen(engine, "before_cursor_execute", count)
        found = {}
        try:
            app = create_app(engine, ServiceSettings(public_url=base))
            with TestClient(app) as client:
                for endpoint in chosen:
                    client.get(endpoint.path, headers=dict(endpoint.headers))
                    sent = 0
                    answer = client.get(endpoint.path, headers=dict(endpoint.headers))
                    assert answer.status_code == endpoint.status, (endpoint, answer.status_code)
                    found[endpoint.name] = sent
        finally:
            engine.dispose()
    return found


# --- wrk ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Load:
    seconds: int
    connections: int
    timeout: int  # wrk --timeout, seconds

    def command(self, endpoint: Endpoint | None = None) -> list[str]:
        headers = []
        for name, value in endpoint.headers if endpoint else ():
            headers += ["-H", f"{name}: {value}"]
        latency = [f"--timeout={self.timeout}s", "--latency"]
        return wrk_options(self.connections, self.seconds, *latency, *headers)


def timed_run(base: str, endpoint: Endpoint, load: Load, pid: int) -> WrkRun:
    """One wrk run against the endpoint, once the server is idle, and the server's CPU use."""
    settle(pid)
    before, t0 = cpu_seconds(pid), time.monotonic()
    output = run_wrk([*load.command(endpoint), base + endpoint.path])
    cpu = (cpu_seconds(pid) - before) / (time.monotonic() - t0)
    rate, p50, p99, requests, errors, timeouts = parse_wrk(output)
    return WrkRun(rate, p50, p99, requests, errors, timeouts, cpu)


# --- a backend ------------------------------------------------------------------------------


@dataclass
class Measured:
    rows: list[Row]
    picked: Picked
    answers: dict[str, str]  # endpoint name -> what the checked request answered


FLOOR = Endpoint("floor: raw ASGI app (uvicorn, no framework, no database)", "/", 200, target=False)
NO_DATABASE = "none"


def measure(db: Database, load: Load, runs: int, warmup: int, workers: int) -> Measured:
    picked = pick_item(db.url)
    with redline_serve(db.url, workers) as (port, pid):
        base = f"http://127.0.0.1:{port}"
        chosen = endpoints(base, picked)
        answers = {}
        for endpoint in chosen:
            answers[endpoint.name] = verify(base, endpoint, picked)
            print(f"{db.backend:10} {endpoint.name}: {answers[endpoint.name]}", flush=True)
        statements = statements_per_request(db.url, base, chosen)
        rows = [Row(e, db.backend, statements[e.name], workers) for e in chosen]
        time_rows(base, pid, rows, load, runs, warmup)
        for endpoint in chosen:  # the answers did not change under load
            verify(base, endpoint, picked)
    return Measured(rows, picked, answers)


def measure_floor(load: Load, runs: int, warmup: int, workers: int) -> Row:
    row = Row(FLOOR, NO_DATABASE, 0, workers)
    with raw_asgi_serve(workers) as (port, pid):
        base = f"http://127.0.0.1:{port}"
        answer = httpx.get(base + FLOOR.path, timeout=60)
        if answer.status_code != 200 or not answer.content:
            raise SystemExit(f"the raw ASGI app answered {answer.status_code}")
        time_rows(base, pid, [row], load, runs, warmup)
    return row


def time_rows(base: str, pid: int, rows: list[Row], load: Load, runs: int, warmup: int) -> None:
    """A warm-up run and a run at one connection per row, then `runs` runs at load's
    connections, the rows taking turns so machine noise spreads over all of them."""
    warm = Load(warmup, load.connections, load.timeout)
    alone = Load(warmup, 1, load.timeout)
    for row in rows:
        first = timed_run(base, row.endpoint, warm, pid)
        row.alone = timed_run(base, row.endpoint, alone, pid)
        print(
            f"{row.label:14} warm-up {row.endpoint.name}: {first.requests_per_s:.0f} "
            f"req/s, p99 {first.p99_ms:.1f} ms; one connection: p50 "
            f"{row.alone.p50_ms:.2f} ms; {row.statements} SQL statements a request",
            flush=True,
        )
    for run in range(1, runs + 1):
        for row in rows:
            result = timed_run(base, row.endpoint, load, pid)
            row.runs.append(result)
            print(
                f"{row.label:14} run {run} {row.endpoint.name:42} "
                f"{result.requests_per_s:8.0f} req/s  p50 {result.p50_ms:7.1f} ms  "
                f"p99 {result.p99_ms:7.1f} ms  errors {result.errors}  timeouts "
                f"{result.timeouts}  server CPU {result.server_cpu * 100:.0f} %",
                flush=True,
            )


# --- report ---------------------------------------------------------------------------------


def verdict(row: Row) -> str:
    p99 = row.spread("p99_ms")[0]
    if not row.endpoint.target:
        return "(reference)"
    if row.met:
        return f"met ({p99:.1f} ms < {TARGET_P99_MS:.0f} ms)"
    return (
        f"**missed** by {p99 - TARGET_P99_MS:,.0f} ms "
        f"({p99 / TARGET_P99_MS:.1f}× the {TARGET_P99_MS:.0f} ms target)"
    )


def span(row: Row, attribute: str, digits: int) -> str:
    return median_text([getattr(run, attribute) for run in row.runs], f",.{digits}f")


def event_loop_line() -> str:
    extras = [name for name in ("uvloop", "httptools") if importlib.util.find_spec(name)]
    if extras:
        return f"{' and '.join(extras)} installed (uvicorn uses them)"
    return "asyncio and h11: neither uvloop nor httptools is installed"


def section(
    versions: int,
    measured: dict[tuple[str, int], Measured],
    floors: dict[int, Row],
    pg_server: str | None,
    load: Load,
    runs: int,
    warmup: int,
    load_average: tuple[float, float, float],
) -> str:
    first = next(iter(measured.values()))
    picked = first.picked
    libraries = ", ".join(
        f"{name} {metadata.version(name)}" for name in ("uvicorn", "fastapi", "sqlalchemy")
    )
    backends = sorted({backend for backend, _ in measured}, key=["sqlite", "postgresql"].index)
    databases = "SQLite (WAL)" + (f", {pg_server}" if pg_server else "")
    needed = load.connections / (TARGET_P99_MS / 1000)
    lines = [
        f"## Serving on {versions:,} versions",  # SECTION, on the full run
        "",
        *machine_lines(),
        f"- Service: `redline serve --db URL --port PORT` ({libraries}; {event_loop_line()}), "
        "one process, then again with `--workers 2` (two worker processes under uvicorn's "
        f"supervisor; wrk shares the machine's {os.cpu_count()} cores with them)",
        "- Floor: bench/raw_asgi.py, an ASGI app with no framework and no database answering "
        "a fixed 15-byte JSON body, under the same uvicorn (`python -m uvicorn "
        "bench.raw_asgi:app --workers N`), measured in the same run: what the server alone "
        "costs a request on this machine",
        f"- Databases: {databases}; the data of [Hot queries](#hot-queries-on-1000000-versions) "
        "(bench_queries.py, seeded), read only",
        f"- Load: {wrk_version()} on the same machine, `wrk "
        f"{' '.join(load.command())} URL` (wrk's default 2 s timeout would leave the slowest "
        f"requests out of its percentiles): a {warmup} s warm-up run per endpoint, a {warmup} s "
        f"run at one connection, then {runs} runs of {load.seconds} s, the endpoints taking turns",
        load_line(load_average, "when the runs started"),
        f"- Command: `{COMMAND}`",
        "",
        "Routes as redline names them (as in the issue): the feed of edits is "
        "`/feeds/edits.atom` (its newest page); an item's versions are "
        f"`/api/items/{{id}}/versions`, asked for item {picked.item}, which has "
        f"{picked.versions} versions, the mean rounded ({picked.mean:.2f} versions per item; "
        f"the median item has {picked.median}); the conditional GET is the feed of edits "
        "with `If-None-Match: <its ETag>`. `/healthz` (one `SELECT 1`) is what any request "
        "that reads the database costs in this service. One request of each was checked "
        "before timing and again after: "
        + "; ".join(f"{name}: {answer}" for name, answer in first.answers.items())
        + ".",
        "",
        "Requests/s and wrk's p50 and p99 latency at "
        f"{load.connections} connections: median of the runs (min–max). Of floor: requests/s "
        "as a share of the raw-ASGI floor's with as many processes. One connection: "
        "wrk's p50 with a single connection, the time one request takes without queueing. "
        "SQL: statements one request sends (counted in-process on the same app). Server "
        "CPU: CPU seconds of the server's processes per second of the run (100 % = one "
        f"core of {os.cpu_count()}, which wrk shares). Errors: socket errors, timeouts and "
        f"non-2xx/3xx answers, over all runs. Target: p99 under {TARGET_P99_MS:.0f} ms. With "
        f"{load.connections} connections each sending its next request as soon as the last "
        "is answered, the mean latency is connections ÷ throughput (Little's law): a mean "
        f"under {TARGET_P99_MS:.0f} ms needs more than {needed:,.0f} requests/s.",
    ]
    order = {row.endpoint.name: i for i, row in enumerate(first.rows)}
    verdicts = []
    for workers, floor in floors.items():
        rows = [row for (_, w), m in measured.items() if w == workers for row in m.rows]
        rows.sort(key=lambda r: (order[r.endpoint.name], backends.index(r.backend)))
        title = "One process (the target)" if workers == 1 else f"`--workers {workers}`"
        lines += ["", f"### {title}", "", *table([floor, *rows], floor)]
        judged = [row for row in rows if row.endpoint.target]
        missed = [row for row in judged if not row.met]
        verdicts.append(
            f"{title}: target missed by {len(missed)} of {len(judged)} rows."
            if missed
            else f"{title}: target met by all {len(judged)} rows."
        )
    lines += ["", " ".join(verdicts), "", WHAT_IS_MEASURED]
    return "\n".join(lines) + "\n"


def table(rows: list[Row], floor: Row) -> list[str]:
    floor_rate = floor.spread("requests_per_s")[0]
    lines = [
        "| endpoint | backend | requests/s | of floor | p50 ms | p99 ms | one connection p50 ms "
        "| SQL | server CPU | errors | p99 < 50 ms |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for row in rows:
        cpu = row.spread("server_cpu")[0] * 100
        alone = f"{row.alone.p50_ms:.2f}" if row.alone else ""
        errors = sum(run.errors + run.timeouts for run in row.runs)
        share = row.spread("requests_per_s")[0] / floor_rate if floor_rate else 0.0
        lines.append(
            f"| {row.endpoint.name} | {row.backend} | {span(row, 'requests_per_s', 0)} "
            f"| {share:.0%} | {row.spread('p50_ms')[0]:,.1f} | {span(row, 'p99_ms', 1)} "
            f"| {alone} | {row.statements} | {cpu:.0f} % | {errors} | {verdict(row)} |"
        )
    return lines


# What the rows measure, and what they leave out.
WHAT_IS_MEASURED = (
    "What these rows measure: nothing is written while wrk runs, so after its first "
    "request each feed page and the item's versions are answered from the pages kept in "
    "memory (feeds/hot_pages.py, 0 statements a request; the change log's generation is "
    "read at most twice a second, which the SQL column, counted on single requests, does "
    "not show). `/api/changes?since=` answers a poller with nothing new from that "
    "generation too; a poll with changes to fetch reads the change log after its cursor. "
    "Before the pages were kept (2026-11-21, same database, uvicorn on h11): the feed of "
    "edits 43 requests/s with a p99 of 1,380 ms, item versions 320/s and 238 ms, the 304 "
    "528/s and 176 ms. A page is built again by the first request after a change is "
    "recorded (about 12 ms a page at 100,000 versions, issue 19's profile), or in the "
    "background when it is a minute old, the old page answering meanwhile; a daemon "
    "recording changes while readers poll makes some answers that slow, which these runs "
    "do not show. With `--workers 2` each worker keeps its own pages (memory per worker) "
    "and wrk competes with both for the 2 cores, so two workers are not twice one. "
    "`/healthz` still opens a session and hops threads for its `SELECT 1` (it has no "
    "target); each request takes a pooled connection, so at 32 connections it waits for "
    "the pool (`[database] pool_size` 5 + `max_overflow` 10 per process: on PostgreSQL "
    "with two workers, its p99 was 2.6 s in one run and 3.3 s in the next); the routes "
    "with targets read no connection."
)


def whole_seconds(text: str) -> int:
    match = re.fullmatch(r"(\d+)s?", text)
    if match is None or int(match.group(1)) < 1:
        raise argparse.ArgumentTypeError(f"a whole number of seconds, like 10s: {text!r}")
    return int(match.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--duration", type=whole_seconds, default=10, help="per run (10s)")
    parser.add_argument("--warmup", type=whole_seconds, default=5, help="warm-up run (5s)")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections (32)")
    parser.add_argument("--timeout", type=whole_seconds, default=30, help="wrk --timeout (30s)")
    parser.add_argument("--runs", type=int, default=3, help="timed runs per endpoint (3)")
    parser.add_argument("--versions", type=int, default=FULL, help="database size (smoke tests)")
    parser.add_argument("--pg-url", default=PG_URL, help="the PostgreSQL server (bench_queries')")
    parser.add_argument(
        "--workers", type=int, nargs="+", default=[1, 2], help="server processes (1 2)"
    )
    parser.add_argument("--write", action="store_true", help=f"update {RESULTS.name}")
    args = parser.parse_args()
    scale, dbs = chosen_databases(parser, args)
    for db in dbs.values():
        ensure_data(db, scale, rebuild=False)  # reused when complete; built once otherwise
    load = Load(args.duration, args.connections, args.timeout)
    load_average = os.getloadavg()
    floors: dict[int, Row] = {}
    measured: dict[tuple[str, int], Measured] = {}
    for workers in args.workers:
        floors[workers] = measure_floor(load, args.runs, args.warmup, workers)
        for backend, db in dbs.items():
            measured[backend, workers] = measure(db, load, args.runs, args.warmup, workers)
    pg_server = pg_server_line(dbs["postgresql"].url) if "postgresql" in dbs else None
    text = section(
        scale.versions, measured, floors, pg_server, load, args.runs, args.warmup, load_average
    )
    publish(SECTION, text, args.write)


if __name__ == "__main__":
    main()
