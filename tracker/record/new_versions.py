"""Appending to an item's history (tracker/record/ingest.py records a check with these): the
observed version, the entries of the page's own history (a Changes list) not stored yet,
each with the change that leads to it, and the events that make no version (an item
leaving a listing or coming back to it).
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from storage import Change, Item, Source, Version, queries
from storage.rows import new_row
from tracker.compare import headline_tests
from tracker.extract.base import HistoryEntry, Observation
from tracker.identity import match
from tracker.identity.sighting import Sighting, content_fields
from tracker.normalise import canonical_url, clean_text, content_hash, same_text
from tracker.record import history, partial
from tracker.record.ingest_state import IngestStats, _Pending


def _unseen_history(
    session: Session, item: Item, observation: Observation, rules: match.Rules
) -> tuple[list[HistoryEntry], datetime | None]:
    """The entries of the page's own history that the item does not have yet, and when
    the first of them began (the time of the entry before it; None when unknown).

    An entry is known once its URL (in any rendition) is an alias of the item. For a
    new item every earlier entry counts; for a known one only entries after the last
    known entry do, since versions are only ever appended.
    """
    earlier = [entry for entry in observation.history if not entry.is_current]
    if not earlier:  # most pages list no history: no need to read the item's aliases
        return [], None
    started: datetime | None = None
    if item.version_count:
        known = set(queries.alias_values(session, item.id, "url"))
        known |= set(queries.alias_values(session, item.id, "page"))

        def is_known(url: str) -> bool:
            url = canonical_url(url)
            return url in known or match.page_stem(url, rules.renditions) in known

        positions = [i for i, e in enumerate(earlier) if e.url and is_known(e.url)]
        if positions:
            started = earlier[positions[-1]].reported_at
        earlier = earlier[positions[-1] + 1 :] if positions else []
    # The list's last earlier headline may equal the page's own (a slug change alone).
    if earlier and same_text(earlier[-1].headline, observation.headline):
        earlier.pop()
    return earlier, started


def _current_since(observation: Observation) -> datetime | None:
    """When the page's current headline began, by its own history: the time of the last
    earlier entry with another headline (entries that differ only in their URL are one
    headline). None when the page lists no history."""
    for entry in reversed(observation.history):
        if not entry.is_current and not same_text(entry.headline, observation.headline):
            return entry.reported_at
    return None


def _history_version(
    entry: HistoryEntry, started: datetime | None, now: datetime, check_id: int | None
) -> Version:
    headline = clean_text(entry.headline)
    return new_row(
        Version,
        item_id=0,
        n=0,
        headline=headline,
        url=entry.url,
        content_hash=content_hash({"headline": headline}),
        origin="page-history",
        observed_at=now,
        last_observed_at=now,
        reported_at=started,
        check_id=check_id,
    )


def _observed_version(sighting: Sighting, now: datetime, check_id: int | None) -> Version:
    fields = content_fields(sighting.observation)
    return new_row(
        Version,
        item_id=0,
        n=0,
        url=sighting.observation.url,
        content_hash=sighting.content_hash,
        origin="observed",
        observed_at=now,
        last_observed_at=now,
        check_id=check_id,
        **fields,
    )


def _add_version(
    session: Session,
    source: Source,
    item: Item,
    previous: Version | None,
    version: Version,
    stats: IngestStats,
    pending: _Pending,
    known_end: datetime | None = None,
    observed: bool = False,
) -> Version:
    """Append the version to the item's history with the change that leads to it.

    The change is dated when the version began (the page's reported time), else when it
    was observed; a first version whose start the page does not give is dated by the
    latest it can have begun, its end (known_end), rather than by today's check."""
    assert item.id is not None
    item.version_count += 1
    version.item_id = item.id
    version.n = item.version_count
    session.add(version)
    change = history.version_change(
        item, previous, version, version.reported_at or known_end or version.observed_at, source.id
    )
    if observed:  # an observed version: a headline test, a field first shown?
        span = headline_tests.window(source.options or {})
        headline_tests.judge(session, item, change, version, span)
        partial.judge(change, previous, source)
    pending.change(change, previous, version)
    if version.origin == "observed":
        stats.observed.append(version)
    stats.versions_added += 1
    stats.changes_added += 1
    return version


def _add_event(
    item: Item,
    source_id: int,
    kind: str,
    latest: Version | None,
    now: datetime,
    stats: IngestStats,
    pending: _Pending,
) -> None:
    """A change that is not a new version: the item left this source's listing, or came
    back to it."""
    assert item.id is not None
    event = new_row(
        Change,
        item_id=item.id,
        source_id=source_id,
        kind=kind,
        from_n=latest.n if latest else None,
        to_n=latest.n if latest else None,
        occurred_at=now,
        recorded_at=now,
    )
    pending.change(event, latest, latest)
    stats.changes_added += 1
