"""What one check needs to know of its source's items, read in a few queries up front.

A listing of thousands of items used to cost several queries per item (find the item
by its aliases, its latest version, whether each alias is known), each after an
autoflush: 20-30 s a check for 5,000 items. The index reads every alias the check
will look up or add, their items and those items' latest versions at once,
then answers from memory and learns what the check adds. Items are read as plain rows;
their ORM objects only when the check writes them.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import bindparam, func, update
from sqlmodel import Session, col, select

from storage import Item, ItemAlias, ItemSighting, Source, Version
from storage.queries import in_chunks
from storage.rows import new_row
from tracker.identity.sites import SHARING_SOURCE, SITE_WIDE_KINDS, Sharing

# The aliases of a kind with some values: a source's, and a site's with their sources
# (built once: every check asks).
_SOURCE_ALIASES = select(ItemAlias.value, ItemAlias.item_id).where(
    ItemAlias.source_id == bindparam("source"),
    ItemAlias.kind == bindparam("kind"),
    col(ItemAlias.value).in_(bindparam("values", expanding=True)),
)
_SITE_ALIASES = (
    select(ItemAlias.value, ItemAlias.item_id, Source.id, Source.site, Source.url)
    .join(Source, col(Source.id) == ItemAlias.source_id)
    .where(
        ItemAlias.kind == bindparam("kind"),
        col(ItemAlias.value).in_(bindparam("values", expanding=True)),
        SHARING_SOURCE,
    )
)

log = logging.getLogger(__name__)


@dataclass(slots=True)
class StoredItem:
    """What a check needs of a stored item to see that a sighting changes nothing.

    Reading these as plain rows is several times cheaper than building ORM objects, and
    most items of a big listing are unchanged: the ORM objects are loaded only for the
    few the check writes (SourceIndex.item, SourceIndex.latest).
    """

    id: int
    url: str | None
    headline: str | None
    event_date: date | None
    removed_at: datetime | None  # when it left the last listing that showed it
    latest_id: int | None = None
    latest_hash: str | None = None
    latest_headline: str | None = None


@dataclass(slots=True)
class Sighting:
    """This source's own view of an item it has shown: whether it listed it (a listing
    showed it, so it can leave), and when it left."""

    listed: bool
    removed_at: datetime | None


class SourceIndex:
    """sharing: the sources whose items a site-wide alias may name (tracker.identity.sites), this
    source first; the other aliases name items of this source only."""

    def __init__(
        self,
        session: Session,
        source_id: int,
        aliases: Iterable[tuple[str, str]],
        sharing: Sharing | None = None,
    ) -> None:
        self.session, self.source_id = session, source_id
        self.sharing = sharing
        self._items_by_alias: dict[tuple[str, str], set[int]] = defaultdict(set)
        self._stored: dict[int, StoredItem] = {}
        self._items: dict[int, Item] = {}  # ORM objects, loaded or added by this check
        self._latest: dict[int, Version] = {}
        self._sightings: dict[int, Sighting] = {}  # items this source has shown before
        self._released: set[tuple[str, str]] = set()  # stored aliases to move (release)
        self._known_aliases: set[tuple[str, str]] = set()
        self.learn(aliases)

    def learn(self, aliases: Iterable[tuple[str, str]]) -> None:
        """Read which items these (kind, value) aliases name (those not read before) and
        the items; aliases a check rarely needs are learnt when it needs them."""
        wanted = [alias for alias in dict.fromkeys(aliases) if alias not in self._known_aliases]
        self._known_aliases.update(wanted)
        by_kind: dict[str, list[str]] = defaultdict(list)
        for kind, value in wanted:
            by_kind[kind].append(value)
        new_ids: set[int] = set()
        for kind, values in by_kind.items():
            for chunk in in_chunks(values):
                for value, item_id in self._named(kind, chunk):
                    self._items_by_alias[(kind, value)].add(item_id)
                    new_ids.add(item_id)
        self._read(new_ids - self._stored.keys() - self._items.keys())

    def _named(self, kind: str, values: Sequence[str]) -> list[tuple[str, int]]:
        """(value, item id) of the stored aliases of this kind with these values that the
        check may find: its source's, or for a site-wide kind its site's."""
        if self.sharing is None or kind not in SITE_WIDE_KINDS:
            # By (source, kind, value), the unique index's full key: by value alone the
            # search walked every alias of the source, and a listing's history grows.
            params = {"source": self.source_id, "kind": kind, "values": list(values)}
            return list(self.session.exec(_SOURCE_ALIASES, params=params).all())
        # By (kind, value), then the alias's source: a site's sources are not listed in
        # the query (a site may have thousands, and every check asks).
        sharing = self.sharing
        rows = self.session.exec(
            _SITE_ALIASES, params={"kind": kind, "values": list(values), **sharing.params}
        ).all()
        return [
            (value, item_id)
            for value, item_id, source_id, site, url in rows
            if sharing.shares(source_id, site, url)
        ]

    def _read(self, item_ids: set[int]) -> None:
        for chunk in in_chunks(sorted(item_ids)):
            items = select(
                Item.id, Item.url, Item.headline, Item.event_date, Item.removed_at
            ).where(col(Item.id).in_(chunk))
            for row in self.session.exec(items).all():
                self._stored[row[0]] = StoredItem(*row)
            newest = (
                select(Version.item_id, func.max(Version.n).label("n"))
                .where(col(Version.item_id).in_(chunk))
                .group_by(col(Version.item_id))
                .subquery()
            )
            latest = select(
                Version.item_id, Version.id, Version.content_hash, Version.headline
            ).join(newest, (Version.item_id == newest.c.item_id) & (Version.n == newest.c.n))
            for item_id, version_id, content_hash, headline in self.session.exec(latest).all():
                stored = self._stored[item_id]
                stored.latest_id, stored.latest_hash = version_id, content_hash
                stored.latest_headline = headline
        self.read_sightings(item_ids)

    def read_sightings(self, item_ids: Iterable[int]) -> None:
        """Read this source's sightings of these items (those the check had not read)."""
        wanted = sorted(set(item_ids) - self._sightings.keys())
        for chunk in in_chunks(wanted):
            query = select(
                ItemSighting.item_id, ItemSighting.listed, ItemSighting.removed_at
            ).where(ItemSighting.source_id == self.source_id, col(ItemSighting.item_id).in_(chunk))
            for item_id, listed, removed_at in self.session.exec(query).all():
                self._sightings[item_id] = Sighting(listed, removed_at)

    def sighting(self, item_id: int) -> Sighting | None:
        """This source's sighting of the item; None if the source has not shown it before
        (a new item, or one another source of the site recorded)."""
        return self._sightings.get(item_id)

    def items_named(self, keys: Sequence[tuple[str, str]]) -> set[int]:
        """The items the identity keys name: those of the first kind of key (in the order
        identity.identity_keys gives them) that names any item."""
        return self.named_by(keys)[1]

    def named_by(self, keys: Sequence[tuple[str, str]]) -> tuple[str | None, set[int]]:
        """The first kind of key that names any item, and the items it names."""
        by_kind: dict[str, set[int]] = {}
        for kind, value in keys:
            by_kind.setdefault(kind, set()).update(self._items_by_alias.get((kind, value), ()))
        return next(((kind, found) for kind, found in by_kind.items() if found), (None, set()))

    def release(self, keys: Sequence[tuple[str, str]]) -> None:
        """Let these keys name the next item given them (add_alias moves the stored alias)
        rather than the item they name now."""
        for key in keys:
            if self._items_by_alias.pop(key, None):
                self._released.add(key)

    def find_id(self, keys: Sequence[tuple[str, str]]) -> int | None:
        """The id of the item the identity keys name (the oldest, should they name several:
        the check merges those first, see newcomers.merge_named_items)."""
        ids = self.items_named(keys)
        return min(ids) if ids else None

    def find(self, keys: Sequence[tuple[str, str]]) -> Item | None:
        item_id = self.find_id(keys)
        return None if item_id is None else self.item(item_id)

    def stored(self, item_id: int) -> StoredItem | None:
        """The item as read at the start of the check; None once the check has its ORM
        object (it may have changed it since)."""
        return None if item_id in self._items else self._stored.get(item_id)

    def item(self, item_id: int) -> Item:
        """The item's ORM object (read on first use)."""
        if item_id not in self._items:
            # Stored rows by primary key: the check's pending writes need not be flushed
            # first (an autoflush per edited item cost as much as the flushes it saved).
            with self.session.no_autoflush:
                item = self.session.get(Item, item_id)
            assert item is not None, f"item {item_id} has an alias but no row"
            self._items[item_id] = item
        return self._items[item_id]

    def prefetch(self, item_ids: Iterable[int]) -> None:
        """Read these items' ORM objects and latest versions in one query each per 500
        (the items a check will change: one primary-key read per item cost a tenth of a
        replayed snapshot). Their stored() rows are then None, as after item()."""
        wanted = sorted({item_id for item_id in item_ids if item_id not in self._items})
        with self.session.no_autoflush:
            for chunk in in_chunks(wanted):
                for item in self.session.exec(select(Item).where(col(Item.id).in_(chunk))):
                    self._items[item.id or 0] = item
                version_ids = [
                    stored.latest_id
                    for item_id in chunk
                    if (stored := self._stored.get(item_id)) and stored.latest_id is not None
                ]
                versions = select(Version).where(col(Version.id).in_(version_ids))
                for version in self.session.exec(versions):
                    self._latest.setdefault(version.item_id, version)

    def latest(self, item: Item) -> Version | None:
        """The item's latest version (read on first use)."""
        item_id = item.id or 0
        if item_id not in self._latest:
            stored = self._stored.get(item_id)
            if stored is None or stored.latest_id is None:
                return None
            with self.session.no_autoflush:
                version = self.session.get(Version, stored.latest_id)
            assert version is not None, f"version {stored.latest_id} vanished"
            self._latest[item_id] = version
        return self._latest[item_id]

    def removed_from_source(self, item_id: int) -> bool:
        """Whether the item left this source's listing (and has not come back since)."""
        sighting = self._sightings.get(item_id)
        return sighting is not None and sighting.removed_at is not None

    def added_item(self, item: Item) -> None:
        self._items[item.id or 0] = item

    def added_version(self, item: Item, version: Version) -> None:
        self._latest[item.id or 0] = version

    def add_alias(self, item_id: int, kind: str, value: str) -> bool:
        """Record an alias of the item unless its source already knows it; True if added.
        Only aliases given to the index are known: the caller gives every alias it adds."""
        if self._items_by_alias.get((kind, value)):
            return False
        if (kind, value) in self._released:
            self._released.discard((kind, value))
            self.session.exec(  # type: ignore[call-overload]
                update(ItemAlias)
                .where(
                    ItemAlias.source_id == self.source_id,
                    ItemAlias.kind == kind,
                    ItemAlias.value == value,
                )
                .values(item_id=item_id)
            )
        else:
            self.session.add(
                new_row(
                    ItemAlias, item_id=item_id, source_id=self.source_id, kind=kind, value=value
                )
            )
        self._items_by_alias[(kind, value)].add(item_id)
        return True
