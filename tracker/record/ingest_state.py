"""What one check's recording keeps while it runs (tracker/record/ingest.py): its tallies
(IngestStats, which the check reports) and the writes saved for its end (_Pending).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import update
from sqlmodel import Session, col

from storage import Change, Item, ItemSighting, Version, queries
from storage.rows import new_row


@dataclass
class IngestStats:
    items_seen: int = 0
    items_created: int = 0
    versions_added: int = 0
    changes_added: int = 0
    # The item each observation was recorded on, in their order (None: skipped).
    landed: list[int | None] = field(default_factory=list)
    # The changes recorded, each with its item's tags now (for notifications' filters).
    recorded: list[tuple[Change, list[str] | None]] = field(default_factory=list)
    # The new versions as observed now (not a page's own history), for archive links.
    observed: list[Version] = field(default_factory=list)


@dataclass
class _Pending:
    """Writes a check saves for its end, where one statement or one flush does them all.

    Most of a big listing is unchanged: its items and latest versions only need their
    "last seen" times moved on, one UPDATE per 500 rows instead of one per row (they
    were read as plain rows: no ORM copy in the session goes stale). Changes point at
    versions that have no id before a flush: they are kept, in order, and get their ids
    after one flush for all the check's new versions.
    """

    seen_items: list[int] = field(default_factory=list)
    seen_versions: list[int] = field(default_factory=list)
    # Items seen unchanged by a caller that did not read them (tracker/record/listing_memory.py):
    # their latest versions are found by the item's version count.
    seen_latest_of: list[int] = field(default_factory=list)
    # This source's sightings: items it shows for the first time, items its listing shows
    # for the first time, and items back on its listing.
    new_sightings: list[int] = field(default_factory=list)
    newly_listed: list[int] = field(default_factory=list)
    back: list[int] = field(default_factory=list)
    # Items that moved to a new URL: the id shapes the old and new URL share (url_ids).
    moves: dict[int, list[str]] = field(default_factory=dict)
    changes: list[tuple[Change, Version | None, Version | None]] = field(default_factory=list)

    def change(self, change: Change, before: Version | None, after: Version | None) -> None:
        self.changes.append((change, before, after))

    def write(self, session: Session, source_id: int, listing: bool, now: datetime) -> None:
        session.flush()  # the new versions get their ids
        for change, before, after in self.changes:
            change.from_version_id = before.id if before else None
            change.to_version_id = after.id if after else None
            session.add(change)
        session.add_all(
            new_row(
                ItemSighting,
                item_id=item_id,
                source_id=source_id,
                first_seen_at=now,
                listed=listing,
            )
            for item_id in self.new_sightings
        )
        listed = [*self.newly_listed, *self.new_sightings] if listing else []
        sighted = col(ItemSighting.source_id) == source_id
        for model, ids, values, where in (
            (Item, self.seen_items, {"last_seen_at": now}, None),
            (Version, self.seen_versions, {"last_observed_at": now}, None),
            (Item, listed, {"listed": True}, None),
            (ItemSighting, self.newly_listed, {"listed": True}, sighted),
            (ItemSighting, self.back, {"removed_at": None}, sighted),
        ):
            key = col(ItemSighting.item_id) if model is ItemSighting else col(model.id)
            for chunk in queries.in_chunks(ids):
                statement = update(model).where(key.in_(chunk)).values(values)
                if where is not None:
                    statement = statement.where(where)
                session.exec(  # type: ignore[call-overload]
                    statement.execution_options(synchronize_session=False)  # no copies to update
                )
        for chunk in queries.in_chunks(self.seen_latest_of):
            queries.touch_latest_versions(session, chunk, now)
