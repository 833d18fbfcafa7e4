"""Which stored item each observation of a check is, when no alias names it yet, and the
items made for those that are none (tracker/record/ingest.py records the check with these).

A page that names two stored items merges them; the rows that link a section page are
keyed by page and headline; a headline back on a listing after the match window is a new
item; a newcomer may be an item that left the listing, edited (fuzzy matching, logged
with its evidence in item_match); the rest become new items with their aliases.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime

from sqlmodel import Session

from storage import Item, ItemMatch, Source, queries
from storage.rows import new_row
from tracker.identity import match
from tracker.identity.sighting import Sighting
from tracker.identity.source_index import SourceIndex
from tracker.record import merge
from tracker.record.ingest_state import IngestStats

log = logging.getLogger(__name__)


def merge_named_items(
    session: Session,
    index: SourceIndex,
    sightings: Sequence[Sighting],
    aliases: Sequence[tuple[str, str]],
    now: datetime,
) -> SourceIndex:
    """Merge the stored items that one sighting's keys name together (a page whose
    Changes list names the URLs of two items recorded apart): later evidence that they
    are one story. The index to go on with: after a merge, one read afresh (the merged
    items' aliases moved), else the same."""
    for sighting in sightings:
        named = sorted(index.items_named(sighting.keys))
        if len(named) < 2:
            continue
        why = f"one page names both ({sighting.keys[0][0]} {sighting.keys[0][1]})"
        for other in named[1:]:
            merge.merge_items(session, named[0], other, now, why)
        index = SourceIndex(session, index.source_id, aliases, index.sharing)  # merges are rare
    return index


def _key_hubs(sightings: Sequence[Sighting], hubs: set[str]) -> list[tuple[str, str]]:
    """Key the rows that link one of these section pages by page and headline (see
    match.hub_keys) in place of what they had; the keys given."""
    given: list[tuple[str, str]] = []
    for sighting in sightings:
        if sighting.url in hubs:
            sighting.keys = match.hub_keys(sighting.observation)
            given += sighting.keys
    return given


# Keys that say no more than "a row with this headline" (a headline; a section page and
# its headline).
HEADLINE_KINDS = frozenset({"title", match.HUB})


def _release_stale_headlines(
    index: SourceIndex,
    sightings: Sequence[Sighting],
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
        kind, _ = index.named_by(sightings[position].keys)
        if kind in HEADLINE_KINDS:
            item_ids[position] = None
            index.release([key for key in sightings[position].keys if key[0] == kind])


def _match_newcomers(
    session: Session,
    source: Source,
    sightings: Sequence[Sighting],
    item_ids: list[int | None],
    rules: match.Rules,
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
    # went on reading and scoring pairs that match._veto refuses).
    allowed = match.IdsAllowed(match.strong_ids(sightings[position].keys) for position in newcomers)
    strong = {item_id: match.strong_ids(publisher_ids[item_id]) for item_id in departed_ids}
    departed_ids = [item_id for item_id in departed_ids if allowed(strong[item_id])]
    departed = queries.items_by_id(session, departed_ids)
    latest = queries.latest_versions(session, departed_ids)
    for item in departed:  # the index learns them: they may take the news now
        index.added_item(item)
        if item.id in latest:
            index.added_version(item, latest[item.id])
    index.read_sightings(departed_ids)
    pairs = match.pair_fuzzy(
        [
            match.Candidate(item, latest[item.id], strong[item.id or 0])
            for item in departed
            if item.id in latest
        ],
        [sightings[position].observation for position in newcomers],
        rules.match_threshold,
        newcomer_keys=[sightings[position].keys for position in newcomers],
        seen_on=now.date(),
    )
    for pairing in pairs:
        observation = sightings[newcomers[pairing.newcomer]].observation
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
    sightings: Sequence[Sighting],
    item_ids: list[int | None],
    now: datetime,
    index: SourceIndex,
    stats: IngestStats,
) -> None:
    """Create the items no alias names, all in one flush, and fill in their `item_ids`.

    Sightings that share a key (one article under a relative and an absolute link)
    share one new item, as they would find each other's aliases one at a time.
    """
    assert source.id is not None
    created: dict[tuple[str, str], Item] = {}
    # Python object ids: the new items have no database ids before the flush.
    aliases: dict[int, tuple[Item, list[tuple[str, str]]]] = {}
    new_at: dict[int, Item] = {}  # position in the check: its new item
    for position, sighting in enumerate(sightings):
        if item_ids[position] is not None:
            continue
        item = next((created[key] for key in sighting.keys if key in created), None)
        if item is None:
            item = _new_item(source.id, sighting, now)
            session.add(item)
            aliases[id(item)] = (item, [])
            stats.items_created += 1
        for alias in [*sighting.keys, *_url_aliases(sighting)]:
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


def _add_aliases(index: SourceIndex, item_id: int, sighting: Sighting) -> None:
    for kind, value in dict.fromkeys([*sighting.keys, *_url_aliases(sighting)]):
        index.add_alias(item_id, kind, value)


def _url_aliases(sighting: Sighting) -> list[tuple[str, str]]:
    """Every URL the observation says its item has had (Sighting.urls) is kept for
    look-ups (`redline history URL`), whatever decided identity; but a section page's
    names no one item: it is kept as what it is, a hub page."""
    hub = bool(sighting.keys) and sighting.keys[0][0] == match.HUB
    kind = match.HUB_PAGE if hub else "url"
    return [(kind, url) for url in sighting.urls]


def _new_item(source_id: int, sighting: Sighting, now: datetime) -> Item:
    observation = sighting.observation
    return new_row(
        Item,
        source_id=source_id,
        key=sighting.keys[0][1],
        url=observation.url,
        event_date=observation.event_date,
        first_seen_at=now,
        last_seen_at=now,
    )
