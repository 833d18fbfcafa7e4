"""Recording what a check saw: new versions, their changes, the item's aliases.

Runs inside the caller's transaction; it never commits, so a check is stored
whole or not at all.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session

from storage import Change, Item, ItemMatch, Source, Version, queries
from tracker import history, identity, judgement
from tracker.extract.base import HistoryEntry, Observation
from tracker.normalise import FieldValue, canonical_url, clean_text, content_hash, same_text
from tracker.source_index import SourceIndex

log = logging.getLogger(__name__)


@dataclass
class IngestStats:
    items_seen: int = 0
    items_created: int = 0
    versions_added: int = 0
    changes_added: int = 0


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
) -> IngestStats:
    """Store what is new in these observations of one source.

    An item page shows one item: page_urls (the URL requested before redirects)
    are its aliases too. A listing (day index, feed) shows many: a newcomer no
    alias names may be an item that left in the same check, edited (fuzzy
    matching); an item it showed before and no longer shows is recorded as
    removed, and restored when it comes back.
    """
    assert source.id is not None
    rules = identity.Rules.for_source(source.kind, source.options or {})
    page_urls = () if listing else page_urls
    keys = [identity.identity_keys(obs, page_urls, rules) for obs in observations]
    # Every value this check may look up or add as an alias, read in one go.
    values = [value for item_keys in keys for _, value in item_keys]
    values += [url for obs in observations for url in identity.known_urls(obs, page_urls)]
    values += [fallback for obs in observations for _, fallback in identity.fallback_keys(obs)]
    index = SourceIndex(session, source.id, values)
    items = [index.find(item_keys) for item_keys in keys]
    if listing:
        _match_newcomers(session, source, observations, items, rules, check_id, now, index)
    stats = IngestStats()
    # Each item is claimed by one observation per check, with that observation's content hash.
    claims: dict[int, str] = {}
    for observation, item_keys, item in zip(observations, keys, items, strict=True):
        observed_hash = content_hash(_content_fields(observation))
        # An earlier observation of this same check may have created the item.
        item = item or index.find(item_keys)
        if item is not None and item.id in claims:
            if claims[item.id] == observed_hash:
                continue  # the listing shows the same item twice (relative and absolute link)
            # Two different items share a key (two bullets citing one article): the
            # later one is told apart by its headline, so neither flips every check.
            item_keys = identity.fallback_keys(observation)
            item = index.find(item_keys) if item_keys else None
            if not item_keys or (item is not None and item.id in claims):
                log.warning("cannot tell %r apart from another item; skipped", observation.headline)
                continue
        recorded = _record_one(
            index, source, observation, item_keys, item, now, check_id, page_urls, rules, stats
        )
        claims[recorded.id or 0] = observed_hash
    if listing:
        _record_removals(session, source, set(claims), now, stats)
    return stats


def _match_newcomers(
    session: Session,
    source: Source,
    observations: Sequence[Observation],
    items: list[Item | None],
    rules: identity.Rules,
    check_id: int | None,
    now: datetime,
    index: SourceIndex,
) -> None:
    """Fill in `items` for newcomers that fuzzy matching takes for departed items; log each."""
    assert source.id is not None
    newcomers = [index for index, item in enumerate(items) if item is None]
    if not newcomers:
        return
    present = {item.id for item in items if item is not None}
    departed = [item for item in queries.listed_items(session, source.id) if item.id not in present]
    candidates = [(item, queries.latest_version(session, item.id or 0)) for item in departed]
    for item, version in candidates:  # the index learns them: they may take the news now
        index.added_item(item)
        if version is not None:
            index.added_version(item, version)
    pairs = identity.pair_fuzzy(
        [(item, version) for item, version in candidates if version is not None],
        [observations[index] for index in newcomers],
        rules.match_threshold,
    )
    for position, item, score in pairs:
        observation = observations[newcomers[position]]
        items[newcomers[position]] = item
        session.add(
            ItemMatch(
                item_id=item.id or 0,
                check_id=check_id,
                method="fuzzy",
                score=score,
                matched_headline=observation.headline,
                matched_url=observation.url,
                matched_at=now,
            )
        )
        log.info("fuzzy match: %r is item %s (score %.2f)", observation.headline, item.id, score)


def _record_removals(
    session: Session, source: Source, seen: set[int], now: datetime, stats: IngestStats
) -> None:
    assert source.id is not None
    for item in queries.listed_items(session, source.id):
        if item.id in seen:
            continue
        latest = queries.latest_version(session, item.id or 0)
        _add_event(session, item, "removed", latest, now, stats)
        item.removed_at = now
        session.add(item)


def _record_one(
    index: SourceIndex,
    source: Source,
    observation: Observation,
    keys: Sequence[tuple[str, str]],
    item: Item | None,
    now: datetime,
    check_id: int | None,
    page_urls: Sequence[str],
    rules: identity.Rules,
    stats: IngestStats,
) -> Item:
    assert source.id is not None
    session = index.session
    stats.items_seen += 1
    if item is None:
        item = _new_item(session, source.id, observation, keys[0][1], now)
        index.added_item(item)
        stats.items_created += 1
    elif item.removed_at is not None:
        _add_event(session, item, "restored", index.latest(item), now, stats)

    latest = index.latest(item) if item.version_count else None
    for entry in _unseen_history(session, item, observation, rules):
        latest = _add_version(session, item, latest, _history_version(entry, now, check_id), stats)

    observed = _observed_version(observation, now, check_id)
    if latest is not None and latest.content_hash == observed.content_hash:
        latest.last_observed_at = now
        session.add(latest)
    else:
        latest = _add_version(session, item, latest, observed, stats)
    index.added_version(item, latest)

    # Every URL is kept for look-ups (`redline history URL`), whatever decided identity.
    aliases = dict.fromkeys(keys)
    aliases.update(
        dict.fromkeys(("url", url) for url in identity.known_urls(observation, page_urls))
    )
    for kind, value in aliases:
        index.add_alias(item, kind, value)
    item.url = observation.url or item.url
    item.headline = latest.headline if latest.headline is not None else item.headline
    item.event_date = observation.event_date or item.event_date
    item.last_seen_at = now
    item.removed_at = None
    session.add(item)
    return item


def _new_item(
    session: Session, source_id: int, observation: Observation, key: str, now: datetime
) -> Item:
    item = Item(
        source_id=source_id,
        key=key,
        url=observation.url,
        event_date=observation.event_date,
        first_seen_at=now,
        last_seen_at=now,
    )
    session.add(item)
    session.flush()
    return item


def _unseen_history(
    session: Session, item: Item, observation: Observation, rules: identity.Rules
) -> list[HistoryEntry]:
    """The entries of the page's own history that the item does not have yet.

    An entry is known once its URL (in any rendition) is an alias of the item. For a
    new item every earlier entry counts; for a known one only entries after the last
    known entry do, since versions are only ever appended.
    """
    earlier = [entry for entry in observation.history if not entry.is_current]
    if not earlier:  # most pages list no history: no need to read the item's aliases
        return []
    if item.version_count:
        known = set(queries.alias_values(session, item.id, "url"))
        known |= set(queries.alias_values(session, item.id, "page"))

        def is_known(url: str) -> bool:
            url = canonical_url(url)
            return url in known or identity.page_stem(url, rules.renditions) in known

        positions = [i for i, e in enumerate(earlier) if e.url and is_known(e.url)]
        earlier = earlier[positions[-1] + 1 :] if positions else []
    # The list's last earlier headline may equal the page's own (a slug change alone).
    if earlier and same_text(earlier[-1].headline, observation.headline):
        earlier.pop()
    return earlier


def _history_version(entry: HistoryEntry, now: datetime, check_id: int | None) -> Version:
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
        reported_at=entry.reported_at,
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


def _observed_version(observation: Observation, now: datetime, check_id: int | None) -> Version:
    fields = _content_fields(observation)
    return Version(
        item_id=0,
        n=0,
        url=observation.url,
        content_hash=content_hash(fields),
        origin="observed",
        observed_at=now,
        last_observed_at=now,
        check_id=check_id,
        **fields,
    )


def _add_version(
    session: Session, item: Item, previous: Version | None, version: Version, stats: IngestStats
) -> Version:
    """Append the version to the item's history with the change that leads to it."""
    assert item.id is not None
    item.version_count += 1
    version.item_id = item.id
    version.n = item.version_count
    session.add(version)
    session.flush()
    change = Change(
        item_id=item.id,
        source_id=item.source_id,
        kind="created" if previous is None else "edited",
        from_version_id=previous.id if previous else None,
        to_version_id=version.id,
        from_n=previous.n if previous else None,
        to_n=version.n,
        occurred_at=version.reported_at or version.observed_at,
        recorded_at=version.observed_at,
    )
    if previous is not None:
        field_ops = history.diff_versions(previous, version)
        change.fields = history.changed_fields(field_ops)
        change.similarity = history.overall_similarity(field_ops)
        change.classification = judgement.classify(field_ops)
        # Only changed fields are stored: an unchanged article body would be kept whole.
        shown = history.readable_diff({name: field_ops[name] for name in change.fields})
        change.diff = {name: [[op, text] for op, text in ops] for name, ops in shown.items()}
    session.add(change)
    stats.versions_added += 1
    stats.changes_added += 1
    return version


def _add_event(
    session: Session,
    item: Item,
    kind: str,
    latest: Version | None,
    now: datetime,
    stats: IngestStats,
) -> None:
    """A change that is not a new version: the item left its listing, or came back."""
    assert item.id is not None
    session.add(
        Change(
            item_id=item.id,
            source_id=item.source_id,
            kind=kind,
            from_version_id=latest.id if latest else None,
            to_version_id=latest.id if latest else None,
            from_n=latest.n if latest else None,
            to_n=latest.n if latest else None,
            occurred_at=now,
            recorded_at=now,
        )
    )
    stats.changes_added += 1
