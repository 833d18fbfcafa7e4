"""`redline export`: items' whole histories for other tools, as JSON, NDJSON or CSV.

Every version and every change of the chosen items (one item, one source's, or all),
read in one consistent snapshot of the database and written to a text stream:

- json: one document, {"exported_at", "redline_version", "items": [item, ...]}, each
  item with its "versions" and "changes" (shapes: `item_json`, `version_json`,
  `change_json`; names as in the JSON API, except "classification" for its "class").
- ndjson: one object per line, a version or a change, each with "record" ("version" or
  "change") and "item_id"; an item's versions (by n), then its changes (by id).
- csv: a header, then one row per version (`CSV_COLUMNS`) with the change that made it.
  Removals and restorations make no version, so they are in json and ndjson only.

Items are read ITEM_BATCH at a time, by id, and written as they come, so memory holds
one batch however big the export; the JSON document is streamed the same way.
"""

from __future__ import annotations

import csv
import json
import os
import sys
import tempfile
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

from sqlalchemy.engine import Engine, Row
from sqlmodel import Session, col, select

from storage import Change, Item, ItemAlias, Source, Version, queries, utcnow
from storage.types import iso_z
from tracker import __version__
from tracker.errors import UserError
from tracker.record import history

FORMATS = ("json", "ndjson", "csv")
# Items per read: their versions and changes are loaded together, then written and let go.
ITEM_BATCH = 100
CSV_COLUMNS = (
    "item_id",
    "n",
    "observed_at",
    "reported_at",
    "origin",
    "url",
    "headline",
    "summary",
    "category",
    "tags",
    "sources",
    "body",
    "content_hash",
    "archived_url",
    "change_kind",
    "change_fields",
    "classification",
    "score",
    "reasons",
    "similarity",
)
LIST_SEPARATOR = "; "  # tags, sources and change fields in one CSV cell


@dataclass(frozen=True)
class Selection:
    """Which items: one (item_id), a source's (source_id), or every item (neither)."""

    item_id: int | None = None
    source_id: int | None = None


@dataclass
class ItemHistory:
    item: Item
    urls: list[str]
    versions: list[Version]
    changes: list[Change]
    archived: dict[int, str] = field(default_factory=dict)  # version id -> Wayback copy

    def change_records(self) -> list[dict[str, Any]]:
        """Its changes as the export writes them, each diff whole (read back from the
        version it leads from)."""
        by_id = {version.id: version for version in self.versions}
        return [change_json(c, by_id.get(c.from_version_id or 0)) for c in self.changes]


@dataclass
class Summary:
    """What an export wrote."""

    items: int = 0
    versions: int = 0
    changes: int = 0

    def add(self, entry: ItemHistory) -> None:
        self.items += 1
        self.versions += len(entry.versions)
        self.changes += len(entry.changes)


@contextmanager
def snapshot(engine: Engine) -> Iterator[Session]:
    """A read-only session that sees one moment of the database throughout.

    A long export runs beside checks that add versions; reading every batch in one
    snapshot keeps each version with the change that made it. No write lock is taken
    (storage.transaction would take SQLite's), so checks go on meanwhile.
    """
    bind = engine
    if engine.dialect.name == "postgresql":
        bind = engine.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
    with Session(bind, expire_on_commit=False) as session, session.begin():
        if engine.dialect.name == "sqlite":
            # pysqlite opens no transaction for SELECTs: each would see its own moment.
            session.connection().exec_driver_sql("BEGIN")
        yield session


def write_export(
    session: Session,
    selection: Selection,
    fmt: str,
    out: TextIO,
    now: datetime | None = None,
) -> Summary:
    """Write the selected items' histories to `out` in the format; what was written."""
    if fmt not in FORMATS:
        raise UserError(f"not an export format: {fmt!r} (use {', '.join(FORMATS)})")
    if selection.item_id is not None and session.get(Item, selection.item_id) is None:
        raise UserError(f"no item {selection.item_id}")
    if selection.source_id is not None and session.get(Source, selection.source_id) is None:
        raise UserError(f"no source {selection.source_id}")
    entries = item_histories(session, selection)
    if fmt == "json":
        return write_json(entries, out, now or utcnow())
    if fmt == "ndjson":
        return write_ndjson(entries, out)
    return write_csv(entries, out)


