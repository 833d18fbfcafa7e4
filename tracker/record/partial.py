"""A listing's absence is not a deletion: fields a listing shows for some items only.

A front page shows a summary in its lead slot and not in the others; a feed may give
categories to some entries only. Such a field is *partial* for that source, and a
sighting that does not show it says nothing about it: the item keeps its last known
value (no version, no edit). A partial field that comes back with another value is an
edit from that last known value. One shown for the first time was unknown, not empty:
the version that records it is made by a change of kind "shown", which no feed carries
(versions are only ever appended, so the current one is not filled in).

What "partial" means, per source and field: a listing shows the field for some items
only once a check has shown a *newcomer* (an item seen for the first time) without it.
A known item that loses the field on a listing that has always shown it for every
newcomer is a real deletion, an edit. The first check of a listing is all newcomers, so
a front page that shows summaries in some slots only is known for one from its first
check. Item pages are never partial: an item page that drops a field edits it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from sqlmodel import Session

from storage import Change, Source, Version, queries
from tracker.extract.base import Observation
from tracker.identity.sighting import Sighting
from tracker.identity.source_index import SourceIndex
from tracker.normalise import CONTENT_FIELDS, clean_text

SHOWN = "shown"  # a change that only records a partial field shown for the first time
# The headline names the item: a sighting without one is no sighting of it.
MAY_BE_PARTIAL = tuple(name for name in CONTENT_FIELDS if name != "headline")


def _shown(value: object) -> bool:
    return value not in (None, "", [])


def learn(
    source: Source, observations: Sequence[Observation], item_ids: Sequence[int | None]
) -> None:
    """Add to the source's partial fields those a newcomer (item_ids None) was shown without."""
    missing = {
        name
        for observation, item_id in zip(observations, item_ids, strict=True)
        if item_id is None
        for name in MAY_BE_PARTIAL
        if not _shown(_value(observation, name))
    }
    known = set(source.partial_fields or ())
    if not missing <= known:
        source.partial_fields = sorted(known | missing)


def settle(
    session: Session,
    source: Source,
    sightings: Sequence[Sighting],
    item_ids: Sequence[int | None],
    index: SourceIndex,
) -> list[Sighting]:
    """The sightings with each known item's unshown partial fields carried from its latest
    version.

    Only sightings that differ from their item's latest version are looked at (most of a
    listing is unchanged), their latest versions read in one query per 500.
    """
    settled = list(sightings)
    partial = [name for name in MAY_BE_PARTIAL if name in (source.partial_fields or ())]
    if not partial:
        return settled
    # item id -> its positions (a listing may show one item twice: relative, absolute link)
    groups: dict[int, list[int]] = {}
    for position, item_id in enumerate(item_ids):
        if item_id is not None:
            groups.setdefault(item_id, []).append(position)
    for positions in groups.values():
        if len(positions) > 1:
            _share_among(settled, positions, partial)
    differing = [
        item_id
        for item_id, positions in groups.items()
        if _may_differ(index, item_id, [settled[p].content_hash for p in positions])
    ]
    if not differing:
        return settled
    latest = queries.latest_versions(session, differing)
    for item_id in differing:
        version = latest.get(item_id)
        if version is None or version.origin != "observed":
            continue
        for position in groups[item_id]:
            observation = _settle_one(settled[position].observation, version, partial)
            if observation is not settled[position].observation:
                settled[position] = settled[position].showing(observation)
    return settled


def _may_differ(index: SourceIndex, item_id: int, hashes: Sequence[str]) -> bool:
    """Whether the sightings of a stored item may differ from its latest version (an item
    this check created has none)."""
    stored = index.stored(item_id)
    if stored is None:
        return index.item(item_id).version_count > 0
    return any(observed != stored.latest_hash for observed in hashes)


def _share_among(
    sightings: list[Sighting], positions: Sequence[int], partial: Sequence[str]
) -> None:
    """One item shown twice, its summary in one slot only: the sighting shows the summary."""
    shown: dict[str, object] = {}
    for position in positions:
        for name in partial:
            if _shown(value := _value(sightings[position].observation, name)):
                shown.setdefault(name, value)
    for position in positions:
        observation = sightings[position].observation
        unshown = {name: v for name, v in shown.items() if not _shown(_value(observation, name))}
        if unshown:
            changed = replace(observation, **unshown)  # type: ignore[arg-type]
            sightings[position] = sightings[position].showing(changed)


def _settle_one(observation: Observation, latest: Version, partial: Sequence[str]) -> Observation:
    """The observation with the partial fields it does not show as last known."""
    carried = {
        name: getattr(latest, name)
        for name in partial
        if not _shown(_value(observation, name)) and _shown(getattr(latest, name))
    }
    return replace(observation, **carried) if carried else observation  # type: ignore[arg-type]


def judge(change: Change, previous: Version | None, source: Source) -> None:
    """An edit whose every changed field is a partial one shown for the first time is no
    edit: the version records what the listing showed, as a change of kind "shown" that
    no feed carries (stored versions are never rewritten)."""
    partial = set(source.partial_fields or ())
    if change.kind != "edited" or previous is None or not change.fields or not partial:
        return
    if all(name in partial and not _shown(getattr(previous, name)) for name in change.fields):
        change.kind = SHOWN


def _value(observation: Observation, name: str) -> object:
    value = getattr(observation, name)
    return clean_text(value) if isinstance(value, str) else value
