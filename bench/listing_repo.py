"""Git-scraping repositories to replay: a generated JSON listing, and the BBC sample as JSON.

The generated one is what a git scraper of a busy news listing holds: one `data.json`
(a list of items with id, url, headline, summary) committed once an hour; between two
commits about 2% of the items are edited (a word or two of the headline or summary) and
about 1% leave while as many new ones arrive. It is written with `git fast-import` (a few
seconds for hundreds of commits of 5,000 items) and kept in bench/.data for later runs.
"""

from __future__ import annotations

import csv
import json
import random
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.harness.paths import DATA, ROOT
from bench.words import COMMON_WORDS

LISTING_FILE = "data.json"
FIRST_COMMIT = datetime(2025, 1, 6, 6, 0, tzinfo=UTC)
BBC_SAMPLE = ROOT.parent / "shared" / "corpus" / "bbc-homepage-headlines" / "snapshots"
BBC_BASE = "https://www.bbc.com"


@dataclass(frozen=True)
class ListingShape:
    items: int = 5000
    commits: int = 500
    edited: float = 0.02  # share of items edited between two commits
    churn: float = 0.01  # share of items that leave (and as many that arrive)
    seed: int = 1

    @property
    def name(self) -> str:
        return f"listing-{self.items}x{self.commits}-e{self.edited}-c{self.churn}-s{self.seed}"


@dataclass
class ListingTruth:
    """What a correct replay finds: the generator counts it as it writes."""

    items: int = 0  # distinct ids ever listed
    versions: int = 0  # first sightings plus edits
    removals: int = 0


class _Newsroom:
    """Items with realistic headline (8-16 words) and summary (25-50 words) lengths."""

    def __init__(self, seed: int) -> None:
        self.random = random.Random(seed)
        self.next_id = 1

    def words(self, low: int, high: int) -> list[str]:
        return self.random.choices(COMMON_WORDS, k=self.random.randint(low, high))

    def new_item(self) -> dict[str, str]:
        number = self.next_id
        self.next_id += 1
        headline = " ".join(self.words(8, 16)).capitalize()
        return {
            "id": f"story-{number}",
            "url": f"https://news.example/stories/{number}",
            "title": headline,
            "summary": " ".join(self.words(25, 50)).capitalize() + ".",
        }

    def edit(self, item: dict[str, str]) -> None:
        field = self.random.choice(("title", "summary"))
        words = item[field].split(" ")
        for _ in range(self.random.randint(1, 2)):
            words[self.random.randrange(len(words))] = self.random.choice(COMMON_WORDS)
        edited = " ".join(words)
        if edited == item[field]:  # the draw put back the same words: make it an edit
            edited += " today"
        item[field] = edited


def listing_repo(shape: ListingShape) -> tuple[Path, ListingTruth]:
    """The generated repository (made on first use) and what a replay of it should find."""
    repo = DATA / shape.name
    truth_file = repo / "truth.json"
    if truth_file.exists():
        return repo, ListingTruth(**json.loads(truth_file.read_text()))
    repo.mkdir(parents=True, exist_ok=True)
    _git_init(repo)
    newsroom = _Newsroom(shape.seed)
    listed = [newsroom.new_item() for _ in range(shape.items)]
    truth = ListingTruth(items=shape.items, versions=shape.items)
    importer = subprocess.Popen(
        ["git", "-C", str(repo), "fast-import", "--quiet"], stdin=subprocess.PIPE
    )
    assert importer.stdin is not None
    for number in range(shape.commits):
        if number:
            # Leavers first, so that every edit is of an item still listed: it is seen.
            leaving = round(shape.items * shape.churn)
            for _ in range(leaving):
                listed.pop(newsroom.random.randrange(len(listed)))
            for item in newsroom.random.sample(listed, round(shape.items * shape.edited)):
                newsroom.edit(item)
                truth.versions += 1
            arriving = [newsroom.new_item() for _ in range(leaving)]
            listed[:0] = arriving  # news arrives at the top
            truth.items += leaving
            truth.versions += leaving
            truth.removals += leaving
        when = FIRST_COMMIT + timedelta(hours=number)
        _commit(importer.stdin, when, json.dumps(listed, indent=1).encode())
    _finish(importer, repo)
    truth_file.write_text(json.dumps(truth.__dict__))
    return repo, truth


def _commit(stream, when: datetime, content: bytes) -> None:  # noqa: ANN001 (a binary pipe)
    stamp = f"{int(when.timestamp())} +0000"
    message = f"Latest data: {when.isoformat()}".encode()
    stream.write(b"commit refs/heads/main\n")
    stream.write(f"committer Scraper <scraper@news.example> {stamp}\n".encode())
    stream.write(b"data %d\n%s\n" % (len(message), message))
    stream.write(f"M 644 inline {LISTING_FILE}\n".encode())
    stream.write(b"data %d\n%s\n" % (len(content), content))


def _git_init(repo: Path) -> None:
    subprocess.run(["git", "init", "--quiet", "--initial-branch=main", str(repo)], check=True)


def _finish(importer: subprocess.Popen, repo: Path) -> None:
    """Close the import and check out its last commit (git-history reads the work tree)."""
    assert importer.stdin is not None
    importer.stdin.close()
    if importer.wait() != 0:
        raise SystemExit("git fast-import failed")
    subprocess.run(["git", "-C", str(repo), "reset", "--quiet", "--hard", "main"], check=True)


def bbc_repo() -> Path | None:
    """The BBC front-page sample (../shared/corpus, not redistributable) as a JSON git scrape.

    Each CSV snapshot becomes a commit at its own time; hrefs are made absolute and an
    article listed twice (relative and absolute link) is kept once, so that both tools key
    items by the same id. None when the sample is not on this machine.
    """
    if not BBC_SAMPLE.is_dir():
        return None
    repo = DATA / "bbc-json"
    if (repo / LISTING_FILE).exists():
        return repo
    repo.mkdir(parents=True, exist_ok=True)
    _git_init(repo)
    importer = subprocess.Popen(
        ["git", "-C", str(repo), "fast-import", "--quiet"], stdin=subprocess.PIPE
    )
    assert importer.stdin is not None
    for snapshot in sorted(BBC_SAMPLE.glob("*.csv")):
        when = datetime.strptime(snapshot.name.split("_")[0], "%Y-%m-%dT%H%M%SZ").replace(
            tzinfo=UTC
        )
        listed: dict[str, dict[str, str]] = {}
        with snapshot.open(newline="", encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                href = row["href"] if row["href"].startswith("http") else BBC_BASE + row["href"]
                listed.setdefault(href, {"id": href, "url": href, **_bbc_text(row)})
        _commit(importer.stdin, when, json.dumps(list(listed.values()), indent=1).encode())
    _finish(importer, repo)
    return repo


def _bbc_text(row: dict[str, str]) -> dict[str, str]:
    return {"title": row["title"], "summary": row.get("summary") or ""}
