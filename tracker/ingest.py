"""Recording what a check saw: new versions, their changes, the item's aliases.

Runs inside the caller's transaction; it never commits, so a check is stored
whole or not at all.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from sqlalchemy import update
from sqlmodel import Session, col

from storage import Change, Item, ItemMatch, ItemSighting, Source, Version, queries
from tracker import headline_tests, history, identity, merge, noise, partial, sites, url_ids
from tracker.extract.base import HistoryEntry, Observation
from tracker.normalise import FieldValue, canonical_url, clean_text, content_hash, same_text
from tracker.source_index import SourceIndex

log = logging.getLogger(__name__)


class SeenUnchangedConflict(Exception):
    """An observation names an item the caller said was seen unchanged, or items to merge:
    the caller's memory of the listing no longer holds. Raised before anything is written;
    record the check again without seen_unchanged."""


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
    # Items seen unchanged by a caller that did not read them (tracker/listing_memory.py):
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
            ItemSighting(item_id=item_id, source_id=source_id, first_seen_at=now, listed=listing)
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
    URL ids name two items).
    """
    assert source.id is not None
    site = sites.sharing(session, source, listing)
    rules = identity.Rules.for_source(source.kind, source.options or {})
    rules = replace(rules, learned=site.learned)
    page_urls = () if listing else page_urls
    keys = [identity.identity_keys(obs, page_urls, rules) for obs in [*observations, *context]]
    identity.drop_ambiguous_url_ids([*observations, *context], keys)
    del keys[len(observations) :]  # the context's items are known already
    if listing:
        _key_hubs(observations, keys, identity.hub_urls([*observations, *context]))
    # Every alias this check looks up or adds, read in one go (the headline
    # keys that tell two items under one URL apart are read only when that happens).
    aliases = [alias for item_keys in keys for alias in item_keys]
    # Every URL each observation says its item has had: worked out once, here, for the
    # look-up and for the aliases each item is given below.
    known = [identity.known_urls(observation, page_urls) for observation in observations]
    aliases += [("url", url) for urls in known for url in urls]
    hub_pages = identity.hub_page_aliases(observations) if listing else []
    aliases += hub_pages
    index = SourceIndex(session, source.id, aliases, site)
    # Section pages seen as such before, with no article under them now. Their keys join
    # `aliases`, which an index read again after a merge is given.
    known_hubs = {url for kind, url in hub_pages if index.items_named([(kind, url)])}
    hub_keys = _key_hubs(observations, keys, known_hubs)
    aliases += hub_keys
    index.learn(hub_keys)
    stats = IngestStats()
    if seen_unchanged and any(len(index.items_named(item_keys)) > 1 for item_keys in keys):
        raise SeenUnchangedConflict("items to merge")
    index = merge_named_items(session, index, keys, aliases, now)
    item_ids = [index.find_id(item_keys) for item_keys in keys]
    unchanged = set(seen_unchanged)
    if not unchanged.isdisjoint(item_ids):
        raise SeenUnchangedConflict("an item seen unchanged is observed too")
    # The items the listing showed until now: read once for newcomers' matching and for
    # removals (nothing in between changes which are listed; reading them was 3% of a
    # replayed snapshot, each time).
    listed = queries.listed_ids(session, source.id) if listing else []
    if listing:
        _release_stale_headlines(index, keys, item_ids, now - rules.match_window)
        _match_newcomers(
            session, source, observations, keys, item_ids, rules, check_id, now, index,
            unchanged, listed,
        )  # fmt: skip
        partial.learn(source, observations, item_ids)
    _create_newcomers(session, source, observations, keys, item_ids, known, now, index, stats)
    hashes = [content_hash(_content_fields(observation)) for observation in observations]
    if listing:  # fields a listing shows for some items only: see tracker/partial.py
        observations, hashes = partial.settle(
            session, source, observations, hashes, item_ids, index
        )
    # The stored items whose content this check changes: read in one go, not one by one.
    index.prefetch(
        item_id
        for item_id, observed_hash in zip(item_ids, hashes, strict=True)
        if item_id is not None
        and (stored := index.stored(item_id)) is not None
        and stored.latest_hash != observed_hash
    )
    pending = _Pending()
    pending.seen_items += seen_unchanged
    pending.seen_latest_of += seen_unchanged
    stats.items_seen += len(seen_unchanged)
    stats.landed = [None] * len(observations)
    # Each item is claimed by one observation per check, with that observation's content
    # hash (an item seen unchanged by the caller: by no observation).
    claims: dict[int, str] = dict.fromkeys(seen_unchanged, "")
    for position, (observation, observed_hash, item_keys, item_id, urls) in enumerate(
        zip(observations, hashes, keys, item_ids, known, strict=True)
    ):
        if item_id is not None and item_id in claims:
            if claims[item_id] == observed_hash:
                stats.landed[position] = item_id
                continue  # the listing shows the same item twice (relative and absolute link)
            # Two different items share a key (two bullets citing one article): the
            # later one is told apart by its headline, so neither flips every check.
            item_keys = identity.fallback_keys(observation)
            index.learn(item_keys)
            item_id = index.find_id(item_keys) if item_keys else None
            if not item_keys or (item_id is not None and item_id in claims):
                log.warning("cannot tell %r apart from another item; skipped", observation.headline)
                continue
        if item_id is not None and _seen_unchanged(
            index, item_id, observation, observed_hash, item_keys, urls, pending
        ):
            stats.items_seen += 1
            claims[item_id] = observed_hash
            stats.landed[position] = item_id
            continue
        recorded = _record_one(
            index,
            source,
            observation,
            observed_hash,
            item_keys,
            None if item_id is None else index.item(item_id),
            now,
            check_id,
            urls,
            rules,
            stats,
            pending,
        )
        claims[recorded.id or 0] = observed_hash
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


