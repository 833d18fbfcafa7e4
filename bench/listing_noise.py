"""Edits that are only a listing showing or hiding a field, on the BBC front-page sample.

    .venv/bin/python bench/listing_noise.py             # print the counts
    .venv/bin/python bench/listing_noise.py --write     # also update bench/RESULTS.md
    .venv/bin/python bench/listing_noise.py --before ../main/.venv/bin/redline --write
        # also measure another build (the one before the change) side by side

Imports the sample (../shared/corpus/bbc-homepage-headlines; never copied into the repository)
with `redline import dir` as the README shows, into an empty SQLite database, then counts the
"edited" changes and, among them, those whose every changed field only appeared or vanished
(empty on one side), which a front page showing a summary or a tag in some slots only makes.
It also counts headline tests (a headline back to one the item had within a day: one
"headline_test" event each) and their later switches ("headline_flip", not published).
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness.paths import CORPUS_PLACES, REDLINE  # noqa: E402
from bench.harness.results import machine_lines, write_section  # noqa: E402

SAMPLE = Path("bbc-homepage-headlines") / "snapshots"
SECTION = "## Listing absence and noise (BBC front page)"
IMPORT = [
    "import", "dir", "{folder}", "--pattern", "*.csv", "--url", "https://www.bbc.com/",
    "--kind", "listing", "--map", "headline=title", "--map", "url=href", "--map", "category=tag",
]  # fmt: skip


ROWS = (
    ("versions", "versions"),
    ("changes", "changes (all kinds)"),
    ("edited", "edits"),
    ("shown_or_hidden_only", "edits that only show or hide a field"),
    ("shown", "versions recording a field shown for the first time (not published)"),
    ("headline_tests", "headline tests (one feed entry each)"),
    ("headline_flips", "later switches of a headline test (stored, not published)"),
)


def measure(redline: Path, folder: Path) -> dict[str, int]:
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bbc.db"
        command = [str(redline), "--db", f"sqlite:///{db}"]
        command += [part.format(folder=folder) for part in IMPORT]
        subprocess.run(command, check=True, capture_output=True)
        with sqlite3.connect(db) as connection:
            return _counts(connection)


def _counts(connection: sqlite3.Connection) -> dict[str, int]:
    kinds = dict(connection.execute("SELECT kind, count(*) FROM change GROUP BY kind").fetchall())
    rows = connection.execute(
        "SELECT c.fields, a.summary, b.summary, a.category, b.category, a.tags, b.tags, "
        "a.headline, b.headline FROM change c JOIN version a ON a.id = c.from_version_id "
        "JOIN version b ON b.id = c.to_version_id WHERE c.kind = 'edited'"
    ).fetchall()
    shown_only = 0
    for fields, *values in rows:
        pairs = {
            "summary": values[0:2],
            "category": values[2:4],
            "tags": [json.loads(v) if v else None for v in values[4:6]],
            "headline": values[6:8],
        }
        changed = json.loads(fields or "[]")
        if changed and all(
            name in pairs and (not pairs[name][0]) != (not pairs[name][1]) for name in changed
        ):
            shown_only += 1
    return {
        "edited": kinds.get("edited", 0),
        "shown_or_hidden_only": shown_only,
        "headline_tests": kinds.get("headline_test", 0),
        "headline_flips": kinds.get("headline_flip", 0),
        "shown": kinds.get("shown", 0),
        "versions": connection.execute("SELECT count(*) FROM version").fetchone()[0],
        "changes": sum(kinds.values()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--redline", type=Path, default=REDLINE)
    parser.add_argument("--before", type=Path, help="another build's redline, measured beside")
    parser.add_argument("--corpus", type=Path, help="the shared corpus folder")
    parser.add_argument("--write", action="store_true", help="update bench/RESULTS.md")
    args = parser.parse_args()
    places = [args.corpus] if args.corpus else list(CORPUS_PLACES)
    folder = next((place / SAMPLE for place in places if (place / SAMPLE).is_dir()), None)
    if folder is None:
        sys.exit("bench/listing_noise.py: the BBC sample is not there (--corpus DIR)")
    counts = measure(args.redline, folder)
    before = measure(args.before, folder) if args.before else None
    print(json.dumps({"now": counts, "before": before}))
    if args.write:
        lines = [
            SECTION,
            "",
            *machine_lines(),
            "- Command: `.venv/bin/python bench/listing_noise.py --write"
            + (f" --before {args.before}" if before else "")
            + "` (BBC sample, 112 snapshots, imported as the README shows"
            + ("; before: that build, without the rules measured here)" if before else ")"),
            "",
            "| | before | now |" if before else "| | now |",
            "|---|---|---|" if before else "|---|---|",
            *(
                f"| {label} | {before[key]} | {counts[key]} |"
                if before
                else f"| {label} | {counts[key]} |"
                for key, label in ROWS
            ),
            "",
        ]
        write_section(SECTION, "\n".join(lines))


if __name__ == "__main__":
    main()
