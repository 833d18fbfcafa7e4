"""Reads and small writes that more than one caller needs. No business rules here.

Here: the helpers every query module uses (IN lists in chunks, plain rows, JSON array
membership) and the reads of items, their aliases, sightings, versions and changes.
Sources and their checks are read in storage/source_queries.py, pages of the change log
in storage/change_pages.py, pages of items and their ETag states in storage/item_pages.py.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy.engine import Row
from sqlmodel import Session, SQLModel, col, select

from storage import stored_diff
from storage.models import (
    Change,
    Item,
    ItemAlias,
    ItemMatch,
    ItemSighting,
    Source,
    Version,
    VersionArchive,
)

T = TypeVar("T")

# Values per IN (...) list: well under SQLite's and PostgreSQL's parameter limits.
IN_LIST_SIZE = 500


def in_chunks(values: Sequence[T]) -> Iterator[Sequence[T]]:
    """The values in slices short enough for one IN (...) list each."""
    for start in range(0, len(values), IN_LIST_SIZE):
        yield values[start : start + IN_LIST_SIZE]


def plain_rows(session: Session, query: Any) -> Sequence[Row[Any]]:
    """A query's rows as plain tuples with the columns' names, through the connection:
    no ORM objects (a page built per request reads this way: feeds/api/plain.py). The
    session's pending writes are flushed first, as an ORM read would (autoflush)."""
    session.flush()
    return session.connection().execute(query).all()


def columns(model: type[SQLModel]) -> Any:
    """SQL: every column of the model's table (select(columns(Change)) reads plain rows)."""
    return model.__table__  # type: ignore[attr-defined]


def _select(model: type[SQLModel], plain: bool) -> Any:
    """SELECT of the model's rows: as ORM objects, or (plain) as plain rows."""
    return select(columns(model)) if plain else select(model)


def _all(session: Session, query: Any, plain: bool) -> Sequence[Any]:
    return plain_rows(session, query) if plain else session.exec(query).all()


def row_by_id(session: Session, model: type[SQLModel], row_id: int) -> Row[Any] | None:
    """One row of the model's table by id, as a plain row (None: no such row)."""
    query = select(columns(model)).where(columns(model).c.id == row_id)
    rows = plain_rows(session, query)
    return rows[0] if rows else None


def items_by_alias(
    session: Session, kind: str, values: Sequence[str], source_id: int | None = None
) -> Sequence[Item]:
    """Items known by any of these aliases (within one source, or in any), oldest first."""
    if not values:
        return []
    query = (
        select(Item)
        .join(ItemAlias, col(ItemAlias.item_id) == Item.id)
        .where(ItemAlias.kind == kind, col(ItemAlias.value).in_(list(values)))
        .distinct()
        .order_by(col(Item.id))
    )
    if source_id is not None:
        query = query.where(ItemAlias.source_id == source_id)
    return session.exec(query).all()


def alias_values(session: Session, item_id: int, kind: str = "url") -> list[str]:
    """The item's aliases of one kind, in the order they were first recorded."""
    query = (
        select(ItemAlias.value)
        .where(ItemAlias.item_id == item_id, ItemAlias.kind == kind)
        .order_by(col(ItemAlias.id))
    )
    return list(session.exec(query).all())


def listed_ids(session: Session, source_id: int, leaving_out: Collection[int] = ()) -> list[int]:
    """The ids of the items the source's listing showed that have not been recorded as
    removed from it, in order, but those left out (an item page's item never leaves a
    listing). Only ids are read: a listing's check asks for the few that departed among
    thousands it has just seen."""
    query = select(ItemSighting.item_id).where(
        ItemSighting.source_id == source_id,
        col(ItemSighting.removed_at).is_(None),
        col(ItemSighting.listed).is_(True),
    )
    # Thousands of plain ids: no ORM rows to build.
    listed = plain_rows(session, query.order_by(col(ItemSighting.item_id)))
    return [item_id for (item_id,) in listed if item_id not in leaving_out]