def merge_named_items(
    session: Session,
    index: SourceIndex,
    keys: Sequence[Sequence[tuple[str, str]]],
    aliases: Sequence[tuple[str, str]],
    now: datetime,
) -> SourceIndex:
    """Merge the stored items that one observation's keys name together (a page whose
    Changes list names the URLs of two items recorded apart): later evidence that they
    are one story. The index to go on with: after a merge, one read afresh (the merged
    items' aliases moved), else the same."""
    for item_keys in keys:
        named = sorted(index.items_named(item_keys))
        if len(named) < 2:
            continue
        why = f"one page names both ({item_keys[0][0]} {item_keys[0][1]})"
        for other in named[1:]:
            merge.merge_items(session, named[0], other, now, why)
        index = SourceIndex(session, index.source_id, aliases, index.sharing)  # merges are rare
    return index


def _key_hubs(
    observations: Sequence[Observation], keys: list[list[tuple[str, str]]], hubs: set[str]
) -> list[tuple[str, str]]:
    """Key the rows that link one of these section pages by page and headline (see
    identity.hub_keys) in place of what they had; the keys given."""
    given: list[tuple[str, str]] = []
    for position, observation in enumerate(observations):
        if observation.url and canonical_url(observation.url) in hubs:
            keys[position] = identity.hub_keys(observation)
            given += keys[position]
    return given


# Keys that say no more than "a row with this headline" (a headline; a section page and
# its headline).
HEADLINE_KINDS = frozenset({"title", identity.HUB})


def _release_stale_headlines(
    index: SourceIndex,
    keys: Sequence[Sequence[tuple[str, str]]],
    item_ids: list[int | None],
    cutoff: datetime,
) -> None:
    """A headline alone back on the listing after it left it before `cutoff` (longer ago
    than the match window) is a new item, not the old one restored: a daily template, a
    wire story issued again. Its keys then name the new item."""
    for position, item_id in enumerate(item_ids):
        sighting = None if item_id is None else index.sighting(item_id)
        if sighting is None or sighting.removed_at is None or sighting.removed_at >= cutoff:
            continue  # most rows: still listed; the keys that named it are not looked at
        kind, _ = index.named_by(keys[position])
        if kind in HEADLINE_KINDS:
            item_ids[position] = None
            index.release([key for key in keys[position] if key[0] == kind])


