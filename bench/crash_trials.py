"""Crash trials: `redline run` killed with SIGKILL at random moments of an ingest, on SQLite
and PostgreSQL; after each kill the database must be whole and a restart must converge.

Run by hand from the repository root (never as a test):

    .venv/bin/python bench/crash_trials.py --write                  # 20 trials per backend
    .venv/bin/python bench/crash_trials.py --trials 3 --backend sqlite

The machinery is tests/test_crash.py's (the test suite runs a few trials of it): a local
server on 127.0.0.1 serves JSON listings of generated stories and real Offstream pages in
three states; the first two are ingested once into a prepared database, so the third brings
edits, removals, restorations and fuzzy matches. A reference `redline run` on a copy
ingests the third state uninterrupted; its timing gives the ingest window. Each trial copies
the prepared database, starts `redline run` on it and kills it with SIGKILL a delay after
its first listing fetch, drawn (seeded) evenly over that window, then checks:

1. integrity: SQLite `PRAGMA integrity_check` and `foreign_key_check`; on both backends no
   orphan rows (checks, items, aliases, matches, versions, changes without what they point
   at) and no duplicates (source URLs, version numbers, aliases, item keys);
2. no partial check: every check's versions_added and changes_added are the rows stored
   for it, every version has the change that leads to it, version numbers run 1..k,
   version_count and removed_at agree;
3. a restart converges: `redline run` again on the same database (the killed worker's leases
   expire after 2 s) ends with the same sources, items, versions (content hashes in order),
   changes, aliases, matches and checks as the reference.

Checks 1 and 2 run right after the kill and again after the restart. A kill "lands
mid-check" when the daemon had been served a page whose check was not committed; on
PostgreSQL the sequences also show rows that a transaction the kill ended had written.
PostgreSQL databases are named redline_crash_*; they and the SQLite files are removed.
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness.databases import PG_URL, backend_for, migrated_database  # noqa: E402
from bench.harness.results import machine_lines, write_section  # noqa: E402
from tests.databases import Backend  # noqa: E402
from tests.test_crash import (  # noqa: E402
    CrashSite,
    Prepared,
    Trial,
    make_prepared,
    make_workload,
    run_trial,
    spread_kill,
)

SECTION = "## Reliability: crash trials"
COMMAND = ".venv/bin/python bench/crash_trials.py --write"
SEED = 20261121
INTRODUCTION = """
`redline run` killed with SIGKILL at a random moment of an ingest, then checked: (1)
integrity, (2) no check stored in part, (3) a restarted daemon ends with the same content as
an uninterrupted run. Workload: {listings} JSON listings of {stories}+ generated stories and
4 Offstream sources (3 item pages whose URL moves with their headline, a day index), served
from 127.0.0.1; their third state is what the daemon ingests (edits, removals,
restorations, fuzzy matches, new items) into a database holding the first two. Each kill
comes a delay after the daemon's first listing fetch, drawn (seeded) evenly over the
reference run's ingest window (first listing fetch to last commit, +5 %).

Where a kill landed: *mid-check*, the daemon had been served a page whose check was not
committed; *mid-transaction*, besides, a write transaction was open an instant before the
kill (*writer open*: on SQLite another connection's `BEGIN IMMEDIATE` failed at once; on
PostgreSQL a session of the database held a transaction id) or, on PostgreSQL, *rows rolled
back*: ids the sequences gave out to rows that are not there, written by a transaction the
kill ended. *Leases left*: sources still leased to the killed worker, which the restarted one
took over once they expired. Method: `bench/crash_trials.py`, `tests/test_crash.py`.
"""
# Loopback is refused by redline's fetch guard unless allowed (as tests/conftest.py does).
ALLOW_LOOPBACK = "127.0.0.0/8,::1/128"


def where_killed(trial: Trial, prepared: Prepared) -> str:
    at = trial.at_kill
    assert at is not None
    if trial.mid_transaction:
        return "mid-transaction"
    if trial.mid_check:
        return "mid-check"
    if at.checks == prepared.reference.checks:
        return "after the ingest"
    if at.fetched == 0 and at.checks == 0:
        return "before the first fetch"
    return "between checks"


def short_name(path: str) -> str:
    """A source's path as the tables name it: "L3" (JSON listing 3), "item", "index"."""
    if path.startswith("/api/"):
        return f"L{path.split('/')[2]}"
    return "index" if path.endswith("/index.md") else "item"


def verdict(problems: list[str]) -> str:
    return "ok" if not problems else "**FAIL**"


def trial_row(number: int, trial: Trial, prepared: Prepared) -> str:
    at = trial.at_kill
    assert at is not None
    reference = prepared.reference
    in_flight = ", ".join(short_name(path) for path in at.in_flight) or "–"
    rolled_back = "–" if at.rolled_back is None else str(at.rolled_back)
    return (
        f"| {number} | {trial.killed_ms:,.0f} | {at.checks}/{reference.checks} "
        f"| {at.versions}/{reference.versions} | {where_killed(trial, prepared)} | {in_flight} "
        f"| {'yes' if at.writing else 'no'} | {rolled_back} | {at.leases} "
        f"| {verdict(trial.integrity)} | {verdict(trial.partial)} "
        f"| {verdict(trial.differences)} | {trial.restart_seconds:.1f} |"
    )


TRIAL_HEADER = [
    "| # | killed (ms after launch) | checks stored | versions stored | the kill landed "
    "| in flight | writer open | rows rolled back | leases left "
    "| 1 integrity | 2 no partial check | 3 converged | restart (s) |",
    "|---:|---:|---:|---:|---|---|---|---:|---:|---|---|---|---:|",
]