def removed_since(session: Session, source_id: int, since: datetime) -> list[int]:
    """The ids of the items recorded as removed from the source's listing at or after
    `since`, in order."""
    query = select(ItemSighting.item_id).where(
        ItemSighting.source_id == source_id,
        col(ItemSighting.removed_at).is_not(None),
        col(ItemSighting.removed_at) >= since,
    )
    return list(session.exec(query.order_by(col(ItemSighting.item_id))))


def items_by_id(session: Session, ids: Sequence[int]) -> list[Item]:
    """The items of these ids (ordered by id within each 500)."""
    items: list[Item] = []
    for chunk in in_chunks(ids):
        items += session.exec(select(Item).where(col(Item.id).in_(chunk)).order_by(col(Item.id)))
    return items


def listed_elsewhere(session: Session, item_ids: Collection[int], source_id: int) -> set[int]:
    """Those of the items that a listing other than this source's still shows."""
    found: set[int] = set()
    for chunk in in_chunks(sorted(item_ids)):
        query = select(ItemSighting.item_id).where(
            col(ItemSighting.item_id).in_(chunk),
            ItemSighting.source_id != source_id,
            col(ItemSighting.listed).is_(True),
            col(ItemSighting.removed_at).is_(None),
        )
        found.update(session.exec(query))
    return found


def mark_removed(
    session: Session, source_id: int, item_ids: Collection[int], when: datetime
) -> None:
    """Record that the items left the source's listing."""
    from sqlalchemy import update

    for chunk in in_chunks(sorted(item_ids)):
        session.exec(  # type: ignore[call-overload]
            update(ItemSighting)
            .where(ItemSighting.source_id == source_id, col(ItemSighting.item_id).in_(chunk))
            .values(removed_at=when)
            .execution_options(synchronize_session=False)
        )


def sightings_of(session: Session, item_id: int) -> list[ItemSighting]:
    """The sources' sightings of one item, by source id."""
    query = select(ItemSighting).where(ItemSighting.item_id == item_id)
    return list(session.exec(query.order_by(col(ItemSighting.source_id))).all())


def sighted_by(source_id: int):  # noqa: ANN201 (a SQL expression)
    """SQL: the ids of the items the source has shown (for `Item.id.in_(...)`)."""
    return select(ItemSighting.item_id).where(ItemSighting.source_id == source_id)


def aliases_of(
    session: Session, item_ids: Collection[int], kinds: Collection[str]
) -> list[tuple[int, str, str]]:
    """(item id, kind, value) of these items' aliases of these kinds, oldest first."""
    found: list[tuple[int, str, str]] = []
    for chunk in in_chunks(sorted(item_ids)):
        query = (
            select(ItemAlias.item_id, ItemAlias.kind, ItemAlias.value)
            .where(col(ItemAlias.item_id).in_(chunk), col(ItemAlias.kind).in_(list(kinds)))
            .order_by(col(ItemAlias.id))
        )
        found += [tuple(row) for row in session.exec(query).all()]  # type: ignore[misc]
    return found


def identity_log(session: Session, item_id: int) -> list[ItemMatch]:
    """How the item's identity was decided beyond its aliases (fuzzy pairings, merges,
    splits), oldest first."""
    query = select(ItemMatch).where(ItemMatch.item_id == item_id).order_by(col(ItemMatch.id))
    return list(session.exec(query).all())


def all_items(session: Session) -> Sequence[Item]:
    return session.exec(select(Item).order_by(col(Item.id))).all()


def versions_of(
    session: Session, item_id: int, plain: bool = False
) -> Sequence[Version] | Sequence[Row[Any]]:
    """The item's versions, oldest first (plain: as plain rows, for a page built per
    request; ORM objects are for code that changes them)."""
    query = _select(Version, plain).where(Version.item_id == item_id).order_by(col(Version.n))
    return _all(session, query, plain)


def latest_version(session: Session, item_id: int) -> Version | None:
    query = select(Version).where(Version.item_id == item_id).order_by(col(Version.n).desc())
    return session.exec(query).first()


