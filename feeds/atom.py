"""Atom 1.0 feeds of the edit log (RFC 4287), paged per RFC 5005, built with feedgen.

Pure: a session and a FeedQuery (feeds/feed_query.py) in, UTF-8 bytes out; HTTP lives in
feeds/routes_feeds.py, and the feeds' ids, paths and URLs in feeds/feed_names.py.

- One entry per stored Change of kind edited, headline_test (named "Headline test: A /
  B"; its later flips make none), removed or restored; the stored diff is shown as it
  was recorded, nothing is recomputed (titles and content: feeds/entries.py). An entry's
  id is a tag: URI on the change id and its recording date (RFC 4151): permanent, never
  reused, the same on every page, in every feed and in the static files.
- Feeds: all edits, one source, one item, one tag; filters kind and field (changes whose
  changed fields include it). Edits feeds carry edits (and headline tests) only; kind is
  the edit's class (tracker/compare/significance.py): by default (kind=editorial) substantive and
  rewording edits; kind=all adds style edits; kind=substantive, rewording or style gives
  edits of that class only (kind=minor, the name of style edits before, is kept as an
  alias of style). kind=listing gives the removals and restorations of listing items
  instead. A source's listing feed (scope "listing") carries those of its items by
  default.
- Tags: a change belongs to tag T when the version it leads to (for a change without
  one, the item's latest version) has T among its tags. That version is fixed when the
  change is recorded, so a change never moves in or out of a tag feed later and pages
  stay immutable. Filtered in SQL (storage.change_pages.change_page).
- Paging (RFC 5005 section 3, paged feeds): the newest page at the plain URL; rel="next"
  points to ?before=ID, ID the oldest change on this page. Change ids only grow, so a
  page with `before` never changes and no change appears on two pages.
- An item's feed opens, on its newest page, with one extra entry: the diff from the
  first version to the current one (computed from the two versions on request). It has
  its own permanent id (tag:...:item/ID/first-to-current), distinct from any change id,
  and its `updated` is when the current version was observed: readers show it again
  when the item changes, and it stays a valid entry (a subtitle would be ignored or
  shown without markup by most readers).
"""

from __future__ import annotations

import hashlib
import html
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import urlsplit

from feedgen.entry import FeedEntry
from feedgen.feed import FeedGenerator
from lxml import etree
from sqlmodel import Session

from feeds import entries
from feeds.feed_names import (
    _NOT_XML,
    FeedConfig,
    change_id,
    feed_id,
    feed_url,
    history_url,
    overview_id,
)
from feeds.feed_query import DEFAULT_LIMIT, LISTING, FeedQuery
from storage import Change, Item, Source, Version, change_pages, queries
from tracker import __version__
from tracker.compare import diff
from tracker.normalise import redact_url
from tracker.present import render
from tracker.record import history

FORMAT = "3"  # part of every ETag: bump when what a feed shows changes
EMPTY_UPDATED = datetime(1970, 1, 1, tzinfo=UTC)  # `updated` of a feed with nothing in it


class Entry(FeedEntry):
    """feedgen's entry, keeping the rel and type of its links (feedgen 1.0 drops them)."""

    def atom_entry(self, extensions: bool = True) -> etree._Element:
        element = super().atom_entry(extensions)
        nodes = [node for node in element if etree.QName(node).localname == "link"]
        for node, link in zip(nodes, self.link() or [], strict=True):
            for name in ("rel", "type", "hreflang", "title", "length"):
                if link.get(name):
                    node.set(name, str(link[name]))
        return element


ARCHIVED_TITLE = "Archived copy (Wayback Machine)"


class FeedNotFound(LookupError):
    """The feed's source or item does not exist."""


@dataclass(frozen=True)
class FeedState:
    """What HTTP caching needs, read without building the feed."""

    etag: str  # weak: W/"..."
    last_modified: datetime | None  # when its newest change was written; None: empty


@dataclass
class FeedPage:
    body: bytes
    entry_ids: list[str] = field(default_factory=list)
    next_before: int | None = None  # the `before` of the next (older) page, if any


# Reading


