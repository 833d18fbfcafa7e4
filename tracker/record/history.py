"""An item's history read back: comparing any two versions field by field."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlmodel import Session

from storage import Change, Item, Version, queries, stored_diff
from storage.rows import new_row
from storage.types import iso_z, utcnow
from tracker.compare import diff, judgement, paragraphs, significance
from tracker.errors import UserError
from tracker.normalise import CONTENT_FIELDS, LIST_FIELDS, FieldValue


def comparable_fields(
    old: Version, new: Version
) -> tuple[dict[str, FieldValue], dict[str, FieldValue]]:
    """The fields two versions can be compared on.

    A field a page-history version lacks is unknown and left out, so a diff never
    shows it as deleted; a field an observed page lacks is empty.
    """
    old_fields: dict[str, FieldValue] = {}
    new_fields: dict[str, FieldValue] = {}
    for name in CONTENT_FIELDS:
        a, b = getattr(old, name), getattr(new, name)
        if a is None and b is None:
            continue
        if (a is None and old.origin != "observed") or (b is None and new.origin != "observed"):
            continue
        empty: FieldValue = [] if name in LIST_FIELDS else ""
        old_fields[name] = a if a is not None else empty
        new_fields[name] = b if b is not None else empty
    return old_fields, new_fields


# Article bodies are aligned by paragraph and sentence before words are diffed.
TEXT_DIFFS = {"body": paragraphs.diff_body}


def diff_versions(old: Version, new: Version) -> dict[str, list[diff.Op]]:
    """Word-level diff of every field known in both versions (bodies by paragraph first)."""
    return diff.diff_fields(*comparable_fields(old, new), TEXT_DIFFS)


def readable_diff(field_ops: dict[str, list[diff.Op]]) -> dict[str, list[diff.Op]]:
    """The diff as shown and stored: short, almost wholly changed fields as one replacement."""
    return {name: judgement.readable(ops) for name, ops in field_ops.items()}


# Removals and restorations make no version; a headline test's switches do (see
# tracker/compare/headline_tests.py), and so does a listing showing a field first ("shown",
# tracker/record/partial.py).
VERSION_MAKING_KINDS = ("created", "edited", "headline_test", "headline_flip", "shown")


def change_per_version(changes: Sequence[Change]) -> dict[int, Change]:
    """Version number → the change that made it."""
    return {c.to_n: c for c in changes if c.kind in VERSION_MAKING_KINDS and c.to_n is not None}


def history_document(session: Session, item: Item) -> dict[str, Any]:
    """The item and every version, oldest first, each with the change that made it: what
    `redline history --json` prints and GET /api/items/{id}/versions answers."""
    assert item.id is not None
    # Read as plain rows: the document only reads them.
    change_to = change_per_version(queries.changes_of(session, item.id, plain=True))
    versions = queries.versions_of(session, item.id, plain=True)
    archived = queries.archived_urls(session, [version.id for version in versions])
    return {
        "item": {
            "id": item.id,
            "url": item.url,
            "urls": queries.alias_values(session, item.id, "url"),
            "removed_at": iso_z(item.removed_at),
        },
        "versions": [
            version_json(version, change_to.get(version.n), archived.get(version.id or 0))
            for version in versions
        ],
    }


def version_json(
    version: Version, change: Change | None, archived_url: str | None = None
) -> dict[str, Any]:
    return {
        "n": version.n,
        "headline": version.headline,
        "summary": version.summary,
        "category": version.category,
        "tags": version.tags,
        "observed_at": iso_z(version.observed_at),
        "reported_at": iso_z(version.reported_at),
        "origin": version.origin,
        "archived_url": archived_url,
        "change": None
        if change is None
        else {
            "kind": change.kind,
            "fields": change.fields,
            "class": change.classification,
            "score": change.score,
            "reasons": change.reasons or [],
            "similarity": change.similarity,
            "variants": change.variants,
        },
    }


def whole_diff(change: Change | Any, before: Version | Any | None) -> dict[str, Any] | None:
    """The diff stored with a change, whole again ({field: [[op, text], ...]}; None for a
    change without one): its unchanged runs are kept as lengths (storage/stored_diff.py)
    and read back from `before`, the change's from-version (a Version or a plain row)."""
    return None if change.diff is None else stored_diff.unpack(change.diff, before)