def latest_versions(session: Session, item_ids: Collection[int]) -> dict[int, Version]:
    """Each of these items' latest version, by item id, in one query per 500 items (not
    one per item: a listing's check asks for every item that departed)."""
    from sqlalchemy import func

    found: dict[int, Version] = {}
    for chunk in in_chunks(sorted(item_ids)):
        newest = (
            select(Version.item_id, func.max(Version.n).label("n"))
            .where(col(Version.item_id).in_(chunk))
            .group_by(col(Version.item_id))
            .subquery()
        )
        query = select(Version).join(
            newest, (Version.item_id == newest.c.item_id) & (Version.n == newest.c.n)
        )
        found.update((version.item_id, version) for version in session.exec(query))
    return found


def touch_latest_versions(
    session: Session, item_ids: Collection[int], now: datetime, only_later: bool = False
) -> None:
    """Mark these items' latest versions (n = the item's version count) as observed now,
    in one statement, without reading them. only_later: leave a version last observed
    after `now` as it is (a time written late, by an import: ListingMemory)."""
    from sqlalchemy import update

    count = select(Item.version_count).where(col(Item.id) == col(Version.item_id))
    statement = (
        update(Version)
        .where(col(Version.item_id).in_(list(item_ids)), col(Version.n) == count.scalar_subquery())
        .values(last_observed_at=now)
    )
    if only_later:
        statement = statement.where(col(Version.last_observed_at) < now)
    session.exec(statement.execution_options(synchronize_session=False))  # type: ignore[call-overload]


def write_seen_late(session: Session, item_ids: Sequence[int], seen_at: datetime) -> None:
    """These items, and their latest versions, were last seen at `seen_at` (written after
    the check that saw them: tracker/record/listing_memory.py); a later time already
    written stays."""
    from sqlalchemy import update

    for chunk in in_chunks(item_ids):
        statement = (
            update(Item)
            .where(col(Item.id).in_(chunk), col(Item.last_seen_at) < seen_at)
            .values(last_seen_at=seen_at)
        )
        session.exec(statement.execution_options(synchronize_session=False))  # type: ignore[call-overload]
        touch_latest_versions(session, chunk, seen_at, only_later=True)


def changes_of(
    session: Session, item_id: int, plain: bool = False
) -> Sequence[Change] | Sequence[Row[Any]]:
    """The item's change log, oldest first (plain: as plain rows)."""
    query = _select(Change, plain).where(Change.item_id == item_id).order_by(col(Change.id))
    return _all(session, query, plain)


def changes_before(
    session: Session, kinds: Sequence[str], limit: int, before_id: int | None = None
) -> Sequence[Change]:
    """A page of the change log, newest first: changes of these kinds recorded before before_id."""
    query = select(Change).where(col(Change.kind).in_(list(kinds)))
    if before_id is not None:
        query = query.where(col(Change.id) < before_id)
    return session.exec(query.order_by(col(Change.id).desc()).limit(limit)).all()


def edits_after(session: Session, after_id: int, limit: int) -> Sequence[Change]:
    """Up to `limit` changes of kind edited with an id above after_id, oldest first."""
    query = select(Change).where(Change.kind == "edited", col(Change.id) > after_id)
    return session.exec(query.order_by(col(Change.id)).limit(limit)).all()


def items_by_ids(
    session: Session, ids: Sequence[int], plain: bool = False
) -> Sequence[Item] | Sequence[Row[Any]]:
    """These items (plain: as plain rows), in no order."""
    if not ids:
        return []
    query = _select(Item, plain).where(col(Item.id).in_(list(set(ids))))
    return _all(session, query, plain)


def sources_by_ids(
    session: Session, ids: Collection[int], plain: bool = False
) -> dict[int, Source] | dict[int, Row[Any]]:
    """These sources by id, in one statement (absent ids are left out; plain: as plain
    rows)."""
    if not ids:
        return {}
    query = _select(Source, plain).where(col(Source.id).in_(sorted(set(ids))))
    return {source.id: source for source in _all(session, query, plain) if source.id is not None}


def versions_by_ids(
    session: Session, ids: Collection[int], plain: bool = False
) -> dict[int, Version] | dict[int, Row[Any]]:
    """These versions by id, in one statement (absent ids are left out; plain: as plain
    rows)."""
    if not ids:
        return {}
    query = _select(Version, plain).where(col(Version.id).in_(sorted(set(ids))))
    found = _all(session, query, plain)
    return {version.id: version for version in found if version.id is not None}