def find_scope(session: Session, query: FeedQuery) -> Source | Item | None:
    """The feed's source or item (None for the edits and tag feeds); FeedNotFound if absent."""
    if query.scope in ("source", "listing"):
        source = session.get(Source, int(query.key))  # type: ignore[arg-type]
        if source is None:
            raise FeedNotFound(f"no source {query.key}")
        return source
    if query.scope == "item":
        item = session.get(Item, int(query.key))  # type: ignore[arg-type]
        if item is None:
            raise FeedNotFound(f"no item {query.key}")
        return item
    return None


def feed_state(session: Session, config: FeedConfig, query: FeedQuery) -> FeedState:
    """The page's ETag and Last-Modified, from the newest change on it (and, on an item's
    newest page, its version count): one indexed statement, no rendering. A 304 is
    answered on this alone, so it loads no ORM row."""
    state = change_pages.feed_page_state(
        session, query.change_kinds(), query.limit, query.before, **query.filters()
    )
    if not state.found:
        what = "source" if query.scope == "listing" else query.scope
        raise FeedNotFound(f"no {what} {query.key}")
    latest, extra = state.latest, ""
    if query.scope == "item" and query.before is None:
        versions, current_at = state.version_count or 0, state.current_observed_at
        extra = f"{versions}:{state.current_id if state.current_id is not None else ''}"
        if current_at is not None and versions > 1:
            latest = max(latest, current_at) if latest else current_at
    token = "\x1f".join(
        str(part)
        for part in (
            FORMAT,
            config.authority,
            config.base,
            config.static,
            config.page_size,
            query,
            state.count,
            state.newest,
            latest.isoformat() if latest else "",
            extra,
        )
    )
    digest = hashlib.sha256(token.encode()).hexdigest()[:32]
    return FeedState(etag=f'W/"{digest}"', last_modified=latest)


# Building


def build_feed(session: Session, config: FeedConfig, query: FeedQuery) -> bytes:
    """One page of one feed as an Atom document (UTF-8 bytes)."""
    return render_page(session, config, query).body


def edits_feed(
    session: Session,
    config: FeedConfig = FeedConfig(),  # noqa: B008 - frozen, so one shared default is safe
    limit: int = DEFAULT_LIMIT,
    source_id: int | None = None,
    item_id: int | None = None,
) -> bytes:
    """The newest edits as an Atom document (the first page of the edits, source or item feed)."""
    if item_id is not None:
        query = FeedQuery("item", item_id, limit=limit)
    elif source_id is not None:
        query = FeedQuery("source", source_id, limit=limit)
    else:
        query = FeedQuery(limit=limit)
    return build_feed(session, config, query)


def render_page(session: Session, config: FeedConfig, query: FeedQuery) -> FeedPage:
    scope = find_scope(session, query)
    # Plain rows: a page only reads them (and an older page is built per request).
    rows = change_pages.change_page(
        session, query.change_kinds(), query.limit + 1, query.before, **query.filters(), plain=True
    )
    changes, more = list(rows[: query.limit]), len(rows) > query.limit

    feed = FeedGenerator()
    feed.id(feed_id(config, query))
    feed.title(_xml(_feed_title(config, query, scope)))
    feed.subtitle(_xml(_feed_subtitle(query, scope)))
    feed.generator("redline", version=__version__)
    feed.author({"name": "redline"})
    feed.link(href=feed_url(config, query), rel="self", type="application/atom+xml")
    if query.before is not None:
        feed.link(href=feed_url(config, query.page(None)), rel="first", type="application/atom+xml")
    next_before = changes[-1].id if more and changes else None
    if next_before is not None:
        feed.link(
            href=feed_url(config, query.page(next_before)), rel="next", type="application/atom+xml"
        )
    if query.scope == "edits":
        feed.link(href=f"{config.base}/", rel="alternate", type="text/html")
    elif isinstance(scope, Item):
        feed.link(href=history_url(config, scope.id), rel="alternate", type="text/html")  # type: ignore[arg-type]
    elif isinstance(scope, Source):
        feed.link(href=redact_url(scope.url), rel="related", type="text/html")

    entry_ids: list[str] = []
    times: list[datetime] = []
    known: list[Item | Source | Version] = [scope] if scope is not None else []
    overview = None
    if isinstance(scope, Item) and query.before is None:
        versions = list(queries.versions_of(session, scope.id))  # type: ignore[arg-type]
        if len(versions) > 1:  # the page's changes lead to some of these versions
            source = session.get(Source, scope.source_id)
            assert source is not None
            known += [source, *versions]
            overview = _overview_entry(config, scope, source, versions, query.field)
    if overview is not None:
        entry, updated = overview
        feed.add_entry(entry, order="append")
        entry_ids.append(entry.id())
        times.append(updated)
    rows = _EntryRows.load(session, changes, known)
    for change in changes:  # newest first, the order feed readers expect
        entry_ids.append(_add_entry(feed, config, change, rows))
        times.append(change.recorded_at)
    feed.updated(max(times) if times else _empty_updated(scope))
    return FeedPage(feed.atom_str(pretty=True), entry_ids, next_before)