def item_histories(session: Session, selection: Selection) -> Iterator[ItemHistory]:
    """The selected items with their URLs, versions and changes, by item id, a batch at a
    time (pages keyed by id, never OFFSET)."""
    after = 0
    while True:
        query = select(Item).where(col(Item.id) > after)
        if selection.item_id is not None:
            query = query.where(Item.id == selection.item_id)
        if selection.source_id is not None:
            query = query.where(col(Item.id).in_(queries.sighted_by(selection.source_id)))
        items = list(session.exec(query.order_by(col(Item.id)).limit(ITEM_BATCH)).all())
        if not items:
            return
        yield from _with_histories(session, items)
        after = items[-1].id or 0
        # Let the written batch go: the session would otherwise keep every row it loaded.
        session.expunge_all()
        if len(items) < ITEM_BATCH:
            return


def _with_histories(session: Session, items: Sequence[Item]) -> Iterator[ItemHistory]:
    """The items' URLs, versions and changes in three queries for the whole batch."""
    ids = [item.id for item in items]
    urls: dict[int, list[str]] = defaultdict(list)
    alias_rows = session.exec(
        select(ItemAlias.item_id, ItemAlias.value)
        .where(col(ItemAlias.item_id).in_(ids), ItemAlias.kind == "url")
        .order_by(col(ItemAlias.item_id), col(ItemAlias.id))
    ).all()
    for item_id, value in alias_rows:
        urls[item_id].append(value)
    versions: dict[int, list[Version]] = defaultdict(list)
    version_rows = session.exec(
        select(Version)
        .where(col(Version.item_id).in_(ids))
        .order_by(col(Version.item_id), col(Version.n))
    ).all()
    for version in version_rows:
        versions[version.item_id].append(version)
    changes: dict[int, list[Change]] = defaultdict(list)
    change_rows = session.exec(
        select(Change)
        .where(col(Change.item_id).in_(ids))
        .order_by(col(Change.item_id), col(Change.id))
    ).all()
    for change in change_rows:
        changes[change.item_id].append(change)
    archived = queries.archived_urls(session, [version.id for version in version_rows])
    for item in items:
        assert item.id is not None
        yield ItemHistory(item, urls[item.id], versions[item.id], changes[item.id], archived)


# -- shapes ---------------------------------------------------------------------------------


def item_json(entry: ItemHistory) -> dict[str, Any]:
    item = entry.item
    return {
        "id": item.id,
        "source_id": item.source_id,
        "url": item.url,
        "urls": entry.urls,
        "headline": item.headline,
        "first_seen_at": iso_z(item.first_seen_at),
        "last_seen_at": iso_z(item.last_seen_at),
        "removed_at": iso_z(item.removed_at),
        "versions": [
            version_json(version, entry.archived.get(version.id or 0)) for version in entry.versions
        ],
        "changes": entry.change_records(),
    }


def version_json(version: Version, archived_url: str | None = None) -> dict[str, Any]:
    """A version; a null field is unknown (a page-history version knows only its headline);
    archived_url: its copy in the Wayback Machine, if [archive] made one."""
    return {
        "n": version.n,
        "headline": version.headline,
        "summary": version.summary,
        "category": version.category,
        "tags": version.tags,
        "sources": version.sources,
        "body": version.body,
        "url": version.url,
        "origin": version.origin,
        "observed_at": iso_z(version.observed_at),
        "reported_at": iso_z(version.reported_at),
        "content_hash": version.content_hash,
        "archived_url": archived_url,
    }


def change_json(change: Change | Row[Any], before: Version | Row[Any] | None) -> dict[str, Any]:
    """A stored change (an ORM object or a plain row) as `redline export` writes it, its
    diff whole: `before` is the version it leads from (see history.whole_diff)."""
    return {
        "id": change.id,
        "kind": change.kind,
        "from_n": change.from_n,
        "to_n": change.to_n,
        "fields": change.fields,
        "classification": change.classification,
        "score": change.score,
        "reasons": change.reasons or [],
        "similarity": change.similarity,
        "variants": change.variants,
        "occurred_at": iso_z(change.occurred_at),
        "recorded_at": iso_z(change.recorded_at),
        "diff": None
        if (whole := history.whole_diff(change, before)) is None
        else {name: [[int(op), str(text)] for op, text in ops] for name, ops in whole.items()},
    }


