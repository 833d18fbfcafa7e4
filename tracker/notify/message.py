"""What a delivery says: the JSON a webhook receives, and the title and text of a
notification sent through Apprise.

The JSON's "change" is the object GET /api/changes lists, so a receiver can share code
with a poller; "item" adds what a reader needs to know which story it is (the headline
before and after), "links" the service's pages when [serve] public_url is set.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Row
from sqlmodel import Session

from storage import Change, Item, Source, Version, queries
from tracker.normalise import redact_url
from tracker.present.export import change_json
from tracker.record import history
from tracker.words import one_line

MAX_TEXT = 280  # characters of a headline or summary quoted in a notification's text
EVENT = "change"


@dataclass(frozen=True)
class Picture:
    """What the picture of an edit shows (drawn by tracker/present/diff_image.py when a target
    posts it)."""

    field: str
    ops: list[list[Any]]
    where: str | None
    when: datetime | None
    alt: str

    def png(self) -> bytes:
        from tracker.present import diff_image

        return diff_image.render_png(self.field, self.ops, self.where, self.when)


@dataclass(frozen=True)
class Message:
    document: dict[str, Any]  # the webhook's JSON, before the delivery id is added
    title: str
    body: str
    picture: Picture | None = None
    item_id: int | None = None  # the item it is about: posts thread by it


def change_document(change: Change | Row[Any], before: Version | Row[Any] | None) -> dict[str, Any]:
    """The change as GET /api/changes lists it: `redline export`'s change with its item
    and source, and its class under the API's name (`before`: its from-version)."""
    document = change_json(change, before)
    document["class"] = document.pop("classification")
    return {"id": change.id, "item_id": change.item_id, "source_id": change.source_id, **document}


def compose(session: Session, change_id: int, public_url: str | None) -> Message | None:
    """The message about a stored change; None if the change is no longer there."""
    change = session.get(Change, change_id)
    if change is None:
        return None
    item = session.get(Item, change.item_id)
    source = session.get(Source, change.source_id)
    versions = {v.n: v for v in queries.versions_of(session, change.item_id)}
    before = versions.get(change.from_n) if change.from_n else None
    after = versions.get(change.to_n) if change.to_n else None
    return _message(change, item, source, before, after, public_url)


def _message(
    change: Change,
    item: Item | None,
    source: Source | None,
    before: Version | None,
    after: Version | None,
    public_url: str | None,
) -> Message:
    headline = (after.headline if after else None) or (item.headline if item else None)
    document: dict[str, Any] = {
        "event": EVENT,
        "change": change_document(change, before),
        "item": {
            "id": change.item_id,
            "url": item.url if item else None,
            "headline": headline,
            "previous_headline": before.headline if before and change.kind == "edited" else None,
        },
        "source": _source_document(change.source_id, source),
    }
    picture = picture_of(change, source, before)
    if picture is not None:  # an edit: its picture's words
        document["image_alt"] = picture.alt
    links = _links(public_url, change, picture is not None)
    if links:
        document["links"] = links
    title, lines = _words(change, before, after, headline)
    where = (source.name or redact_url(source.url)) if source else None
    if where:
        lines.append(f"Source: {where}")
    if item and item.url:
        lines.append(item.url)
    if links:
        lines.append(links["item"])
    return Message(document, title, "\n".join(lines), picture, change.item_id)


def picture_of(change: Change, source: Source | None, before: Version | None) -> Picture | None:
    """The picture of an edit (tracker/present/diff_image.py), as posts and
    /items/{id}/changes/{change}.png show it: the headline if it changed, else the first
    changed field with a stored diff; None if the change is no edit. `before`: the version
    the edit leads from."""
    if change.kind != "edited" or not change.diff:
        return None
    fields = [name for name in change.fields if name in change.diff]
    if not fields:
        return None
    from tracker.present import diff_image

    field = "headline" if "headline" in fields else fields[0]
    ops = history.whole_diff(change, before)[field]  # type: ignore[index]
    where = (source.name or source.site) if source else None
    alt = diff_image.alt_text(field, ops, where)
    return Picture(field, ops, where, change.occurred_at, alt)