def diff_base_ids(changes: Iterable[Change | Row[Any]]) -> set[int]:
    """The from-versions these changes' stored diffs are read back with: unchanged runs
    kept as lengths (storage/stored_diff.py; a diff stored whole needs none)."""
    return {
        c.from_version_id
        for c in changes
        if c.diff and c.from_version_id is not None and stored_diff.is_packed(c.diff)
    }


def diff_bases(session: Session, changes: Iterable[Change | Row[Any]]) -> dict[int, Row[Any]]:
    """Those versions (diff_base_ids) by id, as plain rows, in one statement."""
    return versions_by_ids(session, diff_base_ids(changes), plain=True)  # type: ignore[return-value]


def search_items(
    session: Session, text: str, limit: int, plain: bool = False
) -> Sequence[Item] | Sequence[Row[Any]]:
    """Items whose current headline contains text, ignoring case; most recently seen first.

    LIKE with an escaped pattern (ILIKE on PostgreSQL, lower() LIKE lower() elsewhere), so
    % and _ in the text match themselves. SQLite folds the case of ASCII letters only.
    """
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    query = (
        _select(Item, plain)
        .where(col(Item.headline).ilike(f"%{escaped}%", escape="\\"))
        .order_by(col(Item.last_seen_at).desc(), col(Item.id).desc())
        .limit(limit)
    )
    return _all(session, query, plain)


def item_counts(session: Session, source_ids: Sequence[int] | None = None) -> dict[int, int]:
    """How many items each source shows, by source id (sources without items are absent);
    of these sources only, if given."""
    from sqlalchemy import func

    query = select(ItemSighting.source_id, func.count()).group_by(col(ItemSighting.source_id))
    if source_ids is not None:
        query = query.where(col(ItemSighting.source_id).in_(list(source_ids)))
    return {source_id: count for source_id, count in session.exec(query).all()}


def _json_array_has(session: Session, column: object, value: str):
    """SQL: the JSON array in `column` holds the string `value` (NULL or not an array: no)."""
    from sqlalchemy import case, exists, func, literal

    if session.get_bind().dialect.name == "postgresql":
        # json_array_elements_text raises on a scalar (a JSON null): give it [] instead.
        array = case((func.json_typeof(column) == "array", column), else_=func.json_build_array())
        elements = func.json_array_elements_text(array).table_valued("value")
    else:
        elements = func.json_each(column).table_valued("value")
    return exists(select(literal(1)).select_from(elements).where(elements.c.value == value))


def counts_by(session: Session, column: Any) -> dict[Any, int]:
    """How many rows have each value of the column (e.g. Check.outcome)."""
    from sqlalchemy import func

    query = select(column, func.count()).group_by(column)
    return {value: int(count) for value, count in session.exec(query).all()}


def count_rows(session: Session, model: type[SQLModel], *where: Any) -> int:
    """How many rows of the table match every condition."""
    from sqlalchemy import func

    return int(session.exec(select(func.count()).select_from(model).where(*where)).one())


def archived_urls(session: Session, version_ids: Collection[int | None]) -> dict[int, str]:
    """version id -> its Wayback Machine copy, for those of these versions that have one
    (tracker/run/archive_links.py)."""
    wanted = sorted({v for v in version_ids if v is not None})
    found: dict[int, str] = {}
    for chunk in in_chunks(wanted):
        rows = session.exec(
            select(VersionArchive.version_id, VersionArchive.archived_url).where(
                col(VersionArchive.version_id).in_(chunk),
                col(VersionArchive.state) == "archived",
            )
        ).all()
        found.update({version_id: url for version_id, url in rows if url})
    return found


def archived_count(session: Session, item_id: int) -> int:
    """How many of the item's versions have an archived copy: it only grows, so it is
    enough for an ETag of what shows them."""
    from sqlalchemy import func

    archived = (col(VersionArchive.item_id) == item_id, col(VersionArchive.state) == "archived")
    counted = select(func.count()).select_from(VersionArchive).where(*archived)
    return int(session.exec(counted).one())