def _empty_updated(scope: Source | Item | None) -> datetime:
    """Deterministic, so an unchanged empty feed is byte for byte the same."""
    if isinstance(scope, Source):
        return scope.created_at
    if isinstance(scope, Item):
        return scope.first_seen_at
    return EMPTY_UPDATED


def _filters_label(query: FeedQuery) -> str:
    kind = "removals and restorations" if query.kind == LISTING else query.kind
    if query.scope == "listing":
        kind = None
    words = [w for w in (kind, f"{query.field} changes" if query.field else None) if w]
    return f" ({', '.join(words)})" if words else ""


def _source_name(source: Source) -> str:
    return source.name or urlsplit(source.url).hostname or redact_url(source.url)


def _feed_title(config: FeedConfig, query: FeedQuery, scope: Source | Item | None) -> str:
    if isinstance(scope, Source) and query.scope == "listing":
        title = f"redline: comings and goings on {_source_name(scope)}"
    elif isinstance(scope, Source):
        title = f"redline: edits on {_source_name(scope)}"
    elif isinstance(scope, Item):
        title = f"redline: edits to “{scope.headline or f'item {scope.id}'}”"
    elif query.scope == "tag":
        title = f"redline: edits tagged {query.key}"
    else:
        title = config.title
    return title + _filters_label(query)


def _feed_subtitle(query: FeedQuery, scope: Source | Item | None) -> str:
    if isinstance(scope, Source) and query.scope == "listing":
        return (
            f"Items that left the listing {redact_url(scope.url)} or came back to it, newest first."
        )
    if query.listing:
        return "Items that left a listing or came back to it, newest first."
    if isinstance(scope, Item):
        return (
            "Every edit to this item, newest first; the first entry shows everything "
            "that changed from its first version to its current one."
        )
    if isinstance(scope, Source):
        return f"Every edit to the items of {redact_url(scope.url)}, with what changed."
    if query.scope == "tag":
        return f"Every edit to items tagged {query.key}, with what changed."
    return "Every edit to the tracked news items, with what changed."


@dataclass(frozen=True)
class _EntryRows:
    """The items, sources and versions a page's entries show, read in at most one
    statement per table rather than three statements per entry."""

    items: dict[int, Item]
    sources: dict[int, Source]
    versions: dict[int, Version]
    archived: dict[int, str]  # version id -> its copy in the Wayback Machine ([archive])

    @classmethod
    def load(
        cls, session: Session, changes: list[Change], known: Sequence[Item | Source | Version]
    ) -> _EntryRows:
        """known: rows the page has read already (its item or source, an item's versions),
        not read again. (The session's identity map would not do: it holds rows weakly.)"""
        items = {row.id: row for row in known if isinstance(row, Item) and row.id is not None}
        sources = {row.id: row for row in known if isinstance(row, Source) and row.id is not None}
        versions = {row.id: row for row in known if isinstance(row, Version) and row.id is not None}
        missing = {c.item_id for c in changes} - items.keys()
        read = queries.items_by_ids(session, list(missing), plain=True)
        items |= {item.id: item for item in read if item.id is not None}
        shown = {c.source_id for c in changes} - sources.keys()
        sources |= queries.sources_by_ids(session, shown, plain=True)
        wanted = {c.to_version_id for c in changes if c.to_version_id is not None}
        # And the versions the stored diffs read their unchanged text from.
        read_too = (wanted | queries.diff_base_ids(changes)) - versions.keys()
        versions |= queries.versions_by_ids(session, read_too, plain=True)
        return cls(items, sources, versions, queries.archived_urls(session, wanted))


