"""What an import remembers of a listing from one snapshot to the next.

Replaying a git-scraped listing records thousands of snapshots in which nearly every
record is the same as in the snapshot before. A record whose fields (those an
observation is made of, not a vote count or a rank beside them) were seen in the last
snapshot is the same observation of the same item, so it needs no extraction, identity
or hashing: the memory gives its item, and ingest only moves its last-seen times on
(record_observations' seen_unchanged). Only the records that changed or are new go
the whole way; a listing with rows known by their headline alone is read whole.

The memory holds while nothing else writes to the items: it is dropped when another
source of the site has been checked since (their items are shared), when a person has
merged or split items (a new item_match row), or when ingest refuses it (a new record
naming a remembered item, or items to merge: SeenUnchangedConflict); the snapshot then
goes the whole way and the memory is built afresh. A check that merges items is thus
one that remembered nothing, and what it remembers next is its own items, merged.

The last-seen times of the records seen unchanged are written late: moving them on for
every unchanged item of every snapshot (an UPDATE of each item and of its latest version)
was a sixth of a replay. The memory keeps when each was last seen and writes those times
before anything else is recorded about the item (an edit, a removal: the headline-test
window reads when a version was last observed), whenever the memory is dropped, every
WRITE_SEEN_EVERY snapshots, and when the import ends. Until then a reader of the database
sees an item's last-seen time up to that many snapshots behind the import. Times are only
ever moved on (another source may have seen the item later), and a time is kept only once
the snapshot that saw it is committed (ListingMemory.committed).
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from storage import Check, ItemMatch, Source, queries
from tracker.extract import Page
from tracker.extract.base import Observation
from tracker.extract.listing import listing_records, record_fields, record_observation
from tracker.extract.sanitise import MAX_ITEMS, sane_observations
from tracker.identity import match, sites
from tracker.identity.sighting import ContextSightings
from tracker.normalise import canonical_url


@dataclass
class Split:
    """A snapshot's records: the items of those seen before, and the others to record."""

    known: list[int]  # items of records the last snapshot showed the same
    context: list[Observation]  # those records' observations (the listing around the rest)
    known_keys: list[str]  # their record keys
    observations: list[Observation]  # the other records, read
    keys: list[str]  # their record keys, in the same order
    raw_keys: dict[tuple[Any, ...], str]  # see _raw_key: each record's, to its record key


# How many snapshots an import records before it writes the last-seen times it keeps.
WRITE_SEEN_EVERY = 25


