"""Resident memory of `redline run` tracking 10,000 sources, fetched for real from 127.0.0.1.

Run by hand from the repository root (never as a test):

    .venv/bin/python bench/bench_memory.py --write            # 10,000 sources, update RESULTS.md
    .venv/bin/python bench/bench_memory.py --sources 500 --runs 1   # smoke test

Pages: bench/pages.py writes --sources Offstream-style item pages (seeded) into a temporary
directory, spread round robin over --hosts loopback addresses (127.0.0.1, 127.0.0.2, ...:
all of 127.0.0.0/8 is loopback on Linux), each standing for one site, so redline's per-host
politeness ([daemon] per_host, host_delay) applies as it would to that many sites (with
host_delay 0.1 s by default here, not redline's 1 s: at 1 s, 20 sites allow 20 checks a
second and a first round of 10,000 sources takes over 8 minutes). Debian's nginx
(bench/harness/nginx.py) serves them on every address, with ETag and Last-Modified, so a
later check of an unchanged page is a conditional GET answered 304.

The daemon: a redline.toml lists every page as a `[[source]]` (kind offstream, its own
`every`, so item-page aging does not retire them) with `[daemon]` settings as given, and
`redline run --config redline.toml --tick 1s` adds them all at start and checks them as they
fall due, on a new SQLite database in the temporary directory. Fetching from loopback is
refused by default; REDLINE_ALLOW_NETWORKS=127.0.0.0/8 allows it (tracker/fetch/addresses.py).

Sampling: the RSS of the process and of any children (VmRSS in /proc/PID/status) every
0.2 s from start to stop. Phases, read from the database each second: start-up (until the
daemon has added the sources and says so), the first-sight round (until every source has been
checked once), then the later rounds: --edit of the pages are edited in place (bench/pages.py
edit_pages) and the daemon runs on until it has done --later-rounds × sources more checks.
Then SIGTERM (the daemon finishes its checks in flight and exits 0). Peak: the largest
sample; steady: the median sample of the later rounds.
"""

from __future__ import annotations

import argparse
import os
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from importlib import metadata
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness.nginx import nginx_version, serve_directory  # noqa: E402
from bench.harness.paths import REDLINE  # noqa: E402
from bench.harness.processes import clean_env, rss_bytes, stop  # noqa: E402
from bench.harness.results import RESULTS, load_line, machine_lines, publish  # noqa: E402
from bench.harness.timing import median_and_spread, median_text  # noqa: E402
from bench.pages import edit_pages, write_item_pages  # noqa: E402
from tracker.run.config import DaemonSettings  # noqa: E402

FULL = 10_000
SECTION = f"## Memory: `redline run` with {FULL:,} sources"
COMMAND = ".venv/bin/python bench/bench_memory.py --write"
TARGET_MB = 200.0
MB = 1_000_000  # the target's megabytes: RSS in bytes / 10^6
SAMPLE_EVERY = 0.2  # seconds between RSS samples
SEED = 20261121
ALLOW = "127.0.0.0/8"


# --- the process's memory -------------------------------------------------------------------


@dataclass
class Sampler:
    """Samples the RSS of `pid` every SAMPLE_EVERY seconds on a thread, tagged with a phase."""

    pid: int
    phase: str = "start-up"
    samples: list[tuple[float, str, int]] = field(default_factory=list)  # (t, phase, bytes)
    _stop: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self._t0 = time.monotonic()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            rss = rss_bytes(self.pid)
            if rss:
                self.samples.append((time.monotonic() - self._t0, self.phase, rss))
            self._stop.wait(SAMPLE_EVERY)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def of(self, phase: str) -> list[int]:
        return [rss for _, p, rss in self.samples if p == phase]


# --- the daemon's database, read from outside -----------------------------------------------


def progress(db: Path) -> tuple[int, int, int]:
    """(sources, sources checked at least once, checks) so far; zeros before the schema."""
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as connection:
            sources, checked = connection.execute(
                "SELECT count(*), count(last_checked_at) FROM source"
            ).fetchone()
            checks = connection.execute('SELECT count(*) FROM "check"').fetchone()[0]
        return int(sources), int(checked), int(checks)
    except sqlite3.Error:
        return 0, 0, 0


