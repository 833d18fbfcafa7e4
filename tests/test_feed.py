"""The Atom feed of edits, read back by feedparser as a feed reader would."""

from __future__ import annotations

import re
from datetime import datetime

import feedparser

from .conftest import Site, manifest_snapshots, offstream_page
from .test_tracking import replay_chain


def test_feed_has_one_valid_entry_per_edit(site: Site, engine, cli, tmp_path) -> None:
    replay_chain(site, engine, "nunes-memo-2018-02-02")
    [snapshot] = manifest_snapshots("ivorian-soldiers-2018-01-10")
    cli("add", site.publish(snapshot["url"], offstream_page(snapshot["file"])))
    cli("check")

    out = tmp_path / "edits.atom"
    cli("feed", "--out", str(out), "--authority", "news.example.org")
    feed = feedparser.parse(out.read_bytes())

    assert feed.bozo == 0, feed.get("bozo_exception")
    assert feed.version == "atom10"
    # Nunes: 4 observed versions, 3 edits; Ivorian: 5 edits, all before its current version,
    # one of them style (accents repaired): the default feed leaves it out.
    assert len(feed.entries) == 3 + 4
    ids = [entry.id for entry in feed.entries]
    assert len(set(ids)) == len(ids)
    assert all(re.fullmatch(r"tag:news\.example\.org,\d{4}-\d\d-\d\d:change/\d+", i) for i in ids)
    for entry in feed.entries:
        assert datetime.fromisoformat(entry.updated).tzinfo is not None
        [content] = entry.content
        assert content.type == "text/html"
        assert "<del style=" in content.value or "<ins style=" in content.value
        assert "before</strong>" in content.value and "after</strong>" in content.value
        # The alternate link is the item's history page; the original page is "related".
        assert entry.link.startswith("http://127.0.0.1:8000/items/")
        related = [link.href for link in entry.links if link.rel == "related"]
        assert related and related[0].startswith(site.url("/news/"))

    newest_nunes = next(e for e in feed.entries if "Nunes" in e.content[0].value)
    assert newest_nunes.title.startswith("Headline changed: ")
    assert "→ …Justice, and lawmakers from both sides" in newest_nunes.title
    assert "<ins style=" in newest_nunes.content[0].value
    assert "lawmakers from both sides" in newest_nunes.content[0].value
    assert newest_nunes.summary == (
        "Version 3 → 4: headline changed (rewording edit: headline: reworded: 30% of words)."
    )
    assert "<em>Rewording edit: headline: reworded: 30% of words</em>" in (
        newest_nunes.content[0].value
    )


def test_feed_is_written_to_stdout_and_is_the_same_every_time(site: Site, cli) -> None:
    [snapshot] = manifest_snapshots("ivorian-soldiers-2018-01-10")
    cli("add", site.publish(snapshot["url"], offstream_page(snapshot["file"])))
    cli("check")
    first, second = cli("feed").stdout, cli("feed").stdout
    entry_ids = re.findall(r"<id>(tag:[^<]*change[^<]*)</id>", first)
    assert entry_ids == re.findall(r"<id>(tag:[^<]*change[^<]*)</id>", second)
    assert len(entry_ids) == 4  # 5 edits, one of them style


def test_hostile_headline_stays_text_in_the_feed(site: Site, cli) -> None:
    page = offstream_page("seeds/001_d715acd15c94cb49.txt")
    url = site.publish("/news/x.md", page)
    cli("add", url)
    cli("check")
    evil = '<script>alert(1)</script><img src=x onerror="alert(2)"> & more'
    site.publish("/news/x.md", page.replace("recaptures the town", evil + " recaptures", 1))
    cli("check", "--all")

    feed = feedparser.parse(cli("feed").stdout.encode())
    assert feed.bozo == 0
    [entry] = [e for e in feed.entries if "alert" in e.title]
    html = entry.content[0].value
    assert "<script>" not in html and "<img" not in html
    assert "&lt;script&gt;" in html and "onerror=" in html


def test_removals_and_restorations_are_listing_feed_entries(site: Site, cli, tmp_path) -> None:
    first, _ = manifest_snapshots("day-index-2018-02-02")
    index = offstream_page(first["file"])
    start = index.index("##### History of YouTube")
    without = index[:start] + index[index.index("#####", start + 5) :]
    url = site.publish(first["url"], index)
    cli("add", url, "--name", "Offstream 2 Feb")
    cli("check")
    for page in (without, index):
        site.publish(first["url"], page)
        cli("check", "--all")

    edits = feedparser.parse(cli("feed").stdout.encode())
    assert edits.bozo == 0 and edits.entries == []  # not edits: off in the edits feed
    cli("feed", "--out", str(tmp_path))
    feed = feedparser.parse((tmp_path / "sources" / "1" / "listing.atom").read_bytes())
    assert feed.bozo == 0
    titles = [e.title.split(":")[0] for e in feed.entries]
    assert titles == ["Restored to Offstream 2 Feb", "Removed from Offstream 2 Feb"]
    assert "YouTube" in feed.entries[0].title
    assert feed.entries[1].summary == "The item is no longer listed on Offstream 2 Feb."
