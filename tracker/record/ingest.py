"""Recording what a check saw: new versions, their changes, the item's aliases.

This module is the loop over a check's observations (seen unchanged, recorded, removed);
which item a newcomer is, and the new items, are tracker/record/newcomers.py; versions and
changes appended to an item, tracker/record/new_versions.py; the check's tallies and the writes
saved for its end, tracker/record/ingest_state.py.

Runs inside the caller's transaction; it never commits, so a check is stored
whole or not at all.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from sqlmodel import Session

from storage import Change, Item, Source, Version, queries
from tracker.compare import noise
from tracker.extract.base import Observation
from tracker.identity import match, sites, url_ids
from tracker.identity.sighting import (
    ContextSightings,
    Sighting,
    content_fields,
    drop_ambiguous_url_ids,
)
from tracker.identity.source_index import SourceIndex
from tracker.normalise import canonical_url
from tracker.record import partial
from tracker.record.ingest_state import IngestStats, _Pending
from tracker.record.new_versions import (
    _add_event,
    _add_version,
    _current_since,
    _history_version,
    _observed_version,
    _unseen_history,
)
from tracker.record.newcomers import (
    _add_aliases,
    _create_newcomers,
    _key_hubs,
    _match_newcomers,
    _new_item,
    _release_stale_headlines,
    merge_named_items,
)

log = logging.getLogger(__name__)


class SeenUnchangedConflict(Exception):
    """An observation names an item the caller said was seen unchanged, or items to merge:
    the caller's memory of the listing no longer holds. Raised before anything is written;
    record the check again without seen_unchanged."""


def _seen_now(change: Change, before: Version | None, after: Version | None, now: datetime) -> bool:
    """A change this check saw happen (news for subscribers): an item leaving or coming
    back, a new item, or a new version of an item seen before. Not the edits a page's own
    history tells of, nor an edit found at an item's first sight (it happened before)."""
    if change.kind in ("removed", "restored"):
        return True
    if after is None or after.origin != "observed":
        return False
    return change.kind == "created" or (before is not None and before.observed_at < now)


def is_listing(observations: Sequence[Observation], page_url: str) -> bool:
    """An item page shows exactly one item, at its own URL; any other page is a listing."""
    if len(observations) != 1:
        return True
    own_url = observations[0].url
    return own_url is None or canonical_url(own_url) != canonical_url(page_url)