@dataclass
class ListingMemory:
    # record key -> its item, and the observation it was read as
    items: dict[str, tuple[int, Observation]] = field(default_factory=dict)
    # the last snapshot's records as they were (_raw_key) -> their record keys
    raw_keys: dict[tuple[Any, ...], str] = field(default_factory=dict)
    last_check: int | None = None  # the check that left this memory
    last_match: int | None = None  # the newest item_match row then
    # Items seen unchanged whose last-seen time is not written yet -> that time.
    unwritten: dict[int, datetime] = field(default_factory=dict)
    # The snapshot being recorded: items it saw unchanged (kept in `unwritten` once it is
    # committed), and the items whose times it wrote (dropped from `unwritten` then).
    _seen_now: dict[int, datetime] = field(default_factory=dict)
    _written_now: set[int] = field(default_factory=set)
    snapshots_since_written: int = 0
    # The sightings of the remembered records, for ingest's context (identity keys).
    sightings: ContextSightings = field(default_factory=ContextSightings)

    def split(self, session: Session, source: Source, page: Page, check_id: int) -> Split | None:
        """The page's records split by what the memory knows, for the check `check_id`;
        None when the page should be read whole (not a listing of two or more records the
        memory can follow: extract() then reads it, or says why it cannot)."""
        try:
            records = listing_records(page)
        except Exception:  # noqa: BLE001 - extract() reads it again and reports the error
            return None
        if not 2 <= len(records) <= MAX_ITEMS:
            return None
        if not self._holds(session, source, check_id):
            self.items.clear()
        known: list[int] = []
        context: list[Observation] = []
        known_keys: list[str] = []
        observations: list[Observation] = []
        keys: list[str] = []
        raw_keys: dict[tuple[Any, ...], str] = {}
        for record in records:
            raw = _raw_key(record)
            try:
                key = self.raw_keys.get(raw) if raw is not None else None
            except TypeError:  # a list or an object among its values
                raw = key = None
            if key is None:
                key = _record_key(record_fields(record, page))
            if raw is not None:
                raw_keys[raw] = key
            remembered = self.items.get(key)
            if remembered is not None:
                known.append(remembered[0])
                context.append(remembered[1])
                known_keys.append(key)
                continue
            observation = record_observation(record, page)
            sane = sane_observations([observation], page.url) if observation else []
            if sane:
                observations.append(sane[0])
                keys.append(key)
        if records and not known and not observations:
            return None  # no record is an item: extract() says so
        listing = [*context, *observations]
        hubs = match.hub_urls(listing)
        if not all(_named_for_itself(observation, hubs) for observation in listing):
            return None  # see _named_for_itself
        return Split(list(dict.fromkeys(known)), context, known_keys, observations, keys, raw_keys)

    def writes_seen_late(self) -> bool:
        """Whether this snapshot leaves the last-seen times of its unchanged records to
        the memory (else ingest writes them, as a check does)."""
        return self.snapshots_since_written + 1 < WRITE_SEEN_EVERY

    def write_seen(self, session: Session, split: Split | None) -> None:
        """Before a snapshot is recorded: write the kept last-seen times of the items it
        does not show unchanged (it edits them, or they left: what is recorded next must
        read their true times), of every item when it is read the whole way (split None).
        Those it shows unchanged get its own time instead: kept again (remember), or
        written by ingest when the snapshot writes its unchanged records' times itself."""
        shown = set(split.known) if split is not None else set()
        by_time: defaultdict[datetime, list[int]] = defaultdict(list)
        for item, seen_at in self.unwritten.items():
            if item not in shown:
                by_time[seen_at].append(item)
        for seen_at, items in by_time.items():
            queries.write_seen_late(session, items, seen_at)
        self._written_now = set(self.unwritten)  # written now, or superseded by this snapshot

    def remember(
        self,
        session: Session,
        split: Split,
        landed: list[int | None],
        check_id: int | None,
        now: datetime,
    ) -> None:
        """Keep this snapshot's records and their items for the next one, and when its
        unchanged records were seen (unless ingest wrote that: writes_seen_late)."""
        if self.writes_seen_late():
            self._seen_now = dict.fromkeys(split.known, now)
        self.items = {key: self.items[key] for key in split.known_keys}
        self.items.update(
            (key, (item, observation))
            for key, item, observation in zip(split.keys, landed, split.observations, strict=True)
            if item is not None
        )
        self.raw_keys = split.raw_keys
        self.last_check = check_id
        self.last_match = _newest_match(session)

    def forget(self, session: Session) -> None:
        """Drop what the memory holds; the snapshot is read the whole way."""
        self.write_seen(session, None)
        self._seen_now = {}
        self.items.clear()
        self.raw_keys.clear()

    def committed(self) -> None:
        """The snapshot's transaction is committed: what it wrote is written, what it saw
        unchanged is kept."""
        for item in self._written_now:
            self.unwritten.pop(item, None)
        self.unwritten.update(self._seen_now)
        # A snapshot that kept no times wrote them all (or remembered nothing).
        self.snapshots_since_written = self.snapshots_since_written + 1 if self._seen_now else 0
        self.rolled_back()

    def rolled_back(self) -> None:
        """The snapshot's transaction is rolled back: its writes never happened."""
        self._seen_now = {}
        self._written_now = set()

    def _holds(self, session: Session, source: Source, check_id: int) -> bool:
        """Whether nothing but this import wrote to the site's items since the memory was
        left (the check `check_id` is this snapshot's own)."""
        if not self.items:
            return False
        shared = sites.sharing(session, source, listing=True).source_ids(session)
        newest = session.exec(
            select(func.max(Check.id)).where(
                col(Check.source_id).in_(shared), col(Check.id) != check_id
            )
        ).one()
        return newest == self.last_check and _newest_match(session) == self.last_match


def _named_for_itself(observation: Observation, hubs: set[str]) -> bool:
    """Whether the row names its item by an id or the item's own URL. Which item a row
    known by its headline is (no URL or id, or a link to a section page) depends on the
    rest of the listing and on the order ingest reads it in: a listing with such rows is
    read whole, every time."""
    if observation.url:
        return canonical_url(observation.url) not in hubs
    return observation.guid is not None


def _raw_key(record: Any) -> tuple[Any, ...] | None:
    """A record of plain values as it was parsed, for a cheap first look-up: most records
    of a steady listing are the same as in the last snapshot, and building their record
    keys (record_fields, _record_key) cost a tenth of a replayed snapshot. None for a
    record that is no object; one with nested values is unhashable (the caller builds
    its record key each time)."""
    if not isinstance(record, dict):
        return None
    # With the values' types: 1, 1.0 and true are equal in Python, not in a listing.
    return (*record.items(), *map(type, record.values()))


def _record_key(fields: Any) -> str:
    # default=repr: a field may hold what JSON cannot (it came from JSON or CSV: rarely).
    return json.dumps(
        fields, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=repr
    )


def _newest_match(session: Session) -> int | None:
    return session.exec(select(func.max(ItemMatch.id))).one()