def outcomes(db: Path) -> tuple[Counter[str], int, int, list[tuple[str, int]]]:
    """Checks by outcome, versions and items stored, and the commonest errors."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as connection:
        counts = Counter(
            dict(connection.execute('SELECT outcome, count(*) FROM "check" GROUP BY outcome'))
        )
        versions = connection.execute("SELECT count(*) FROM version").fetchone()[0]
        items = connection.execute("SELECT count(*) FROM item").fetchone()[0]
        errors = connection.execute(
            'SELECT error, count(*) FROM "check" WHERE error IS NOT NULL '
            "GROUP BY error ORDER BY count(*) DESC LIMIT 3"
        ).fetchall()
    return counts, int(versions), int(items), [(str(e), int(n)) for e, n in errors]


# --- one run --------------------------------------------------------------------------------


@dataclass
class Settings:
    sources: int
    hosts: int
    every: str
    concurrency: int
    per_host: int
    host_delay: str
    edit: float
    later_rounds: float
    timeout: float


@dataclass
class RunResult:
    startup_mb: float  # the last sample of start-up (sources added, nothing checked yet)
    peak_mb: float
    peak_phase: str
    first_round_mb: float  # the largest sample of the first-sight round
    steady_mb: float  # the median sample of the later rounds
    growth_mb: float  # the last sample of the later rounds less their first
    seconds: dict[str, float]  # per phase
    checks: Counter[str]
    versions: int
    items: int
    samples: int
    exit_status: int
    completed: bool  # every phase ran to its end (not stopped by --timeout)

    @property
    def checks_total(self) -> int:
        return sum(self.checks.values())


def config_text(db: Path, urls: list[str], settings: Settings) -> str:
    lines = [
        f'db = "sqlite:///{db}"',
        "",
        "[daemon]",
        f"concurrency = {settings.concurrency}",
        f"per_host = {settings.per_host}",
        f'host_delay = "{settings.host_delay}"',
        "",
    ]
    for url in urls:
        lines += [
            "[[source]]",
            f'url = "{url}"',
            'kind = "offstream"',
            f'every = "{settings.every}"',
        ]
    return "\n".join(lines) + "\n"


def wait_until(condition: object, deadline: float, daemon: subprocess.Popen[bytes]) -> bool:
    """Poll `condition` (a callable) each second until true; False at the deadline."""
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return True
        if daemon.poll() is not None:
            raise SystemExit(f"redline run exited early with {daemon.returncode}")
        time.sleep(1.0)
    return False


def one_run(settings: Settings, run: int) -> RunResult:
    hosts = tuple(f"127.0.0.{i}" for i in range(1, settings.hosts + 1))
    with tempfile.TemporaryDirectory(prefix="redline-memory-") as tmp:
        root, db = Path(tmp) / "site", Path(tmp) / "redline.db"
        pages = write_item_pages(root, settings.sources, seed=SEED + run, hosts=hosts)
        with serve_directory(root, hosts, workers=1) as port:
            config = Path(tmp) / "redline.toml"
            config.write_text(config_text(db, [page.url(port) for page in pages], settings))
            env = clean_env()
            env["REDLINE_ALLOW_NETWORKS"] = ALLOW
            log = Path(tmp) / "run.log"
            command = [str(REDLINE), "run", "--config", str(config), "--tick", "1s"]
            command += ["--every", settings.every]
            with log.open("wb") as out:
                daemon = subprocess.Popen(command, cwd=tmp, env=env, stdout=out, stderr=out)
            sampler = Sampler(daemon.pid)
            started = time.monotonic()
            deadline = started + settings.timeout
            marks = {"start": started}
            completed = False
            try:
                # Start-up: until the daemon says it is checking all the sources.
                wait_until(lambda: b"checking " in log.read_bytes(), deadline, daemon)
                marks["first-sight round"] = time.monotonic()
                sampler.phase = "first-sight round"
                n = settings.sources
                done = wait_until(lambda: progress(db)[1] >= n, deadline, daemon)
                first_round, _, _, errors = outcomes(db)
                if first_round["error"] > first_round.total() // 2:
                    raise SystemExit(f"most checks of the first round failed: {errors}")
                if done:
                    marks["later rounds"] = time.monotonic()
                    sampler.phase = "later rounds"
                    edit_pages(root, pages, settings.edit, seed=SEED + 1000 + run)
                    wanted = progress(db)[2] + round(settings.later_rounds * n)
                    completed = wait_until(lambda: progress(db)[2] >= wanted, deadline, daemon)
                marks["stop"] = time.monotonic()
            finally:
                sampler.stop()
                status = stop(daemon, signal.SIGTERM, timeout=60)
            if status != 0:
                print(log.read_text()[-3000:])
            checks, versions, items, errors = outcomes(db)
            for error, count in errors:
                print(f"  {count} checks failed: {error}")
    phases = list(marks)
    seconds = {a: marks[b] - marks[a] for a, b in zip(phases, phases[1:], strict=False)}
    seconds = {("start-up" if k == "start" else k): v for k, v in seconds.items()}
    peak = max(sampler.samples, key=lambda s: s[2])
    startup = sampler.of("start-up")
    first = sampler.of("first-sight round")
    later = sampler.of("later rounds")
    return RunResult(
        startup_mb=(startup[-1] if startup else 0) / MB,
        peak_mb=peak[2] / MB,
        peak_phase=peak[1],
        first_round_mb=max(first, default=0) / MB,
        steady_mb=statistics.median(later) / MB if later else float("nan"),
        growth_mb=(later[-1] - later[0]) / MB if later else float("nan"),
        seconds=seconds,
        checks=checks,
        versions=versions,
        items=items,
        samples=len(sampler.samples),
        exit_status=status,
        completed=completed,
    )


def floor_mb(settings: Settings) -> float:
    """Peak RSS of `redline run` with no sources at all, over its first 5 s of running: what
    the process costs before any source (interpreter, libraries, scheduler, pools)."""
    empty = replace(settings, sources=0)
    with tempfile.TemporaryDirectory(prefix="redline-memory-") as tmp:
        db, config, log = Path(tmp) / "redline.db", Path(tmp) / "redline.toml", Path(tmp) / "log"
        config.write_text(config_text(db, [], empty))
        command = [str(REDLINE), "run", "--config", str(config), "--tick", "1s"]
        env = clean_env()
        with log.open("wb") as out:
            daemon = subprocess.Popen(command, cwd=tmp, env=env, stdout=out, stderr=out)
        sampler = Sampler(daemon.pid)
        try:
            wait_until(lambda: b"checking " in log.read_bytes(), time.monotonic() + 60, daemon)
            time.sleep(5)
        finally:
            sampler.stop()
            stop(daemon, signal.SIGTERM, timeout=60)
    return max(rss for _, _, rss in sampler.samples) / MB


# --- report ---------------------------------------------------------------------------------


def section(
    settings: Settings, results: list[RunResult], floor: float, load: tuple[float, ...]
) -> str:
    peak = median_and_spread([r.peak_mb for r in results])
    met = peak[0] < TARGET_MB
    verdict = (
        f"met: median peak {peak[0]:.0f} MB < {TARGET_MB:.0f} MB"
        if met
        else f"**missed**: median peak {peak[0]:.0f} MB, {peak[0] - TARGET_MB:.0f} MB "
        f"({peak[0] / TARGET_MB - 1:.0%}) over the {TARGET_MB:.0f} MB target"
    )
    n = settings.sources
    defaults = DaemonSettings()
    lines = [
        f"## Memory: `redline run` with {n:,} sources",  # SECTION, on the full run
        "",
        *machine_lines(),
        f"- redline {metadata.version('redline')}, SQLite (a new database per run), "
        f"{nginx_version()} serving the pages",
        f"- Sources: {n:,} Offstream-style item pages (bench/pages.py, seeded), spread over "
        f"{settings.hosts} loopback addresses standing for {settings.hosts} sites; each a "
        f'`[[source]]` of a redline.toml with kind "offstream" and every = '
        f'"{settings.every}"; `[daemon]` concurrency = {settings.concurrency}, per_host = '
        f'{settings.per_host}, host_delay = "{settings.host_delay}" (redline\'s defaults: '
        f"{defaults.concurrency}, {defaults.per_host}, "
        f"{defaults.host_delay.total_seconds():g} s)",
        f"- Daemon: `REDLINE_ALLOW_NETWORKS={ALLOW} redline run --config redline.toml "
        f"--tick 1s --every {settings.every}` (loopback is refused without the variable)",
        f"- Phases: start-up (the sources added), a first-sight round (until every source was "
        f"checked once), then {settings.edit:.0%} of the pages edited and "
        f"{settings.later_rounds:g} × {n:,} more checks (conditional GETs: nginx answers "
        "304 for an unchanged page); then SIGTERM",
        f"- RSS: VmRSS of the process and its children, sampled every {SAMPLE_EVERY} s from "
        "start to stop; MB = 10^6 bytes",
        load_line(load, "when the runs started"),
        f"- Command: `{COMMAND}`"
        + (f" (this run: `{' '.join(sys.argv[1:])}`)" if sys.argv[1:] != ["--write"] else ""),
        "",
        "| run | after start-up MB | peak MB (phase) | first round max MB | steady MB "
        "(later rounds, median) | growth over later rounds MB | seconds: start-up / first "
        "round / later | checks: changed / unchanged / not modified / error | versions | exit |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | --- | --- | ---: | ---: |",
    ]
    for number, r in enumerate(results, 1):
        secs = " / ".join(
            f"{r.seconds.get(phase, float('nan')):.0f}"
            for phase in ("start-up", "first-sight round", "later rounds")
        )
        checks = " / ".join(
            f"{r.checks.get(outcome, 0):,}"
            for outcome in ("changed", "unchanged", "not_modified", "error")
        )
        note = "" if r.completed else " (stopped by --timeout)"
        lines.append(
            f"| {number}{note} | {r.startup_mb:.0f} | {r.peak_mb:.0f} ({r.peak_phase}) "
            f"| {r.first_round_mb:.0f} | {r.steady_mb:.0f} | {r.growth_mb:+.1f} | {secs} "
            f"| {checks} | {r.versions:,} | {r.exit_status} |"
        )
    lines += [
        "",
        f"Median (min–max) of {len(results)} runs: peak "
        f"{median_text([r.peak_mb for r in results], ',.0f')} MB; steady "
        f"{median_text([r.steady_mb for r in results], ',.0f')} MB; after start-up "
        f"{median_text([r.startup_mb for r in results], ',.0f')} MB; checks during sampling "
        f"{median_text([float(r.checks_total) for r in results], ',.0f')}. For comparison, "
        f"`redline run` with no source at all: {floor:.0f} MB (peak of its first 5 s).",
        "",
        f"Target (peak under {TARGET_MB:.0f} MB): {verdict}.",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sources", type=int, default=FULL, help=f"sources ({FULL:,})")
    parser.add_argument("--runs", type=int, default=3, help="runs (3)")
    parser.add_argument("--hosts", type=int, default=20, help="loopback addresses (20)")
    parser.add_argument("--every", default="1m", help="each source's interval (1m)")
    parser.add_argument("--concurrency", type=int, default=4, help="[daemon] concurrency (4)")
    parser.add_argument("--per-host", type=int, default=1, help="[daemon] per_host (1)")
    parser.add_argument("--host-delay", default="0.1s", help="[daemon] host_delay (0.1s)")
    parser.add_argument("--edit", type=float, default=0.05, help="pages edited after round 1")
    parser.add_argument(
        "--later-rounds", type=float, default=1.0, help="checks after round 1, × sources (1)"
    )
    parser.add_argument("--timeout", type=float, default=3600, help="seconds per run at most")
    parser.add_argument("--write", action="store_true", help=f"update {RESULTS.name}")
    args = parser.parse_args()
    if args.write and args.sources != FULL:
        parser.error(f"--write needs the full run: --sources {FULL}")
    if not 1 <= args.hosts <= 254:
        parser.error("--hosts is from 1 to 254")
    settings = Settings(
        sources=args.sources,
        hosts=args.hosts,
        every=args.every,
        concurrency=args.concurrency,
        per_host=args.per_host,
        host_delay=args.host_delay,
        edit=args.edit,
        later_rounds=args.later_rounds,
        timeout=args.timeout,
    )
    load = os.getloadavg()
    results = []
    for run in range(1, args.runs + 1):
        result = one_run(settings, run)
        results.append(result)
        phase_seconds = {phase: round(seconds) for phase, seconds in result.seconds.items()}
        print(
            f"run {run}: peak {result.peak_mb:.0f} MB ({result.peak_phase}), steady "
            f"{result.steady_mb:.0f} MB, after start-up {result.startup_mb:.0f} MB; "
            f"{result.checks_total:,} checks {dict(result.checks)}, {result.versions:,} "
            f"versions; seconds {phase_seconds}; "
            f"exit {result.exit_status}",
            flush=True,
        )
    floor = floor_mb(settings)
    print(f"redline run with no sources: {floor:.0f} MB")
    text = section(settings, results, floor, load)
    publish(SECTION, text, args.write)


if __name__ == "__main__":
    main()
