"""`redline feed --out DIR`: every tag, whatever its name, is its own files under tags/."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from urllib.parse import unquote

import feedparser
import pytest
from sqlalchemy.engine import Engine

from feeds import feed_names, feed_query, static_feeds
from storage import transaction

from .conftest import Site
from .test_tracking import START, add, check_all

# What is tested here does not depend on the database (see conftest.py).
pytestmark = pytest.mark.one_database

PUBLIC = "https://feeds.example.org"
TAGS = ["..", ".", "before-1", "x", "x.atom", "%2E", ".hidden", "a/../b", "é" * 150]


def rss(headline: str) -> str:
    categories = "".join(f"<category><![CDATA[{tag}]]></category>" for tag in TAGS)
    items = "".join(
        f"<item><guid>{guid}</guid><title>{headline} {guid}</title>"
        f"<link>https://news.example/{guid}</link>{categories}</item>"
        for guid in ("a", "b")
    )
    return (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>News</title>'
        f"<link>https://news.example/</link><description>d</description>{items}</channel></rss>"
    )


def test_any_tag_name_is_one_distinct_file_under_tags(
    site: Site, engine: Engine, tmp_path: Path
) -> None:
    add(engine, site.publish("/feed.xml", rss("First"), "application/rss+xml"))
    check_all(engine, START)
    site.publish("/feed.xml", rss("Second"), "application/rss+xml")
    check_all(engine, START + timedelta(hours=1))  # two edits in every tag

    out = tmp_path / "feeds"
    config = feed_names.FeedConfig(public_url=PUBLIC, page_size=1)
    with transaction(engine) as session:
        written = static_feeds.write_static(session, config, out)

    tags_dir = (out / "tags").resolve()
    tag_files = [path for path in written if "tags" in path.relative_to(out).parts[:1]]
    assert len(written) == len(set(written))
    for path in tag_files:  # never outside tags/, never tags/ itself
        assert path.resolve().parent in (tags_dir, *tags_dir.iterdir()), path
    files = {str(path.relative_to(out)): path.read_bytes() for path in written}
    assert len(files) == len(written)  # nothing written over another page

    # Each tag has its own newest page and older page, and the links name those files.
    for tag in TAGS:
        newest = feed_names.feed_path(feed_query.FeedQuery("tag", tag), static=True)
        parsed = feedparser.parse(files[newest])
        assert parsed.feed.title == f"redline: edits tagged {tag}"
        assert len(parsed.entries) == 1
        links = {link.rel: link.href for link in parsed.feed.links}
        link = feed_names.feed_path(feed_query.FeedQuery("tag", tag), True, True)
        assert links["self"] == f"{PUBLIC}/feeds/{link}"
        older = unquote(links["next"].removeprefix(f"{PUBLIC}/feeds/"))
        assert older in files and older.startswith("tags/") and older != newest
        assert feedparser.parse(files[older]).feed.title == f"redline: edits tagged {tag}"
    tag_pages = [name for name in files if name.startswith("tags/")]
    assert len(tag_pages) == 2 * len(TAGS)
