"""What one check needs to know of its source's items, read in a few queries up front.

A listing of thousands of items used to cost several queries per item (find the item
by its aliases, its latest version, whether each alias is known), each after an
autoflush: 20-30 s a check for 5,000 items. The index reads the aliases of every
value the check will look up, their items and those items' latest versions at once,
then answers from memory and learns what the check adds.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence

from sqlalchemy import func
from sqlmodel import Session, col, select

from storage import Item, ItemAlias, Version

log = logging.getLogger(__name__)

# Values per IN (...) list: well under SQLite's and PostgreSQL's parameter limits.
CHUNK = 500


class SourceIndex:
    def __init__(self, session: Session, source_id: int, values: Iterable[str]) -> None:
        self.session, self.source_id = session, source_id
        self._items_by_alias: dict[tuple[str, str], set[int]] = defaultdict(set)
        self._items: dict[int, Item] = {}
        self._latest: dict[int, Version] = {}
        wanted = list(dict.fromkeys(values))
        for start in range(0, len(wanted), CHUNK):
            rows = session.exec(
                select(ItemAlias.kind, ItemAlias.value, ItemAlias.item_id).where(
                    ItemAlias.source_id == source_id,
                    col(ItemAlias.value).in_(wanted[start : start + CHUNK]),
                )
            ).all()
            for kind, value, item_id in rows:
                self._items_by_alias[(kind, value)].add(item_id)
        self._load({i for ids in self._items_by_alias.values() for i in ids})

    def _load(self, item_ids: set[int]) -> None:
        ids = sorted(item_ids)
        for start in range(0, len(ids), CHUNK):
            chunk = ids[start : start + CHUNK]
            for item in self.session.exec(select(Item).where(col(Item.id).in_(chunk))).all():
                self._items[item.id or 0] = item
            newest = (
                select(Version.item_id, func.max(Version.n).label("n"))
                .where(col(Version.item_id).in_(chunk))
                .group_by(col(Version.item_id))
                .subquery()
            )
            latest = select(Version).join(
                newest, (Version.item_id == newest.c.item_id) & (Version.n == newest.c.n)
            )
            for version in self.session.exec(latest).all():
                self._latest[version.item_id] = version

    def find(self, keys: Sequence[tuple[str, str]]) -> Item | None:
        """The item the identity keys name (as identity.find_item, from memory)."""
        kind = keys[0][0]
        ids: set[int] = set()
        for _, value in keys:
            ids |= self._items_by_alias.get((kind, value), set())
        if len(ids) > 1:
            # Two items turned out to be one (their URLs met in a page history). Merging
            # stored histories is not done yet; the oldest item takes the news.
            log.warning("keys %s match items %s; recording on the oldest", keys[:3], sorted(ids))
        return self._items[min(ids)] if ids else None

    def latest(self, item: Item) -> Version | None:
        return self._latest.get(item.id or 0)

    def added_item(self, item: Item) -> None:
        self._items[item.id or 0] = item

    def added_version(self, item: Item, version: Version) -> None:
        self._latest[item.id or 0] = version

    def add_alias(self, item: Item, kind: str, value: str) -> bool:
        """Record an alias of the item unless its source already knows it; True if added.
        Only values given to the index are known: the caller gives every value it adds."""
        assert item.id is not None
        if self._items_by_alias.get((kind, value)):
            return False
        self.session.add(
            ItemAlias(item_id=item.id, source_id=self.source_id, kind=kind, value=value)
        )
        self._items_by_alias[(kind, value)].add(item.id)
        return True
