"""Identity quality on the real corpus: are observations of one item linked as one item?

    .venv/bin/python bench/identity.py            # print the results
    .venv/bin/python bench/identity.py --write    # also update bench/RESULTS.md

Needs the shared corpus beside the repository (../shared/corpus); the BBC sample has no
licence, so it is read from there and never copied into the repository.

- BBC front page (112 snapshots of a CSV listing, title,href,tag,summary): each snapshot is
  ingested as a check of one `listing` source at its commit time. The truth is the article's
  href, made absolute and canonical (BBC keeps an article's href when it edits the
  headline). Pairs are consecutive sightings: of one article (linked correctly when redline
  put both sightings in one item, missed otherwise) and of one redline item (wrongly linked
  when the two sightings are of different articles). Run with fuzzy matching at its default
  threshold and turned off.
- Offstream chains: every snapshot of a chain is ingested as a check of one item-page source,
  the chain's first URL redirecting to the newest (as the tests' local site does); the truth
  is one item per chain.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections import defaultdict
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlmodel import select  # noqa: E402

from bench.report import ROOT, machine_lines, write_section  # noqa: E402
from storage import ItemMatch, make_engine, queries, transaction, upgrade  # noqa: E402
from tracker import identity  # noqa: E402
from tracker.extract import Page, extract  # noqa: E402
from tracker.ingest import is_listing, record_observations  # noqa: E402
from tracker.normalise import canonical_url  # noqa: E402
from tracker.sources import add_source  # noqa: E402

CORPUS = ROOT.parent / "shared" / "corpus"
BBC = CORPUS / "bbc-homepage-headlines"
OFFSTREAM = ROOT / "tests" / "fixtures" / "offstream"
BBC_HOME = "https://www.bbc.com/"
SECTION = "## Identity quality"
COMMAND = ".venv/bin/python bench/identity.py --write"


def bbc_replay(match_threshold: float, hide_links: bool = False) -> dict[str, int]:
    """Replay the BBC snapshots; count linked / missed / wrong pairs of consecutive sightings.

    hide_links drops each row's href before redline sees it, so only headlines (exact,
    then fuzzy) can tell items apart: a test of fuzzy matching alone.
    """
    manifest = json.loads((BBC / "manifest.json").read_text())
    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite:///{tmp}/identity.db")
        upgrade(engine)
        with transaction(engine) as session:
            source, _ = add_source(
                session, BBC_HOME, "listing", options={"match_threshold": match_threshold}
            )
        last_item_of_article: dict[str, int] = {}
        last_article_of_item: dict[int, str] = {}
        counts = defaultdict(int)
        for snapshot in sorted(manifest["snapshots"], key=lambda s: s["timestamp"]):
            text = (BBC / snapshot["file"]).read_text(encoding="utf-8")
            when = datetime.fromisoformat(snapshot["timestamp"].replace("Z", "+00:00"))
            with transaction(engine) as session:
                session.add(source)
                _, observations = extract("listing", Page(BBC_HOME, text))
                articles = [canonical_url(observation.url or "") for observation in observations]
                if hide_links:
                    for observation in observations:
                        observation.url = None
                record_observations(session, source, observations, when, listing=True)
                for observation, article in zip(observations, articles, strict=True):
                    keys = identity.identity_keys(observation)
                    item = identity.find_item(session, source.id or 0, keys)
                    assert item is not None
                    _count_pair(
                        counts, last_item_of_article, last_article_of_item, article, item.id or 0
                    )
                counts["sightings"] += len(observations)
            counts["snapshots"] += 1
        with transaction(engine) as session:
            counts["items"] = len(queries.all_items(session))
            counts["fuzzy"] = len(session.exec(select(ItemMatch)).all())
        counts["articles"] = len(last_item_of_article)
        engine.dispose()
    return dict(counts)


def _count_pair(
    counts: dict, item_of: dict[str, int], article_of: dict[int, str], article: str, item: int
) -> None:
    if article in item_of:
        counts["linked" if item_of[article] == item else "missed"] += 1
    if item in article_of and article_of[item] != article:
        counts["wrong"] += 1
    item_of[article], article_of[item] = item, article


def offstream_chains() -> list[tuple[str, int, int, int]]:
    """(chain, snapshots, items expected, items found) per Offstream chain, one source each."""
    manifest = json.loads((OFFSTREAM / "manifest.json").read_text())
    chains: dict[str, list[dict]] = defaultdict(list)
    for snapshot in manifest["snapshots"]:
        chains[snapshot["chain"]].append(snapshot)
    rows = []
    site = "https://offstream.news"
    for chain, snapshots in sorted(chains.items()):
        snapshots.sort(key=lambda s: s["order"])
        with tempfile.TemporaryDirectory() as tmp:
            engine = make_engine(f"sqlite:///{tmp}/chain.db")
            upgrade(engine)
            first_url = site + snapshots[0]["url"]
            with transaction(engine) as session:
                source, _ = add_source(session, first_url, "offstream")
            for order, snapshot in enumerate(snapshots):
                page = Page(site + snapshot["url"], (OFFSTREAM / snapshot["file"]).read_text())
                with transaction(engine) as session:
                    session.add(source)
                    _, observations = extract("offstream", page)
                    record_observations(
                        session,
                        source,
                        observations,
                        datetime.fromisoformat(f"2026-01-01T{order:02d}:00:00+00:00"),
                        page_urls=[first_url],
                        listing=is_listing(observations, page.url),
                    )
            # An item page is one item; a day index is one item per item it lists.
            expected = len(observations) if is_listing(observations, page.url) else 1
            with transaction(engine) as session:
                rows.append((chain, len(snapshots), expected, len(queries.all_items(session))))
            engine.dispose()
    return rows


def report() -> str:
    lines = [SECTION, "", *machine_lines(), f"- Command: `{COMMAND}`", ""]
    lines += [
        "BBC front page sample (112 snapshots, one `listing` source). Pairs are consecutive "
        "sightings of one article (truth: its canonical absolute href) or of one redline item.",
        "",
        "| identity by | sightings | articles | items | linked correctly | missed "
        "| wrongly linked | fuzzy pairings |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    runs = (
        ("hrefs, fuzzy on (0.6)", 0.6, False),
        ("hrefs, fuzzy off", 1.5, False),
        ("headlines only, fuzzy on (0.6)", 0.6, True),
        ("headlines only, fuzzy off", 1.5, True),
    )
    for label, threshold, hide_links in runs:
        c = bbc_replay(threshold, hide_links)
        lines.append(
            f"| {label} | {c['sightings']} | {c['articles']} | {c['items']} | "
            f"{c.get('linked', 0)} | {c.get('missed', 0)} | {c.get('wrong', 0)} | {c['fuzzy']} |"
        )
    lines += [
        "",
        "Offstream chains (tests/fixtures/offstream), each replayed as one item-page source "
        "whose first URL redirects to the newest; the truth is one item per item-page chain and "
        "one per listed item for the day index.",
        "",
        "| chain | snapshots | items expected | items found |",
        "|---|---:|---:|---:|",
    ]
    lines += [
        f"| {c} | {n} | {expected} | {found} |" for c, n, expected, found in offstream_chains()
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--write", action="store_true", help="update bench/RESULTS.md")
    args = parser.parse_args()
    if not BBC.exists():
        raise SystemExit(f"the shared corpus is not at {CORPUS}")
    text = report()
    print(text)
    if args.write:
        write_section(SECTION, text)


if __name__ == "__main__":
    main()