def record_observations(
    session: Session,
    source: Source,
    observations: Sequence[Observation],
    now: datetime,
    check_id: int | None = None,
    page_urls: Sequence[str] = (),
    listing: bool = False,
    seen_unchanged: Sequence[int] = (),
    context: Sequence[Observation] = (),
    seen_times_written_late: bool = False,
    context_sightings: ContextSightings | None = None,
) -> IngestStats:
    """Store what is new in these observations of one source.

    An item page shows one item: page_urls (the URL requested before redirects)
    are its aliases too. A listing (day index, feed) shows many: a newcomer no
    alias names may be an item that left in the same check, edited (fuzzy
    matching); an item it showed before and no longer shows is recorded as
    removed, and restored when it comes back. seen_unchanged: items a listing shows
    again exactly as its last check did (known to the caller, not observed again here):
    they are seen, not removed, and only their last-seen times change. context: their
    observations, the listing around these ones (which of its URLs are section pages, which
    URL ids name two items). seen_times_written_late: the caller writes the last-seen times
    of the items seen unchanged itself, later (an import's ListingMemory), which also keeps
    the context's sightings from one check to the next (context_sightings).
    """
    assert source.id is not None
    site = sites.sharing(session, source, listing)
    rules = match.Rules.for_source(source.kind, source.options or {})
    rules = replace(rules, learned=site.learned)
    page_urls = () if listing else page_urls
    # What identifies each observation, worked out once for every step below.
    sightings = [Sighting.of(observation, page_urls, rules) for observation in observations]
    # The context's items are known already: their keys only tell which URL ids are ambiguous.
    if context_sightings is None:
        around = [Sighting.of(observation, page_urls, rules) for observation in context]
    else:
        around = context_sightings.of(context, rules)
    drop_ambiguous_url_ids(sightings, around)
    if listing:
        _key_hubs(sightings, match.hub_urls([*observations, *context]))
    # Every alias this check looks up or adds, read in one go (the headline
    # keys that tell two items under one URL apart are read only when that happens).
    aliases = [alias for sighting in sightings for alias in sighting.keys]
    aliases += [("url", url) for sighting in sightings for url in sighting.urls]
    hub_pages = match.hub_page_aliases(observations) if listing else []
    aliases += hub_pages
    index = SourceIndex(session, source.id, aliases, site)
    # Section pages seen as such before, with no article under them now. Their keys join
    # `aliases`, which an index read again after a merge is given.
    known_hubs = {url for kind, url in hub_pages if index.items_named([(kind, url)])}
    hub_keys = _key_hubs(sightings, known_hubs)
    aliases += hub_keys
    index.learn(hub_keys)
    stats = IngestStats()
    if seen_unchanged and any(len(index.items_named(s.keys)) > 1 for s in sightings):
        raise SeenUnchangedConflict("items to merge")
    index = merge_named_items(session, index, sightings, aliases, now)
    item_ids = [index.find_id(sighting.keys) for sighting in sightings]
    unchanged = set(seen_unchanged)
    if not unchanged.isdisjoint(item_ids):
        raise SeenUnchangedConflict("an item seen unchanged is observed too")
    # The items the listing showed until now: read once for newcomers' matching and for
    # removals (nothing in between changes which are listed; reading them was 3% of a
    # replayed snapshot, each time).
    listed = queries.listed_ids(session, source.id) if listing else []
    if listing:
        _release_stale_headlines(index, sightings, item_ids, now - rules.match_window)
        _match_newcomers(
            session, source, sightings, item_ids, rules, check_id, now, index, unchanged, listed
        )
        partial.learn(source, observations, item_ids)
    _create_newcomers(session, source, sightings, item_ids, now, index, stats)
    if listing:  # fields a listing shows for some items only: see tracker/record/partial.py
        sightings = partial.settle(session, source, sightings, item_ids, index)
    # The stored items whose content this check changes: read in one go, not one by one.
    index.prefetch(
        item_id
        for item_id, sighting in zip(item_ids, sightings, strict=True)
        if item_id is not None
        and (stored := index.stored(item_id)) is not None
        and stored.latest_hash != sighting.content_hash
    )
    pending = _Pending()
    if not seen_times_written_late:
        pending.seen_items += seen_unchanged
        pending.seen_latest_of += seen_unchanged
    stats.items_seen += len(seen_unchanged)
    stats.landed = [None] * len(observations)
    # Each item is claimed by one observation per check, with that observation's content
    # hash (an item seen unchanged by the caller: by no observation).
    claims: dict[int, str] = dict.fromkeys(seen_unchanged, "")
    for position, (sighting, item_id) in enumerate(zip(sightings, item_ids, strict=True)):
        if item_id is not None and item_id in claims:
            if claims[item_id] == sighting.content_hash:
                stats.landed[position] = item_id
                continue  # the listing shows the same item twice (relative and absolute link)
            # Two different items share a key (two bullets citing one article): the
            # later one is told apart by its headline, so neither flips every check.
            sighting = sighting.known_by(match.fallback_keys(sighting.observation))
            index.learn(sighting.keys)
            item_id = index.find_id(sighting.keys) if sighting.keys else None
            if not sighting.keys or (item_id is not None and item_id in claims):
                headline = sighting.observation.headline
                log.warning("cannot tell %r apart from another item; skipped", headline)
                continue
        if item_id is not None and _seen_unchanged(index, item_id, sighting, pending):
            stats.items_seen += 1
            claims[item_id] = sighting.content_hash
            stats.landed[position] = item_id
            continue
        item = None if item_id is None else index.item(item_id)
        recorded = _record_one(index, source, sighting, item, now, check_id, rules, stats, pending)
        claims[recorded.id or 0] = sighting.content_hash
        stats.landed[position] = recorded.id
    for item_id in claims:
        if item_id in unchanged:
            continue  # sighted and listed when it was last seen
        sighting = index.sighting(item_id)
        if sighting is None:
            pending.new_sightings.append(item_id)
        elif listing and not sighting.listed:
            pending.newly_listed.append(item_id)
    if listing:
        gone = [item_id for item_id in listed if item_id not in claims]
        _record_removals(session, source, gone, now, stats, pending)
    sites.learn_shapes(source, pending.moves.values())
    pending.write(session, source.id, listing, now)
    stats.recorded = [
        (change, after.tags if after else None)
        for change, before, after in pending.changes
        if _seen_now(change, before, after, now)
    ]
    return stats


