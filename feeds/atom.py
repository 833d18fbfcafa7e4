"""Atom 1.0 feeds of the edit log, built with feedgen: one entry per stored Change.

Entries are read from Changes as stored (diff included); nothing is recomputed.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from urllib.parse import urlsplit

from feedgen.feed import FeedGenerator
from sqlmodel import Session

from storage import Change, Item, Source, queries, utcnow
from tracker import __version__, diff, history, render
from tracker.normalise import LIST_FIELDS

FEED_KINDS = ("edited", "removed", "restored")  # a new item is not an edit
DEFAULT_LIMIT = 50


@dataclass(frozen=True)
class FeedConfig:
    """Naming: tag: URIs are minted on this authority (a domain or e-mail you control)."""

    authority: str = "redline.invalid"
    title: str = "redline: edits"


def change_id(config: FeedConfig, change: Change) -> str:
    """A permanent id (RFC 4151 tag: URI): change ids are never reused, nor is their date."""
    return f"tag:{config.authority},{change.recorded_at:%Y-%m-%d}:change/{change.id}"


def edits_feed(
    session: Session,
    config: FeedConfig = FeedConfig(),
    limit: int = DEFAULT_LIMIT,
    source_id: int | None = None,
    item_id: int | None = None,
) -> bytes:
    """The newest edits as an Atom document (UTF-8 bytes)."""
    changes = queries.recent_changes(
        session, FEED_KINDS, limit, source_id=source_id, item_id=item_id
    )
    feed = FeedGenerator()
    feed.id(f"tag:{config.authority},2026:feed/edits")
    feed.title(config.title)
    feed.subtitle("Every edit to the tracked news items, with what changed.")
    feed.generator("redline", version=__version__)
    feed.author({"name": "redline"})
    feed.updated(changes[0].recorded_at if changes else utcnow())
    for change in changes:  # newest first, the order feed readers expect
        _add_entry(session, feed, config, change)
    return feed.atom_str(pretty=True)


def _add_entry(session: Session, feed: FeedGenerator, config: FeedConfig, change: Change) -> None:
    item = session.get(Item, change.item_id)
    source = session.get(Source, change.source_id)
    assert item is not None and source is not None
    field_ops = history.stored_diff(change)
    after_headline = (
        diff.new_text(field_ops["headline"]) if "headline" in field_ops else item.headline
    )
    title = after_headline or f"item {item.id}"
    entry = feed.add_entry(order="append")
    entry.id(change_id(config, change))
    entry.title(title if change.kind == "edited" else f"{change.kind.capitalize()}: {title}")
    entry.updated(change.recorded_at)
    entry.published(change.occurred_at)
    entry.author({"name": source.name or urlsplit(source.url).hostname or source.url})
    if change.kind == "edited":
        entry.summary(_summary(change))
        entry.content(_entry_html(change, field_ops), type="html")
    else:
        where = source.name or source.url
        verb = "is no longer listed on" if change.kind == "removed" else "is listed again on"
        entry.summary(f"The item {verb} {where}.")
        entry.content(f"<p>The item {verb} {html.escape(where)}.</p>", type="html")
    page_url = item.url or source.url
    entry.link(href=page_url, rel="alternate", type="text/html")


def _summary(change: Change) -> str:
    fields = ", ".join(change.fields) or "no visible field"
    return f"Version {change.from_n} → {change.to_n}: {fields} changed ({_judgement(change)})."


def _judgement(change: Change) -> str:
    """ "substantive edit, 72 % similar" """
    words = f"{change.classification or 'unclassified'} edit"
    if change.similarity is not None:
        words += f", {change.similarity:.0%} similar"
    return words


def _entry_html(change: Change, field_ops: dict[str, list[diff.Op]]) -> str:
    """The inline-styled diff, then a plain Before/After for readers that drop markup."""
    parts = [f"<p><em>{html.escape(_judgement(change).capitalize())}</em></p>"]
    parts.append(render.render_fields_html(field_ops))
    for name in change.fields:
        ops = field_ops[name]
        label = html.escape(name.capitalize())
        parts.append(
            f"<p><strong>{label} before</strong> (version {change.from_n}): "
            f"{html.escape(_side(name, ops, -1))}</p>"
            f"<p><strong>{label} after</strong> (version {change.to_n}): "
            f"{html.escape(_side(name, ops, 1))}</p>"
        )
    return "\n".join(parts)


def _side(name: str, ops: list[diff.Op], side: int) -> str:
    """One side of a field's diff as plain text: -1 the old value, 1 the new one."""
    if name in LIST_FIELDS:
        text = ", ".join(entry for op, entry in ops if op in (0, side))
    else:
        text = diff.old_text(ops) if side == -1 else diff.new_text(ops)
    return text if text.strip() else "(empty)"
