"""Correcting identity: two items found to be one are merged; one item that was two is split.

A merge happens when later evidence names two stored items at once (a page's Changes list
names URLs of both) or when a person says so (`redline merge A B`); a split when a person
says an item's versions from N on are another story (`redline split ITEM --at N`). Both
keep every distinct version, rebuild the item's change log from its versions (so the feeds
show the corrected edits and no longer the false ones), and are logged in `item_match`.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, update
from sqlmodel import Session, col, select

from storage import Change, Item, ItemAlias, ItemMatch, ItemSighting, Source, Version, queries
from tracker.compare import headline_tests
from tracker.errors import UserError
from tracker.identity.sites import SITE_WIDE_KINDS, site_of
from tracker.identity.url_ids import stable_id
from tracker.normalise import canonical_url
from tracker.record import history, partial

log = logging.getLogger(__name__)


@dataclass
class Outcome:
    item_id: int  # the item that holds the result (a split: the new item)
    versions: int  # versions it holds now
    changes: int  # changes of the item(s) rebuilt


def merge_items(session: Session, keep_id: int, other_id: int, now: datetime, why: str) -> Outcome:
    """Merge item `other_id` into `keep_id`: versions interleaved by time (a version equal
    to the one before it is folded into it), aliases and pairing logs moved over, the
    change log rebuilt, and the sources that showed either now sight the one; `other_id`
    is deleted. The items may come from different sources (one story in two feeds)."""
    if keep_id == other_id:
        raise UserError(f"item {keep_id} cannot be merged with itself")
    keep, other = _item(session, keep_id), _item(session, other_id)
    versions = sorted(
        [*queries.versions_of(session, keep_id), *queries.versions_of(session, other_id)],
        key=lambda v: (_began(v), v.item_id != keep_id, v.n),
    )
    seen_by: dict[int, int] = {}
    events = _take_events(session, other_id, seen_by) + _take_events(session, keep_id, seen_by)
    for table in (ItemAlias, ItemMatch):
        session.exec(  # type: ignore[call-overload]
            update(table).where(col(table.item_id) == other_id).values(item_id=keep_id)
        )
    _merge_sightings(session, keep_id, other_id)
    if other.last_seen_at > keep.last_seen_at:  # the newer sighting says where it is now
        keep.url, keep.removed_at = other.url or keep.url, other.removed_at
    keep.first_seen_at = min(keep.first_seen_at, other.first_seen_at)
    keep.last_seen_at = max(keep.last_seen_at, other.last_seen_at)
    keep.event_date = keep.event_date or other.event_date
    keep.listed = keep.listed or other.listed
    changes = _rebuild(session, keep, versions, events, seen_by)
    session.delete(other)
    session.add(_log(keep_id, "merge", f"merged item {other_id} into it: {why}", now))
    log.info("merged item %s into item %s: %s", other_id, keep_id, why)
    return Outcome(keep_id, keep.version_count, changes)


def split_item(session: Session, item_id: int, at: int, now: datetime) -> Outcome:
    """Move versions `at`… of the item to a new item of the same source. URL aliases (and
    the ids found in them) that only the moved versions had go with them, so the next
    check records the moved story on the new item; the change logs of both are rebuilt."""
    item = _item(session, item_id)
    versions = list(queries.versions_of(session, item_id))
    if not 2 <= at <= len(versions):
        raise UserError(f"--at is a version of item {item_id} from 2 to {len(versions)}")
    kept, moved = versions[: at - 1], versions[at - 1 :]
    new = Item(
        source_id=item.source_id,
        key=f"split:{item_id}:{at}",
        url=moved[-1].url or item.url,
        event_date=item.event_date,
        first_seen_at=moved[0].observed_at,
        last_seen_at=item.last_seen_at,
        removed_at=item.removed_at,
        listed=item.listed,
    )
    session.add(new)
    session.flush()
    assert new.id is not None
    for sighting in queries.sightings_of(session, item_id):  # the same sources show both
        session.add(
            ItemSighting(
                item_id=new.id,
                source_id=sighting.source_id,
                first_seen_at=moved[0].observed_at,
                listed=sighting.listed,
                removed_at=sighting.removed_at,
            )
        )
        sighting.removed_at = None
        session.add(sighting)
    item.url = kept[-1].url or item.url
    item.last_seen_at = kept[-1].last_observed_at
    item.removed_at = None
    _move_aliases(session, item_id, new.id, kept, moved)
    seen_by: dict[int, int] = {}
    events = _take_events(session, item_id, seen_by)
    split_at = _began(moved[0])
    before = [e for e in events if e.occurred_at < split_at]
    changes = _rebuild(session, item, kept, before, seen_by)
    after = [e for e in events if e.occurred_at >= split_at]
    changes += _rebuild(session, new, moved, after, seen_by)
    session.add(_log(item_id, "split", f"versions {at} on moved to item {new.id}", now))
    session.add(_log(new.id, "split", f"split from item {item_id} at version {at}", now))
    log.info("split item %s at version %s: new item %s", item_id, at, new.id)
    return Outcome(new.id, len(moved), changes)


def _merge_sightings(session: Session, keep_id: int, other_id: int) -> None:
    """The sources that showed the other item now sight the kept one: a source that showed
    both keeps its earliest sighting, and has the item listed while it listed either."""
    kept = {s.source_id: s for s in queries.sightings_of(session, keep_id)}
    for sighting in queries.sightings_of(session, other_id):
        mine = kept.get(sighting.source_id)
        if mine is None:
            session.add(
                ItemSighting(
                    item_id=keep_id,
                    source_id=sighting.source_id,
                    first_seen_at=sighting.first_seen_at,
                    listed=sighting.listed,
                    removed_at=sighting.removed_at,
                )
            )
        else:
            mine.first_seen_at = min(mine.first_seen_at, sighting.first_seen_at)
            if sighting.listed and sighting.removed_at is None:
                mine.removed_at = None
            mine.listed = mine.listed or sighting.listed
            session.add(mine)
        session.delete(sighting)
    session.flush()


def _item(session: Session, item_id: int) -> Item:
    item = session.get(Item, item_id)
    if item is None:
        raise UserError(f"no item {item_id}")
    return item


@dataclass(frozen=True)
class _Event:
    """A removal or restoration of an item, kept across the rebuild of its change log."""

    kind: str
    source_id: int  # the listing it left or came back to
    occurred_at: datetime
    recorded_at: datetime


def _take_events(session: Session, item_id: int, seen_by: dict[int, int]) -> list[_Event]:
    """The item's removals and restorations; its whole change log is then deleted (it is
    rebuilt from the versions, and the old rows point at versions that may go). seen_by
    learns which source recorded each version's change (version id: source id)."""
    events: list[_Event] = []
    for change in queries.changes_of(session, item_id):
        if change.kind in ("removed", "restored"):
            events.append(
                _Event(change.kind, change.source_id, change.occurred_at, change.recorded_at)
            )
        elif change.to_version_id is not None:
            seen_by[change.to_version_id] = change.source_id
    session.exec(delete(Change).where(col(Change.item_id) == item_id))  # type: ignore[call-overload]
    return events


