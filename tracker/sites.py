"""Sites: the sources of one publisher share their items.

The same article in two feeds of a site (world.xml and top.xml) is one item; a new item
page whose Changes list names a URL another source recorded joins that item. An alias
that names the article itself (a publisher id, a guid, an id in the URL, a URL, a page
stem) is looked up across the site's sources; aliases that only tell rows of one listing
apart (a headline, a section page plus headline, a bullet's source links) stay with
their source.

Only sources that show items the same way share them: listings with listings, item
pages with item pages. A feed entry (headline and teaser) and the article's own page
(headline and body) are two views of one story; as one item, each check of the other
view would record a false edit.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from sqlmodel import Session, col, or_, select

from storage import ItemAlias, Source
from tracker import merge
from tracker.source_index import SITE_WIDE_KINDS
from tracker.url_ids import LEARNED_AFTER

log = logging.getLogger(__name__)

# The source option holding how many moves taught each id shape: {"tail": 3}.
LEARNED_KEY = "learned_url_ids"


def site_of(url: str) -> str:
    """A source's site when the user names none: its URL's host, without "www."."""
    try:
        host = (urlsplit(url).hostname or "").rstrip(".")
    except ValueError:
        return url
    return host.removeprefix("www.") or url


@dataclass(frozen=True)
class Sharing:
    """What a check needs of its site: the ids of the sources whose items it may find by
    a site-wide alias (itself first, then the other sources of its site that show items
    as it does), and the id shapes those sources have taught."""

    source_ids: list[int]
    learned: tuple[str, ...]


def sharing(session: Session, source: Source, listing: bool) -> Sharing:
    """The source's Sharing, read in one query."""
    assert source.id is not None
    site = source.site or site_of(source.url)
    query = select(Source.id, Source.site, Source.url, Source.options).where(
        or_(Source.site == site, col(Source.site).is_(None)),
        Source.listing == listing,
        Source.id != source.id,
    )
    others = [
        (other_id, options)
        for other_id, other_site, url, options in session.exec(query.order_by(col(Source.id)))
        if (other_site or site_of(url)) == site
    ]
    counts: Counter[str] = Counter()
    for options in [source.options, *(options for _, options in others)]:
        counts.update((options or {}).get(LEARNED_KEY, {}))
    learned = tuple(shape for shape, count in counts.most_common() if count >= LEARNED_AFTER)
    return Sharing([source.id, *(other_id for other_id, _ in others)], learned)


def learn_shapes(source: Source, moves: Iterable[Sequence[str]]) -> None:
    """Count, in the source's options, the id shapes its items kept while they moved."""
    taught = Counter(shape for shapes in moves for shape in set(shapes))
    if not taught:
        return
    options = dict(source.options or {})
    counts = Counter(options.get(LEARNED_KEY, {}))
    counts.update(taught)
    options[LEARNED_KEY] = dict(counts)
    source.options = options  # a new dict: the JSON column sees the change


def merge_site_duplicates(session: Session, now: datetime) -> int:
    """Merge the items that sources of one site recorded apart under one site-wide alias
    (before items belonged to sites, or before two sources were grouped); each merge is
    logged in item_match. The number of items merged away."""
    sources = session.exec(select(Source.id, Source.site, Source.url, Source.listing)).all()
    group = {
        source_id: (site or site_of(url), listing) for source_id, site, url, listing in sources
    }
    named: dict[tuple[object, str, str], set[int]] = defaultdict(set)
    query = select(ItemAlias.source_id, ItemAlias.kind, ItemAlias.value, ItemAlias.item_id).where(
        col(ItemAlias.kind).in_(sorted(SITE_WIDE_KINDS))
    )
    for source_id, kind, value, item_id in session.exec(query):
        if group[source_id][1] is not None:
            named[(group[source_id], kind, value)].add(item_id)
    merged_into: dict[int, int] = {}
    merged = 0
    for (_, kind, value), item_ids in sorted(named.items(), key=lambda entry: min(entry[1])):
        live = sorted({_final(merged_into, item_id) for item_id in item_ids})
        for other in live[1:]:
            merge.merge_items(
                session, live[0], other, now, f"two sources of a site name it ({kind} {value})"
            )
            merged_into[other] = live[0]
            merged += 1
    return merged


def _final(merged_into: dict[int, int], item_id: int) -> int:
    while item_id in merged_into:
        item_id = merged_into[item_id]
    return item_id
