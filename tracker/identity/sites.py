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
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from urllib.parse import urlsplit

from sqlalchemy import String, and_, bindparam, cast
from sqlmodel import Session, col, or_, select

from storage import Source
from tracker.identity.url_ids import LEARNED_AFTER

log = logging.getLogger(__name__)

# The alias kinds that name an article itself, across the sources of its site; the
# others (a headline, a section page plus headline, a bullet's source links) only tell
# rows of one listing apart.
SITE_WIDE_KINDS = frozenset({"id", "guid", "urlid", "url", "page"})
# The source option holding how many moves taught each id shape: {"tail": 3}.
LEARNED_KEY = "learned_url_ids"


def site_of(url: str) -> str:
    """A source's site when the user names none: its URL's host, without "www."."""
    try:
        host = (urlsplit(url).hostname or "").rstrip(".")
    except ValueError:
        return url
    return host.removeprefix("www.") or url


# SQL, built once (every check asks): another source of the site that shows items alike
# (or one stored without a site: see Sharing.shares), found by the site's index; and
# such a source or the checked one itself. Parameters: Sharing.params.
_OTHER_SOURCE = and_(
    Source.listing == bindparam("sharing_listing"),
    or_(Source.site == bindparam("sharing_site"), col(Source.site).is_(None)),
    Source.id != bindparam("sharing_source"),
)
SHARING_SOURCE = or_(Source.id == bindparam("sharing_source"), _OTHER_SOURCE)
_OTHER_IDS = select(Source.id, Source.site, Source.url).where(_OTHER_SOURCE)
_TAUGHT = select(Source.id, Source.site, Source.url, Source.options).where(
    _OTHER_SOURCE, cast(Source.options, String).like(f"%{LEARNED_KEY}%")
)


@dataclass(frozen=True)
class Sharing:
    """What a check needs of its site: which sources' items it may find by a site-wide
    alias (itself, and the other sources of its site that show items as it does), and
    the id shapes those sources have taught. A site may have thousands of sources, and
    every check asks: the sources are named by a condition on their rows
    (SHARING_SOURCE with `params`), not listed."""

    source_id: int
    site: str
    listing: bool
    learned: tuple[str, ...] = ()

    @property
    def params(self) -> dict[str, object]:
        return {
            "sharing_source": self.source_id,
            "sharing_site": self.site,
            "sharing_listing": self.listing,
        }

    def shares(self, source_id: int, site: str | None, url: str) -> bool:
        """Whether a source that passed SHARING_SOURCE shares: a source stored without a
        site (made before sites, or by hand) is its URL's host's."""
        return source_id == self.source_id or (site or site_of(url)) == self.site

    def source_ids(self, session: Session) -> list[int]:
        """The sharing sources' ids, this source first."""
        rows = session.exec(_OTHER_IDS, params=self.params)
        return [self.source_id, *sorted(i for i, site, url in rows if self.shares(i, site, url))]


def sharing(session: Session, source: Source, listing: bool) -> Sharing:
    """The source's Sharing; the options read are those of the sources that have taught
    an id shape only."""
    assert source.id is not None
    found = Sharing(source.id, source.site or site_of(source.url), listing)
    counts: Counter[str] = Counter((source.options or {}).get(LEARNED_KEY, {}))
    for other_id, site, url, options in session.exec(_TAUGHT, params=found.params):
        if found.shares(other_id, site, url):
            counts.update((options or {}).get(LEARNED_KEY, {}))
    learned = tuple(shape for shape, count in counts.most_common() if count >= LEARNED_AFTER)
    return replace(found, learned=learned)


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