def _began(version: Version) -> datetime:
    return version.reported_at or version.observed_at


def _rebuild(
    session: Session,
    item: Item,
    versions: Sequence[Version],
    events: Sequence[_Event],
    seen_by: dict[int, int],
) -> int:
    """Renumber the versions 1… in this order onto the item (folding a version equal to
    the one before it), and write its change log anew, each change credited to the source
    that saw its version (seen_by); the number of changes written."""
    assert item.id is not None
    for version in versions:  # out of the way of the (item, n) unique key first
        version.n = -(version.id or 0)
        session.add(version)
    session.flush()
    kept: list[Version] = []
    for version in versions:
        if kept and kept[-1].content_hash == version.content_hash:
            kept[-1].last_observed_at = max(kept[-1].last_observed_at, version.last_observed_at)
            session.delete(version)  # the same content twice: one version seen longer
            continue
        version.item_id, version.n = item.id, len(kept) + 1
        kept.append(version)
    session.flush()
    written = 0
    for previous, version in zip([None, *kept], kept, strict=False):
        seen = seen_by.get(version.id or 0)
        change = history.version_change(item, previous, version, _began(version), seen)
        _judge_observed(session, item, change, previous, version)
        change.from_version_id = previous.id if previous else None
        change.to_version_id = version.id
        session.add(change)
        session.flush()  # the next version's judgement reads this change (a headline test)
        written += 1
    for event in sorted(events, key=lambda e: e.occurred_at):
        latest = [v for v in kept if _began(v) <= event.occurred_at] or kept[:1]
        session.add(
            Change(
                item_id=item.id,
                source_id=event.source_id,
                kind=event.kind,
                from_n=latest[-1].n,
                to_n=latest[-1].n,
                from_version_id=latest[-1].id,
                to_version_id=latest[-1].id,
                occurred_at=event.occurred_at,
                recorded_at=event.recorded_at,
            )
        )
        written += 1
    item.version_count = len(kept)
    item.headline = kept[-1].headline if kept else item.headline
    session.add(item)
    session.flush()
    return written


def _judge_observed(
    session: Session, item: Item, change: Change, previous: Version | None, version: Version
) -> None:
    """Judge an observed version's change as ingest does: a headline switched back is a
    headline test or flip, a listing's field shown for the first time is "shown"."""
    source = session.get(Source, change.source_id)
    if version.origin != "observed" or source is None:
        return
    headline_tests.judge(
        session, item, change, version, headline_tests.window(source.options or {})
    )
    partial.judge(change, previous, source)


def _move_aliases(
    session: Session, from_id: int, to_id: int, kept: Sequence[Version], moved: Sequence[Version]
) -> None:
    """Move the aliases derived only from the moved versions' URLs."""

    def derived(versions: Sequence[Version]) -> set[str]:
        urls = {canonical_url(v.url) for v in versions if v.url}
        return urls | {i for i in map(stable_id, urls) if i}

    only_moved = derived(moved) - derived(kept)
    aliases = session.exec(select(ItemAlias).where(ItemAlias.item_id == from_id)).all()
    for alias in aliases:
        if alias.value in only_moved:
            alias.item_id = to_id
            session.add(alias)


def _log(item_id: int, method: str, what: str, now: datetime) -> ItemMatch:
    return ItemMatch(item_id=item_id, method=f"{method}: {what}", score=1.0, matched_at=now)


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
            merge_items(
                session, live[0], other, now, f"two sources of a site name it ({kind} {value})"
            )
            merged_into[other] = live[0]
            merged += 1
    return merged


def _final(merged_into: dict[int, int], item_id: int) -> int:
    while item_id in merged_into:
        item_id = merged_into[item_id]
    return item_id