def _match_newcomers(
    session: Session,
    source: Source,
    observations: Sequence[Observation],
    keys: Sequence[Sequence[tuple[str, str]]],
    item_ids: list[int | None],
    rules: identity.Rules,
    check_id: int | None,
    now: datetime,
    index: SourceIndex,
    also_present: set[int],
    listed: Sequence[int],
) -> None:
    """Fill in `item_ids` for newcomers that fuzzy matching takes for items that left the
    listing in this check or within the source's match window; log each with its evidence.
    also_present: items on the listing that no observation stands for (seen unchanged);
    listed: the items the listing showed until this check."""
    assert source.id is not None
    newcomers = [position for position, item_id in enumerate(item_ids) if item_id is None]
    if not newcomers or rules.match_threshold > 1:
        return
    present = {item_id for item_id in item_ids if item_id is not None} | also_present
    departed_ids = [item_id for item_id in listed if item_id not in present]
    cutoff = now - rules.match_window
    departed_ids += [
        i for i in queries.removed_since(session, source.id, cutoff) if i not in present
    ]
    publisher_ids: dict[int, list[tuple[str, str]]] = defaultdict(list)
    for item_id, kind, value in queries.aliases_of(session, departed_ids, ("id", "urlid", "guid")):
        publisher_ids[item_id].append((kind, value))
    # Only items whose publisher ids allow a pairing with some newcomer are read: on a
    # listing whose rows carry ids, that is none of them (a tenth of a replayed snapshot
    # went on reading and scoring pairs that identity._veto refuses).
    newcomer_ids = [identity.strong_ids(keys[position]) for position in newcomers]
    strong = {item_id: identity.strong_ids(publisher_ids[item_id]) for item_id in departed_ids}
    departed_ids = [
        item_id
        for item_id in departed_ids
        if any(identity.ids_veto(strong[item_id], new) is None for new in newcomer_ids)
    ]
    departed = queries.items_by_id(session, departed_ids)
    latest = queries.latest_versions(session, departed_ids)
    for item in departed:  # the index learns them: they may take the news now
        index.added_item(item)
        if item.id in latest:
            index.added_version(item, latest[item.id])
    index.read_sightings(departed_ids)
    pairs = identity.pair_fuzzy(
        [
            identity.Candidate(item, latest[item.id], strong[item.id or 0])
            for item in departed
            if item.id in latest
        ],
        [observations[position] for position in newcomers],
        rules.match_threshold,
        newcomer_keys=[keys[position] for position in newcomers],
        seen_on=now.date(),
    )
    for pairing in pairs:
        observation = observations[newcomers[pairing.newcomer]]
        item_ids[newcomers[pairing.newcomer]] = pairing.item.id
        session.add(
            ItemMatch(
                item_id=pairing.item.id or 0,
                check_id=check_id,
                method="fuzzy: " + ", ".join(pairing.evidence),
                score=pairing.score,
                matched_headline=observation.headline,
                matched_url=observation.url,
                matched_at=now,
            )
        )
        log.info(
            "fuzzy match: %r is item %s (score %.2f: %s)",
            observation.headline,
            pairing.item.id,
            pairing.score,
            ", ".join(pairing.evidence),
        )