def stored_diff_ops(change: Change | Any, before: Version | Any | None) -> dict[str, list[diff.Op]]:
    """The diff stored with a change, as ops again (list fields keep their list rendering);
    `before` is the change's from-version (see whole_diff)."""
    field_ops: dict[str, list[diff.Op]] = {}
    for name, ops in (whole_diff(change, before) or {}).items():
        pairs = [(int(op), str(text)) for op, text in ops]
        field_ops[name] = diff.ListOps(pairs) if name in LIST_FIELDS else pairs
    return field_ops


def changed_fields(field_ops: dict[str, list[diff.Op]]) -> list[str]:
    return [name for name, ops in field_ops.items() if diff.changed(ops)]


def overall_similarity(field_ops: dict[str, list[diff.Op]]) -> float | None:
    """The lowest similarity of the changed fields (1.0 when none changed)."""
    scores = [diff.similarity(ops) for ops in field_ops.values() if diff.changed(ops)]
    return min(scores) if scores else (1.0 if field_ops else None)


def pick_version(versions: Sequence[Version], ref: str, before: Version | None = None) -> Version:
    """A version by number or by the words first, previous, current.

    "previous" is the version before `before` (default: before the current one).
    """
    if not versions:
        raise UserError("the item has no versions")
    word = ref.strip().lower()
    if word == "first":
        return versions[0]
    if word in ("current", "last", "latest"):
        return versions[-1]
    if word == "previous":
        anchor = (before or versions[-1]).n
        earlier = [version for version in versions if version.n < anchor]
        if not earlier:
            raise UserError(f"version {anchor} is the first: there is no previous one")
        return earlier[-1]
    if not (word.isascii() and word.isdigit()):  # "²".isdigit() is true, int() refuses it
        raise UserError(f"not a version: {ref!r} (use a number, first, previous or current)")
    by_n = {version.n: version for version in versions}
    found = by_n.get(int(word)) if len(word) <= 20 else None  # int() stops at 4300 digits
    if found is None:
        raise UserError(f"no version {word[:20]}: the item has versions 1 to {versions[-1].n}")
    return found


def version_change(
    item: Item,
    previous: Version | None,
    version: Version,
    occurred_at: datetime,
    source_id: int | None = None,
) -> Change:
    """The change that leads from `previous` (None: the item's first) to `version`, with
    its changed fields, similarity, class and stored diff, recorded by the source that
    saw it (default: the item's first). Version ids are left to the caller (the versions
    may have none before a flush)."""
    assert item.id is not None
    change = new_row(
        Change,
        item_id=item.id,
        source_id=source_id or item.source_id,
        kind="created" if previous is None else "edited",
        from_n=previous.n if previous else None,
        to_n=version.n,
        occurred_at=occurred_at,
        recorded_at=version.observed_at,
    )
    if previous is not None:
        field_ops = diff_versions(previous, version)
        change.fields = changed_fields(field_ops)
        change.similarity = overall_similarity(field_ops)
        judge(change, field_ops)
        # Only changed fields are stored, their unchanged runs as lengths (read back from
        # `previous`): an article body is not kept again with each edit.
        shown = readable_diff({name: field_ops[name] for name in change.fields})
        whole = {name: [[op, text] for op, text in ops] for name, ops in shown.items()}
        change.diff = stored_diff.pack(whole, previous)
    return change


def judge(change: Change, field_ops: dict[str, list[diff.Op]]) -> None:
    """Set the change's class, score and reasons from its fields' diffs."""
    judged = significance.judge(field_ops)
    change.classification = judged.classification if judged else None
    change.score = judged.score if judged else None
    change.reasons = judged.reasons if judged else None


def rejudge(session: Session, batch: int = 500) -> int:
    """Judge every stored edit again from its two versions (after `db upgrade` from a
    redline that classed edits minor/substantive, or after the rules changed). Returns
    how many changes got another class, score or reasons."""
    changed = 0
    after = 0
    while True:
        changes = queries.edits_after(session, after, batch)
        if not changes:
            return changed
        versions = queries.versions_by_ids(
            session, [v for c in changes for v in (c.from_version_id, c.to_version_id) if v]
        )
        for change in changes:
            assert change.id is not None
            after = change.id
            old, new = (
                versions.get(change.from_version_id or 0),
                versions.get(change.to_version_id or 0),
            )
            if old is None or new is None:
                continue
            before = (change.classification, change.score, change.reasons)
            judge(change, diff_versions(old, new))
            if (change.classification, change.score, change.reasons) != before:
                change.stored_at = utcnow()  # the feeds that carry it changed
                session.add(change)
                changed += 1
        session.flush()