def _record_removals(
    session: Session,
    source: Source,
    departed_ids: Sequence[int],
    now: datetime,
    stats: IngestStats,
    pending: _Pending,
) -> None:
    """Record the items this listing showed before and no longer shows as removed from
    it; an item leaves the site's listings when no other listing still shows it."""
    assert source.id is not None
    departed = queries.items_by_id(session, departed_ids)
    latest = queries.latest_versions(session, departed_ids)
    elsewhere = queries.listed_elsewhere(session, departed_ids, source.id)
    for item in departed:
        _add_event(item, source.id, "removed", latest.get(item.id or 0), now, stats, pending)
        if item.id not in elsewhere:
            item.removed_at = now
            session.add(item)
    queries.mark_removed(session, source.id, departed_ids, now)


def _record_one(
    index: SourceIndex,
    source: Source,
    sighting: Sighting,
    item: Item | None,
    now: datetime,
    check_id: int | None,
    rules: match.Rules,
    stats: IngestStats,
    pending: _Pending,
) -> Item:
    """Record a sighting that may change something (see _seen_unchanged for the rest)."""
    assert source.id is not None
    session = index.session
    observation = sighting.observation
    stats.items_seen += 1
    if item is None:  # told apart from another new item only now, by its headline
        item = _new_item(source.id, sighting, now)
        session.add(item)
        session.flush()
        index.added_item(item)
        stats.items_created += 1
    elif index.removed_from_source(item.id or 0):
        _add_event(item, source.id, "restored", index.latest(item), now, stats, pending)
        pending.back.append(item.id or 0)

    latest = index.latest(item) if item.version_count else None
    unseen, started = _unseen_history(session, item, observation, rules)
    for entry in unseen:
        # A Changes entry's time is when that headline was replaced: the version began
        # when the one before it ended (unknown for the first), and the change to the
        # next one happened at the entry's own time.
        version = _history_version(entry, started, now, check_id)
        known_end = entry.reported_at if started is None else None
        latest = _add_version(session, source, item, latest, version, stats, pending, known_end)
        started = entry.reported_at

    if latest is not None and (
        latest.content_hash == sighting.content_hash
        or noise.same_but_noise(latest, content_fields(observation), source.options or {})
    ):  # the same, or different by noise alone ("Updated 5 minutes ago"): no new version
        latest.last_observed_at = now
        session.add(latest)
    else:
        observed = _observed_version(sighting, now, check_id)
        observed.reported_at = _current_since(observation)
        latest = _add_version(
            session, source, item, latest, observed, stats, pending, observed=True
        )
    index.added_version(item, latest)

    _add_aliases(index, item.id or 0, sighting)
    if item.url and sighting.url and canonical_url(item.url) != sighting.url:
        pending.moves[item.id or 0] = url_ids.surviving_shapes(item.url, observation.url)
    item.url = observation.url or item.url
    item.headline = latest.headline if latest.headline is not None else item.headline
    item.event_date = observation.event_date or item.event_date
    item.last_seen_at = now
    item.removed_at = None
    session.add(item)
    return item


def _seen_unchanged(
    index: SourceIndex,
    item_id: int,
    sighting: Sighting,
    pending: _Pending,
) -> bool:
    """Record a sighting that changes nothing of a stored item but its last-seen times;
    False (nothing done) when it may change more, for _record_one to do.

    Most items of a big listing are such sightings: they are decided on plain rows, and
    their times are written for all at once (_Pending).
    """
    stored = index.stored(item_id)
    observation = sighting.observation
    if stored is None or stored.removed_at is not None:
        return False
    if stored.latest_hash != sighting.content_hash:
        return False
    if index.removed_from_source(item_id):
        return False  # back on this listing: a restoration
    if any(not entry.is_current for entry in observation.history):
        return False  # a page history may hold versions the item lacks
    headline = stored.latest_headline if stored.latest_headline is not None else stored.headline
    url = observation.url or stored.url
    event_date = observation.event_date or stored.event_date
    if (url, headline, event_date) != (stored.url, stored.headline, stored.event_date):
        return False
    _add_aliases(index, item_id, sighting)
    pending.seen_items.append(item_id)
    if stored.latest_id is not None:
        pending.seen_versions.append(stored.latest_id)
    return True
