"""The corpus samples bench/identity.py replays (WELT newsticker, Hacker News front page,
BBC front page, in the shared corpus): how a snapshot's records are read, each record's
truth id (the publisher's), and the record as redline is given it in each mode.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

from bench.harness.paths import CORPUS_PLACES
from tracker.normalise import canonical_url

Record = dict[str, Any]
IDS, URLS, HEADLINES = "ids given", "URLs only", "headlines only"
URL_IDS = "URLs only, --id-pattern"  # URLs only, the source told where the id is in a URL
MODES = (IDS, URLS, HEADLINES)


@dataclass(frozen=True)
class Corpus:
    """What the replay needs to know of one sample."""

    name: str  # its folder in the corpus
    page_url: str  # the listing's URL (relative links resolve against it)
    records: Callable[[Path], list[Record]]  # a snapshot file's records, as scraped
    truth_id: Callable[[Record], str | None]  # the publisher's id; None: no truth item
    # The record as redline is given it: as scraped (URLS), plus the id (IDS), or only
    # headline and summary (HEADLINES).
    scraped: Callable[[Record], Record]
    text_fields: tuple[str, ...]
    options: dict[str, Any] = field(default_factory=dict)  # the source's (a field map)
    url_has_id: bool = False  # the URL names the item for good: the strict targets apply
    id_pattern: str | None = None  # where the id is in the URL, for an extra mode

    @property
    def modes(self) -> tuple[str, ...]:
        return (*MODES, URL_IDS) if self.id_pattern else MODES

    def source_options(self, mode: str) -> dict[str, Any]:
        if mode == URL_IDS:
            return {**self.options, "id_pattern": self.id_pattern}
        return self.options

    def render(self, record: Record, mode: str) -> Record:
        if mode == HEADLINES:
            return {key: record[key] for key in self.text_fields if record.get(key) is not None}
        rendered = self.scraped(record)
        item_id = self.truth_id(record)
        if mode == IDS and item_id is not None:
            rendered["id"] = item_id
        return rendered


_WELT_ID_RULE = r"/(?:article|plus|sendung)?([0-9a-f]{24})(?:/|$)"  # truth.json's id_rule
_WELT_ID = re.compile(_WELT_ID_RULE)
_HN_ID = re.compile(r"^https://news\.ycombinator\.com/item\?id=(\d+)$")


def _welt_id(record: Record) -> str | None:
    match = _WELT_ID.search(record.get("url") or "")
    return match.group(1) if match else None


def _hn_id(record: Record) -> str | None:
    match = _HN_ID.match(record.get("link") or "")
    return match.group(1) if match else None


def _bbc_id(record: Record) -> str | None:
    return canonical_url(urljoin(BBC.page_url, record["href"])) if record.get("href") else None


def _json_records(path: Path) -> list[Record]:
    data = json.loads(path.read_text(encoding="utf-8"))
    return data["articles"] if isinstance(data, dict) else data


def _csv_records(path: Path) -> list[Record]:
    return list(csv.DictReader(path.read_text(encoding="utf-8").splitlines()))


WELT = Corpus(
    name="welt-newsticker",
    page_url="https://www.welt.de/newsticker/",
    records=_json_records,
    truth_id=_welt_id,
    scraped=dict,
    text_fields=("title", "teaser"),
    options={"map": {"summary": "teaser"}},
    url_has_id=True,
    id_pattern=_WELT_ID_RULE,
)
HN = Corpus(
    name="hn-frontpage",
    page_url="https://news.ycombinator.com/",
    records=_json_records,
    truth_id=_hn_id,
    # `link` is the HN item page, the id in another form: only `url` is kept.
    scraped=lambda record: {key: value for key, value in record.items() if key != "link"},
    text_fields=("title",),
)
BBC = Corpus(
    name="bbc-homepage-headlines",
    page_url="https://www.bbc.com/",
    records=_csv_records,
    truth_id=_bbc_id,
    scraped=dict,
    text_fields=("title", "summary"),
    url_has_id=True,  # BBC keeps an article's href when it edits the headline
)
CORPORA = (WELT, HN, BBC)


def find_corpus(given: str | None) -> Path:
    places = [Path(given)] if given else list(CORPUS_PLACES)
    for place in places:
        if (place / "README.md").exists():
            return place
    raise SystemExit(f"the shared corpus is not at {' or '.join(map(str, places))}")