def run_backend(
    backend: Backend, site: CrashSite, trials: int, seed: int, folder: Path
) -> tuple[Prepared, list[Trial], list[str]]:
    """The prepared database, its reference run and `trials` kills; printed as they go."""
    empty = migrated_database(backend, "empty")
    started = time.monotonic()
    prepared = make_prepared(backend, empty, site, folder)
    backend.drop(empty)
    reference = prepared.reference
    print(
        f"{backend.name}: prepared and reference run in {time.monotonic() - started:.1f} s: "
        f"{reference.checks} checks, {reference.versions} versions, changes {reference.changes}; "
        f"ingest window {reference.first_fetch * 1000:.0f}-{reference.last_record * 1000:.0f} ms",
        flush=True,
    )
    rng = random.Random(f"{seed} {backend.name}")
    results: list[Trial] = []
    rows: list[str] = []
    try:
        for number in range(1, trials + 1):
            plan = spread_kill(rng, reference)
            trial = run_trial(backend, prepared, site, plan, folder)
            results.append(trial)
            rows.append(trial_row(number, trial, prepared))
            print(rows[-1], flush=True)
            for problem in trial.integrity + trial.partial + trial.differences:
                print(f"    {problem}", flush=True)
    finally:
        backend.drop(prepared.url)
    return prepared, results, rows


def summary_row(name: str, prepared: Prepared, trials: list[Trial]) -> str:
    places = [where_killed(t, prepared) for t in trials]
    rolled = [t.at_kill.rolled_back for t in trials if t.at_kill and t.at_kill.rolled_back]
    ok = {
        "1": sum(not t.integrity for t in trials),
        "2": sum(not t.partial for t in trials),
        "3": sum(not t.differences for t in trials),
    }
    restart = statistics.median(t.restart_seconds for t in trials)
    return (
        f"| {name} | {len(trials)} | {places.count('mid-transaction')} "
        f"| {places.count('mid-check')} "
        f"| {places.count('between checks')} | {places.count('before the first fetch')} "
        f"| {places.count('after the ingest')} "
        f"| {len(rolled)} | {ok['1']}/{len(trials)} | {ok['2']}/{len(trials)} "
        f"| {ok['3']}/{len(trials)} | {restart:.1f} |"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=20, help="kills per backend (default 20)")
    parser.add_argument("--backend", choices=("both", "sqlite", "postgresql"), default="both")
    parser.add_argument("--listings", type=int, default=6, help="JSON listings (default 6)")
    parser.add_argument("--stories", type=int, default=200, help="stories a listing starts with")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--pg-url", default=PG_URL, help="a PostgreSQL server")
    parser.add_argument("--write", action="store_true", help="replace the section of RESULTS.md")
    args = parser.parse_args()

    os.environ["REDLINE_ALLOW_NETWORKS"] = ALLOW_LOOPBACK  # for the daemons it starts, too
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # a line per request otherwise
    names = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    site = CrashSite(make_workload(args.seed, args.listings, args.stories))
    site.start()
    summaries: list[str] = []
    details: list[str] = []
    failures = 0
    mid_transactions = total = 0
    try:
        for name in names:
            with backend_for(name, args.pg_url, "crash") as (backend, folder):
                prepared, trials, rows = run_backend(backend, site, args.trials, args.seed, folder)
            summaries.append(summary_row(name, prepared, trials))
            failures += sum(not t.ok for t in trials)
            mid_transactions += sum(t.mid_transaction for t in trials)
            total += len(trials)
            reference = prepared.reference
            kinds = ", ".join(f"{n} {kind}" for kind, n in sorted(reference.changes.items()))
            details += [
                f"### {name}",
                "",
                f"Reference run: {reference.checks} checks, {reference.versions} versions and "
                f"changes ({kinds}); first listing served {reference.first_fetch * 1000:,.0f} ms "
                f"after the launch, last check committed at {reference.last_record * 1000:,.0f} "
                f"ms; the quickest listing check took {reference.shortest_listing * 1000:,.0f} "
                "ms.",
                "",
                *TRIAL_HEADER,
                *rows,
                "",
            ]
            problems = [
                f"- trial {n}: {p}"
                for n, t in enumerate(trials, 1)
                for p in t.integrity + t.partial + t.differences
            ]
            if problems:
                details += ["Problems found:", "", *problems, ""]
    finally:
        site.stop()

    summary = [
        "| backend | trials | mid-transaction | mid-check, no writer | between checks "
        "| before the first fetch | after the ingest | rows rolled back seen | 1 integrity "
        "| 2 no partial check | 3 converged | median restart (s) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|---|---|---:|",
        *summaries,
    ]
    print("\n".join(summary))
    print(f"{mid_transactions} of {total} kills landed mid-transaction; {failures} trials failed")
    if args.write:
        text = "\n".join(
            [
                SECTION,
                "",
                INTRODUCTION.format(listings=args.listings, stories=args.stories).strip(),
                "",
                *machine_lines(),
                f"- Command: `{COMMAND}` (seed {args.seed}, {args.trials} trials per backend)",
                '- Daemon: concurrency 4, `host_delay = "0"`, `lease = "2s"`, tick 0.1 s',
                "",
                *summary,
                "",
                f"**{mid_transactions} of {total} kills landed mid-transaction**; "
                + (
                    "every trial passed all three checks."
                    if not failures
                    else f"**{failures} trials failed** (see below)."
                ),
                "",
                *details,
            ]
        )
        write_section(SECTION, text)
        print(f"wrote the {SECTION!r} section of bench/RESULTS.md")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