def _add_entry(feed: FeedGenerator, config: FeedConfig, change: Change, rows: _EntryRows) -> str:
    item = rows.items.get(change.item_id)
    source = rows.sources.get(change.source_id)
    assert item is not None and source is not None and change.id is not None
    version = rows.versions.get(change.to_version_id) if change.to_version_id else None
    field_ops = history.stored_diff_ops(change, rows.versions.get(change.from_version_id or 0))
    headline = version.headline if version is not None else item.headline
    if "headline" in field_ops:
        headline = diff.new_text(field_ops["headline"])
    where = _source_name(source)
    entry = feed.add_entry(Entry(), order="append")
    entry.id(change_id(config, change))
    title = entries.entry_title(change, field_ops, headline or f"item {item.id}", where)
    entry.title(_xml(title))
    entry.updated(change.recorded_at)
    entry.published(change.occurred_at)
    entry.author({"name": _xml(where), "uri": redact_url(source.url)})
    if change.kind == "headline_test":
        summary, content = entries.headline_test_html(change, field_ops)
    elif change.kind == "edited":
        summary = entries.entry_summary(change)
        content = entries.entry_html(change, field_ops)
    else:
        summary, content = entries.listing_html(change, where)
    # The version this change made, as archived (a removal "leads" to the latest one: no).
    archived = None
    if change.kind in history.VERSION_MAKING_KINDS:
        archived = rows.archived.get(change.to_version_id or 0)
    if archived:
        content += entries.archived_html(archived)
    entry.summary(_xml(summary))
    entry.content(_xml(content), type="html")
    _links_and_tags(entry, config, item, source, version, archived)
    return entry.id()


def _links_and_tags(
    entry: FeedEntry,
    config: FeedConfig,
    item: Item,
    source: Source,
    version: Version | None,
    archived: str | None = None,
) -> None:
    assert item.id is not None
    entry.link(href=history_url(config, item.id), rel="alternate", type="text/html")
    original = (version.url if version is not None else None) or item.url or source.url
    entry.link(href=redact_url(original), rel="related", type="text/html")
    if archived:  # the page as it was at this version, in the Wayback Machine
        entry.link(href=archived, rel="related", type="text/html", title=ARCHIVED_TITLE)
    for tag in (version.tags if version is not None else None) or []:
        if isinstance(tag, str) and _xml(tag).strip():
            entry.category(term=_xml(tag), scheme=f"{config.base}/feeds/tags/", label=_xml(tag))


def _overview_entry(
    config: FeedConfig, item: Item, source: Source, versions: list[Version], field: str | None
) -> tuple[FeedEntry, datetime]:
    """The item's first-to-current diff as an entry (versions: all of them, at least two)."""
    first, current = versions[0], versions[-1]
    raw = history.diff_versions(first, current)
    changed = {
        name: ops
        for name, ops in raw.items()
        if diff.changed(ops) and (field is None or name == field)
    }
    field_ops = history.readable_diff(changed)
    names = ", ".join(field_ops) or "nothing"
    span = f"Version {first.n} → {current.n}"
    entry = Entry()
    entry.id(overview_id(config, item, field))
    entry.title(_xml(f"{span}: {current.headline or item.headline or f'item {item.id}'}"))
    entry.updated(current.observed_at)
    entry.author({"name": _xml(_source_name(source)), "uri": redact_url(source.url)})
    entry.summary(_xml(f"All edits so far, {span.lower()}: {names} changed."))
    parts = [f"<p><em>{html.escape(span)}: everything that changed since first seen.</em></p>"]
    if field_ops:
        parts.append(render.render_fields_html(entries.legible_fields(field_ops), markers=True))
        parts.extend(entries.before_after(field_ops, first.n, current.n))
    else:
        scope = f"the {field}" if field else "every field"
        parts.append(f"<p>Version {current.n} is the same as version {first.n} in {scope}.</p>")
    entry.content(_xml("\n".join(parts)), type="html")
    _links_and_tags(entry, config, item, source, current)
    return entry, current.observed_at


def _xml(text: str) -> str:
    """Text without the characters XML 1.0 cannot carry (lxml refuses them)."""
    return _NOT_XML.sub("\ufffd", text)
