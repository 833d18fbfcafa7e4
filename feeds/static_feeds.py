"""Static files: `redline feed --out DIR` writes every page of every feed (feeds/atom.py
builds each) as files laid out as /feeds/ is served, to publish without the service.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

from sqlmodel import Session

from feeds.atom import render_page
from feeds.feed_names import FeedConfig, feed_path
from feeds.feed_query import EDIT_KINDS, FeedQuery, bounded_limit
from storage import change_pages, queries, source_queries


def static_feeds(session: Session, kind: str | None = None) -> list[FeedQuery]:
    """The newest page of every feed the static layout has: edits, each source, item, tag
    (of this class of edits; None: editorial), and each source's listing feed."""
    found = [FeedQuery(kind=kind)]
    sources = source_queries.all_sources(session)
    found += [FeedQuery("source", s.id, kind=kind) for s in sources]
    found += [FeedQuery("listing", s.id) for s in sources]
    found += [FeedQuery("item", i.id, kind=kind) for i in queries.all_items(session)]
    tags = change_pages.change_tags(session, EDIT_KINDS)
    found += [FeedQuery("tag", tag, kind=kind) for tag in tags]
    return found


def write_static(
    session: Session, config: FeedConfig, out_dir: Path, kind: str | None = None
) -> list[Path]:
    """Every page of every feed as files under out_dir, laid out as /feeds/ is served:

        edits.atom                  sources/ID.atom      items/ID.atom      tags/TAG.atom
        sources/ID/listing.atom
        edits/before-CHANGE.atom    sources/ID/before-CHANGE.atom  ...  (older pages)
        sources/ID/listing/before-CHANGE.atom

    Links are absolute on config.public_url + "/feeds/": publish out_dir there. Files are
    replaced atomically; an older page left from an earlier run stays valid (pages with
    `before` never change) but is no longer linked. kind: the class of edits the edit
    feeds carry, as ?kind= (a static file has no query: one class per directory).
    """
    config = replace(config, static=True)
    written: list[Path] = []
    for first in static_feeds(session, kind):
        query: FeedQuery | None = replace(first, limit=bounded_limit(config.page_size))
        while query is not None:
            page = render_page(session, config, query)
            path = out_dir / feed_path(query, static=True)
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_name(f".{path.name}.partial")
            partial.write_bytes(page.body)
            os.replace(partial, path)
            written.append(path)
            query = query.page(page.next_before) if page.next_before is not None else None
    return written