def _source_document(source_id: int | None, source: Source | None) -> dict[str, Any]:
    return {
        "id": source_id,
        "name": source.name if source else None,
        "url": redact_url(source.url) if source else None,
    }


def _links(public_url: str | None, change: Change, pictured: bool) -> dict[str, str] | None:
    if not public_url:
        return None
    base = public_url.rstrip("/")
    links = {
        "item": f"{base}/items/{change.item_id}",
        "feed": f"{base}/feeds/items/{change.item_id}.atom",
    }
    if change.kind == "edited" and change.from_n and change.to_n:
        links["diff"] = (
            f"{base}/api/items/{change.item_id}/diff?from={change.from_n}&to={change.to_n}"
            "&format=text"
        )
    if pictured:
        links["image"] = f"{base}/items/{change.item_id}/changes/{change.id}.png"
    return links


def _words(
    change: Change, before: Version | None, after: Version | None, headline: str | None
) -> tuple[str, list[str]]:
    """A title and lines a reader understands without seeing the diff."""
    shown = _short(headline) or "(no headline)"
    if change.kind == "edited":
        label = f"Edited ({change.classification})" if change.classification else "Edited"
        lines = []
        for name in change.fields:
            old = getattr(before, name, None) if before else None
            new = getattr(after, name, None) if after else None
            if isinstance(old, list) or isinstance(new, list):
                old, new = ", ".join(old or []), ", ".join(new or [])
            lines.append(f"{name.capitalize()} was: {_short(old) or '(none)'}")
            lines.append(f"{name.capitalize()} now: {_short(new) or '(none)'}")
        if change.reasons:
            lines.append(f"Why: {'; '.join(change.reasons[:3])}")
        return f"{label}: {shown}", lines
    if change.kind == "headline_test":
        variants = " / ".join(_short(v) or "" for v in change.variants or [])
        return f"Headline test: {variants or shown}", []
    if change.kind == "removed":
        return f"Removed from its listing: {shown}", []
    if change.kind == "restored":
        return f"Back on its listing: {shown}", []
    if change.kind == "created":
        return f"New: {shown}", [_short(after.summary)] if after and after.summary else []
    return f"{change.kind}: {shown}", []


def health(session: Session, event: dict[str, Any], public_url: str | None) -> Message:
    """The message about a source gone quiet, or back (tracker/notify/quiet.py)."""
    source = session.get(Source, event.get("source_id"))
    name = (source.name or redact_url(source.url)) if source else f"source {event.get('source_id')}"
    kind = str(event.get("event"))
    document: dict[str, Any] = {
        "event": kind,
        "source": _source_document(event.get("source_id"), source),
        "reason": event.get("reason"),
        "at": event.get("at"),
    }
    lines = [str(event.get("reason"))]
    if source:
        lines.append(redact_url(source.url))
    if public_url:
        document["links"] = {"sources": f"{public_url.rstrip('/')}/sources"}
        lines.append(document["links"]["sources"])
    title = f"Quiet: {name}" if kind == "quiet" else f"Recovered: {name}"
    return Message(document, title, "\n".join(lines))


def _short(text: str | None) -> str | None:
    return None if text is None else one_line(str(text), MAX_TEXT)


def sample(public_url: str | None) -> Message:
    """What `redline notify test` sends: a made-up edit, marked as a test."""
    from datetime import UTC, datetime

    moment = datetime.now(UTC)
    change = Change(
        id=0,
        item_id=0,
        source_id=0,
        kind="edited",
        from_n=1,
        to_n=2,
        fields=["headline"],
        classification="substantive",
        score=0.8,
        reasons=["headline: number changed: 8 → 12"],
        similarity=0.9,
        diff={"headline": [[0, "Storm leaves "], [-1, "8"], [1, "12"], [0, " dead"]]},
        occurred_at=moment,
        recorded_at=moment,
    )
    before = Version(
        item_id=0, n=1, headline="Storm leaves 8 dead", observed_at=moment, last_observed_at=moment
    )
    after = Version(
        item_id=0, n=2, headline="Storm leaves 12 dead", observed_at=moment, last_observed_at=moment
    )
    message = _message(change, None, None, before, after, public_url)
    document = {**message.document, "event": "test"}
    return Message(document, f"[test] {message.title}", "A test from redline.\n" + message.body)