def csv_row(
    item_id: int, version: Version, change: Change | None, archived_url: str | None = None
) -> list[Any]:
    """A version as a CSV row (CSV_COLUMNS); an unknown field is an empty cell."""
    return [
        item_id,
        version.n,
        iso_z(version.observed_at),
        iso_z(version.reported_at),
        version.origin,
        version.url,
        version.headline,
        version.summary,
        version.category,
        _joined(version.tags),
        _joined(version.sources),
        version.body,
        version.content_hash,
        archived_url,
        change.kind if change else None,
        _joined(change.fields) if change else None,
        change.classification if change else None,
        change.score if change else None,
        _joined(change.reasons) if change else None,
        change.similarity if change else None,
    ]


# -- writers ---------------------------------------------------------------------------------


def write_json(entries: Iterable[ItemHistory], out: TextIO, now: datetime) -> Summary:
    """One document, written item by item; the text is what json.dumps(indent=2) gives."""
    summary = Summary()
    head = {"exported_at": iso_z(now), "redline_version": __version__}
    out.write(json.dumps(head, ensure_ascii=False, indent=2)[:-2] + ',\n  "items": [')
    for entry in entries:
        text = json.dumps(item_json(entry), ensure_ascii=False, indent=2)
        out.write(",\n" if summary.items else "\n")
        out.write("\n".join("    " + line for line in text.split("\n")))
        summary.add(entry)
    out.write("\n  ]\n}\n" if summary.items else "]\n}\n")
    return summary


def write_ndjson(entries: Iterable[ItemHistory], out: TextIO) -> Summary:
    summary = Summary()
    for entry in entries:
        item_id = entry.item.id
        for version in entry.versions:
            archived_url = entry.archived.get(version.id or 0)
            record = {"record": "version", "item_id": item_id}
            _write_line(out, record | version_json(version, archived_url))
        for change in entry.change_records():
            _write_line(out, {"record": "change", "item_id": item_id, **change})
        summary.add(entry)
    return summary


def _write_line(out: TextIO, record: dict[str, Any]) -> None:
    # U+2028, U+2029 and NEL are legal raw in JSON strings but end a line for readers
    # that split with str.splitlines (Python) or JavaScript: escaped, a record is a line.
    text = json.dumps(record, ensure_ascii=False)
    text = text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029").replace("\x85", "\\u0085")
    out.write(text + "\n")


def write_csv(entries: Iterable[ItemHistory], out: TextIO) -> Summary:
    """RFC 4180: CRLF line ends, fields with commas, quotes or line breaks quoted."""
    summary = Summary()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for entry in entries:
        made_by = history.change_per_version(entry.changes)
        assert entry.item.id is not None
        for version in entry.versions:
            change, archived_url = made_by.get(version.n), entry.archived.get(version.id or 0)
            writer.writerow(csv_row(entry.item.id, version, change, archived_url))
        summary.add(entry)
    return summary


# -- where it goes ---------------------------------------------------------------------------


@contextmanager
def output(path: str | None) -> Iterator[TextIO]:
    """The stream to export to: stdout, or a file written whole or not at all.

    Output is UTF-8 and written as given (no newline translation: CSV's CRLF stays).
    A regular file is written beside itself and renamed into place at the end, so a
    failed export never leaves a truncated file that looks complete; anything else
    (/dev/stdout, a pipe) is written directly.
    """
    if path is None:
        sys.stdout.reconfigure(encoding="utf-8", newline="")  # type: ignore[attr-defined]
        yield sys.stdout
        sys.stdout.flush()
        return
    target = Path(path)
    if target.is_symlink() and target.is_file():  # replace the file it names, not the link
        target = target.resolve()
    if target.is_dir():
        raise UserError(f"cannot write {path}: it is a directory")
    if target.exists() and not target.is_file():
        try:
            stream = target.open("w", encoding="utf-8", newline="")
        except OSError as error:
            raise UserError(f"cannot write {path}: {error.strerror}") from None
        with stream:
            yield stream
        return
    try:
        handle, temporary = tempfile.mkstemp(
            prefix=f".{target.name}.", suffix=".partial", dir=target.parent
        )
    except OSError as error:
        raise UserError(f"cannot write {path}: {error.strerror}") from None
    try:
        with open(handle, "w", encoding="utf-8", newline="") as stream:
            yield stream
        os.chmod(temporary, 0o666 & ~_umask())  # mkstemp makes it private (0600)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _joined(values: Sequence[str] | None) -> str | None:
    return LIST_SEPARATOR.join(values) if values else None