def _create_newcomers(
    session: Session,
    source: Source,
    observations: Sequence[Observation],
    keys: Sequence[Sequence[tuple[str, str]]],
    item_ids: list[int | None],
    known: Sequence[Sequence[str]],
    now: datetime,
    index: SourceIndex,
    stats: IngestStats,
) -> None:
    """Create the items no alias names, all in one flush, and fill in their `item_ids`.

    Observations that share a key (one article under a relative and an absolute link)
    share one new item, as they would find each other's aliases one at a time.
    """
    assert source.id is not None
    created: dict[tuple[str, str], Item] = {}
    # Python object ids: the new items have no database ids before the flush.
    aliases: dict[int, tuple[Item, list[tuple[str, str]]]] = {}
    new_at: dict[int, Item] = {}  # position in the check: its new item
    for position, (observation, item_keys, urls) in enumerate(
        zip(observations, keys, known, strict=True)
    ):
        if item_ids[position] is not None:
            continue
        item = next((created[key] for key in item_keys if key in created), None)
        if item is None:
            item = _new_item(source.id, observation, item_keys[0][1], now)
            session.add(item)
            aliases[id(item)] = (item, [])
            stats.items_created += 1
        for alias in [*item_keys, *_url_aliases(item_keys, urls)]:
            created.setdefault(alias, item)
            aliases[id(item)][1].append(alias)
        new_at[position] = item
    if not new_at:
        return
    session.flush()  # every new item gets its id
    for position, item in new_at.items():
        item_ids[position] = item.id
    for item, found in aliases.values():
        index.added_item(item)
        for kind, value in dict.fromkeys(found):
            index.add_alias(item.id or 0, kind, value)


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
    observation: Observation,
    observed_hash: str,
    keys: Sequence[tuple[str, str]],
    item: Item | None,
    now: datetime,
    check_id: int | None,
    urls: Sequence[str],
    rules: identity.Rules,
    stats: IngestStats,
    pending: _Pending,
) -> Item:
    """Record a sighting that may change something (see _seen_unchanged for the rest)."""
    assert source.id is not None
    session = index.session
    stats.items_seen += 1
    if item is None:  # told apart from another new item only now, by its headline
        item = _new_item(source.id, observation, keys[0][1], now)
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
        latest.content_hash == observed_hash
        or noise.same_but_noise(latest, _content_fields(observation), source.options or {})
    ):  # the same, or different by noise alone ("Updated 5 minutes ago"): no new version
        latest.last_observed_at = now
        session.add(latest)
    else:
        observed = _observed_version(observation, observed_hash, now, check_id)
        observed.reported_at = _current_since(observation)
        latest = _add_version(
            session, source, item, latest, observed, stats, pending, observed=True
        )
    index.added_version(item, latest)

    _add_aliases(index, item.id or 0, keys, urls)
    if item.url and observation.url and canonical_url(item.url) != canonical_url(observation.url):
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
    observation: Observation,
    observed_hash: str,
    keys: Sequence[tuple[str, str]],
    urls: Sequence[str],
    pending: _Pending,
) -> bool:
    """Record a sighting that changes nothing of a stored item but its last-seen times;
    False (nothing done) when it may change more, for _record_one to do.

    Most items of a big listing are such sightings: they are decided on plain rows, and
    their times are written for all at once (_Pending).
    """
    stored = index.stored(item_id)
    if stored is None or stored.removed_at is not None or stored.latest_hash != observed_hash:
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
    _add_aliases(index, item_id, keys, urls)
    pending.seen_items.append(item_id)
    if stored.latest_id is not None:
        pending.seen_versions.append(stored.latest_id)
    return True


def _add_aliases(
    index: SourceIndex, item_id: int, keys: Sequence[tuple[str, str]], urls: Sequence[str]
) -> None:
    for kind, value in dict.fromkeys([*keys, *_url_aliases(keys, urls)]):
        index.add_alias(item_id, kind, value)


def _url_aliases(keys: Sequence[tuple[str, str]], urls: Sequence[str]) -> list[tuple[str, str]]:
    """Every URL the observation says its item has had (identity.known_urls) is kept for
    look-ups (`redline history URL`), whatever decided identity; but a section page's
    names no one item: it is kept as what it is, a hub page."""
    hub = bool(keys) and keys[0][0] == identity.HUB
    kind = identity.HUB_PAGE if hub else "url"
    return [(kind, url) for url in urls]


def _new_item(source_id: int, observation: Observation, key: str, now: datetime) -> Item:
    return Item(
        source_id=source_id,
        key=key,
        url=observation.url,
        event_date=observation.event_date,
        first_seen_at=now,
        last_seen_at=now,
    )


def _unseen_history(
    session: Session, item: Item, observation: Observation, rules: identity.Rules
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
            return url in known or identity.page_stem(url, rules.renditions) in known

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
    return Version(
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


def _content_fields(observation: Observation) -> dict[str, FieldValue]:
    return {
        "headline": clean_text(observation.headline),
        "summary": clean_text(observation.summary),
        "category": clean_text(observation.category),
        "tags": observation.tags,
        "sources": observation.sources,
        "body": clean_text(observation.body),
    }


def _observed_version(
    observation: Observation, observed_hash: str, now: datetime, check_id: int | None
) -> Version:
    fields = _content_fields(observation)
    return Version(
        item_id=0,
        n=0,
        url=observation.url,
        content_hash=observed_hash,
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
    event = Change(
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
