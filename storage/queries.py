"""Reads and small writes that more than one caller needs. No business rules here."""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from typing import Any, NamedTuple, TypeVar

from sqlalchemy.engine import Row
from sqlmodel import Session, SQLModel, col, or_, select

from storage.models import (
    Change,
    Check,
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


def source_by_url(session: Session, url: str) -> Source | None:
    return session.exec(select(Source).where(Source.url == url)).first()


def source_urls_mentioning(session: Session, text: str) -> Sequence[tuple[int, str]]:
    """(id, URL) of the sources whose URL contains this text, in any case (a host name), as
    plain rows: a host may have thousands of sources, and adding each one asks."""
    from sqlalchemy import func

    lowered = func.lower(col(Source.url))
    query = select(Source.id, Source.url).where(lowered.contains(text.lower(), autoescape=True))
    return session.exec(query).all()  # type: ignore[return-value]


def all_sources(session: Session) -> Sequence[Source]:
    return session.exec(select(Source).order_by(col(Source.id))).all()


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


def source_page(
    session: Session, limit: int, after: int | None = None, enabled: bool | None = None
) -> Sequence[Row[Any]]:
    """Up to `limit` sources in id order, those after the id `after` (a lists page), as
    plain rows."""
    query = select(columns(Source)).order_by(col(Source.id)).limit(limit)
    if after is not None:
        query = query.where(col(Source.id) > after)
    if enabled is not None:
        query = query.where(Source.enabled == enabled)
    return plain_rows(session, query)


# Which sources are checked, due and free: one definition for the daemon's claims
# (storage/leases.py), `redline status` (storage/stats.py) and the lists here.


def active_source() -> Any:
    """SQL: the source is checked at all (enabled and not retired)."""
    from sqlalchemy import and_

    return and_(col(Source.enabled).is_(True), col(Source.retired_at).is_(None))


def due_source(at: datetime) -> Any:
    """SQL: the source is active and never checked or due at `at`."""
    from sqlalchemy import and_

    return and_(
        active_source(), or_(col(Source.next_check_at).is_(None), col(Source.next_check_at) <= at)
    )


def unleased_source(clock: datetime) -> Any:
    """SQL: no worker holds a live lease on the source at `clock`."""
    return or_(col(Source.lease_until).is_(None), col(Source.lease_until) <= clock)


def most_overdue_first() -> tuple[Any, ...]:
    return (col(Source.next_check_at).is_(None).desc(), col(Source.next_check_at), Source.id)


def due_sources(session: Session, now: datetime) -> Sequence[Source]:
    """Enabled, unretired sources never checked or whose next check time has come, most
    overdue first."""
    query = select(Source).where(due_source(now)).order_by(*most_overdue_first())
    return session.exec(query).all()


def due_source_urls(session: Session, due_at: datetime, clock: datetime) -> list[tuple[int, str]]:
    """(id, url) of the active sources due at `due_at` and not leased at `clock`, most
    overdue first: a round's sources."""
    query = (
        select(Source.id, Source.url)
        .where(due_source(due_at), unleased_source(clock))
        .order_by(*most_overdue_first())
    )
    return [(source_id, url) for source_id, url in session.exec(query).all() if source_id]


def recent_check_statuses(session: Session, source_id: int, limit: int) -> list[int | None]:
    """The HTTP status of the source's `limit` latest checks, newest first."""
    if limit <= 0:
        return []
    query = (
        select(Check.http_status)
        .where(Check.source_id == source_id)
        .order_by(col(Check.id).desc())
        .limit(limit)
    )
    return list(session.exec(query).all())


def source_first_seen(session: Session, source_id: int) -> datetime | None:
    """When the source first showed any item (None: no item yet).

    Asked after every check of an item page (its aging schedule): one statement built
    once, run on the session's connection, past the ORM's per-statement work (which
    cost several times the query itself).
    """
    session.flush()  # this check's new items count, as the ORM's autoflush made them
    value = session.connection().execute(_first_seen_query(), {"source_id": source_id})
    return _utc(value.scalar())


@cache
def _first_seen_query() -> Any:
    from sqlalchemy import bindparam, func

    return select(func.min(col(ItemSighting.first_seen_at))).where(
        col(ItemSighting.source_id) == bindparam("source_id")
    )


def _utc(value: object) -> datetime | None:
    """A datetime from an aggregate: SQLite may hand back text, and naive means UTC."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return None


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


def touch_latest_versions(session: Session, item_ids: Collection[int], now: datetime) -> None:
    """Mark these items' latest versions (n = the item's version count) as observed now,
    in one statement, without reading them."""
    from sqlalchemy import update

    count = select(Item.version_count).where(col(Item.id) == col(Version.item_id))
    statement = (
        update(Version)
        .where(col(Version.item_id).in_(list(item_ids)), col(Version.n) == count.scalar_subquery())
        .values(last_observed_at=now)
    )
    session.exec(statement.execution_options(synchronize_session=False))  # type: ignore[call-overload]


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


# Feeds (feeds/atom.py): pages of the change log under filters, read newest first.
#
# JSON array membership (a change's `fields`, a version's `tags`) is tested in SQL with
# the database's own JSON functions: json_each on SQLite, json_array_elements_text on
# PostgreSQL. A page is the `limit` newest matching changes with an id below `before`;
# change ids only grow, so a page with `before` never changes once written.


# Changes that belong to one listing: an item left it or came back to it.
LISTING_EVENTS = ("removed", "restored")

# A class, several classes (None among them: changes without one), or None: any.
Classes = str | Sequence[str | None] | None


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


def _change_filters(
    session: Session,
    kinds: Sequence[str],
    source_id: int | None = None,
    item_id: int | None = None,
    tag: str | None = None,
    classification: Classes = None,
    field: str | None = None,
) -> list:
    """WHERE clauses for changes of these kinds matching every filter given.

    tag: the version the change leads to (to_version; for a change without one, the
    item's latest version) has the tag, so a change's tags are fixed when it is recorded.
    """
    from sqlalchemy import and_, exists, func, or_
    from sqlalchemy.orm import aliased

    clauses = [col(Change.kind).in_(list(kinds))]
    if source_id is not None:
        # A source's changes: its own removals and restorations, and every edit of the
        # items it shows, whichever source of the site saw the edit first.
        clauses.append(
            or_(
                Change.source_id == source_id,
                and_(
                    col(Change.kind).not_in(LISTING_EVENTS),
                    col(Change.item_id).in_(sighted_by(source_id)),
                ),
            )
        )
    if item_id is not None:
        clauses.append(Change.item_id == item_id)
    if classification is not None:
        # A str or several classes; None among them keeps changes without a class.
        wanted = [classification] if isinstance(classification, str) else list(classification)
        named = col(Change.classification).in_([c for c in wanted if c is not None])
        clauses.append(
            or_(named, col(Change.classification).is_(None)) if None in wanted else named
        )
    if field is not None:
        clauses.append(_json_array_has(session, Change.fields, field))
    if tag is not None:
        tagged, latest = aliased(Version), aliased(Version)
        latest_id = (
            select(latest.id)
            .where(latest.item_id == Change.item_id)
            .order_by(col(latest.n).desc())
            .limit(1)
            .correlate(Change)
            .scalar_subquery()
        )
        version_id = func.coalesce(Change.to_version_id, latest_id)
        clauses.append(
            exists(
                select(tagged.id).where(
                    tagged.id == version_id, _json_array_has(session, tagged.tags, tag)
                )
            )
        )
    return clauses


def change_page(
    session: Session,
    kinds: Sequence[str],
    limit: int,
    before: int | None = None,
    source_id: int | None = None,
    item_id: int | None = None,
    tag: str | None = None,
    classification: Classes = None,
    field: str | None = None,
    plain: bool = False,
) -> Sequence[Change] | Sequence[Row[Any]]:
    """Up to `limit` matching changes with an id below `before`, newest (highest id) first
    (plain: as plain rows)."""
    filters = _change_filters(session, kinds, source_id, item_id, tag, classification, field)
    query = _select(Change, plain).where(*filters)
    if before is not None:
        query = query.where(col(Change.id) < before)
    return _all(session, query.order_by(col(Change.id).desc()).limit(limit), plain)


def change_page_state(
    session: Session,
    kinds: Sequence[str],
    limit: int,
    before: int | None = None,
    source_id: int | None = None,
    item_id: int | None = None,
    tag: str | None = None,
    classification: Classes = None,
    field: str | None = None,
) -> tuple[int, int | None, datetime | None]:
    """(count, highest id, latest time written) of that page, read without loading it."""
    from sqlalchemy import func

    page = _page_window(
        session, kinds, limit, before, source_id, item_id, tag, classification, field
    )
    count, newest, latest = session.exec(
        select(func.count(), func.max(page.c.id), func.max(page.c.at))
    ).one()
    return int(count), newest, latest


def _page_window(
    session: Session,
    kinds: Sequence[str],
    limit: int,
    before: int | None,
    source_id: int | None,
    item_id: int | None,
    tag: str | None,
    classification: Classes,
    field: str | None,
) -> Any:
    """change_page's page as a subquery of (id, at: when each change was written), for
    counting it."""
    from sqlalchemy import func

    filters = _change_filters(session, kinds, source_id, item_id, tag, classification, field)
    written = func.coalesce(col(Change.stored_at), col(Change.recorded_at))
    window = select(col(Change.id).label("id"), written.label("at"))
    window = window.where(*filters)
    if before is not None:
        window = window.where(col(Change.id) < before)
    return window.order_by(col(Change.id).desc()).limit(limit).subquery()


class FeedPageState(NamedTuple):
    """change_page_state's page, and the feed's own row, read in one statement."""

    found: bool  # the source or item filtered on exists (True when there is none)
    count: int
    newest: int | None  # the highest change id on the page
    latest: datetime | None  # when the page's newest-written change was written
    version_count: int | None  # item_id given: the item's, and its latest version's
    current_id: int | None  # id and observed_at
    current_observed_at: datetime | None


def feed_page_state(
    session: Session,
    kinds: Sequence[str],
    limit: int,
    before: int | None = None,
    source_id: int | None = None,
    item_id: int | None = None,
    tag: str | None = None,
    classification: Classes = None,
    field: str | None = None,
) -> FeedPageState:
    """What a feed page's ETag is made of, in one round trip: a conditional GET answered
    304 reads nothing else. Scalar subqueries add the scope's row (source or item) and,
    for an item, its latest version."""
    from sqlalchemy import func, literal

    page = _page_window(
        session, kinds, limit, before, source_id, item_id, tag, classification, field
    )
    found: Any = literal(1)
    extra: list[Any] = []
    if source_id is not None:
        found = select(Source.id).where(Source.id == source_id).scalar_subquery()
    if item_id is not None:
        found = select(Item.version_count).where(Item.id == item_id).scalar_subquery()
        latest = select(Version).where(Version.item_id == item_id)
        latest = latest.order_by(col(Version.n).desc()).limit(1).subquery()
        extra = [
            select(latest.c.id).scalar_subquery(),
            select(latest.c.observed_at).scalar_subquery(),
        ]
    row = session.exec(
        select(func.count(), func.max(page.c.id), func.max(page.c.at), found, *extra)
    ).one()
    count, newest, at, scope = row[0], row[1], row[2], row[3]
    current_id, current_at = (row[4], row[5]) if item_id is not None else (None, None)
    return FeedPageState(
        found=scope is not None,
        count=int(count),
        newest=newest,
        latest=at,
        version_count=scope if item_id is not None else None,
        current_id=current_id,
        current_observed_at=_utc(current_at),
    )


def item_history_state(session: Session, item_id: int) -> tuple[int, int, int] | None:
    """(version count, highest version id, highest change id) of the item in one statement;
    None if there is no such item. Versions and changes are only ever added, never edited,
    so these change whenever the item's history does."""
    from sqlalchemy import func

    newest_version = select(func.max(Version.id)).where(Version.item_id == item_id)
    newest_change = select(func.max(Change.id)).where(Change.item_id == item_id)
    row = session.exec(
        select(
            Item.version_count,
            newest_version.scalar_subquery(),
            newest_change.scalar_subquery(),
        ).where(Item.id == item_id)
    ).first()
    if row is None:
        return None
    return int(row[0]), int(row[1] or 0), int(row[2] or 0)


def item_with_alias_state(
    session: Session, item_id: int, kind: str = "url"
) -> tuple[Row[Any], int, int] | None:
    """(the item as a plain row, how many aliases of this kind it has, their highest id) in
    one statement; None if there is no such item. Aliases are only ever added."""
    from sqlalchemy import func

    of_item = (ItemAlias.item_id == item_id, ItemAlias.kind == kind)
    count = select(func.count()).select_from(ItemAlias).where(*of_item).scalar_subquery()
    newest = select(func.max(ItemAlias.id)).where(*of_item).scalar_subquery()
    query = select(columns(Item), count.label("alias_count"), newest.label("newest_alias"))
    rows = plain_rows(session, query.where(Item.id == item_id))
    if not rows:
        return None
    row = rows[0]
    return row, int(row.alias_count), int(row.newest_alias or 0)


def change_tags(session: Session, kinds: Sequence[str]) -> list[str]:
    """Every tag of a version a change of these kinds leads to, sorted."""
    led_to = select(Change.to_version_id).where(col(Change.kind).in_(list(kinds)))
    query = select(Version.tags).where(col(Version.id).in_(led_to))
    found: set[str] = set()
    for tags in session.exec(query).all():
        found.update(tag for tag in tags or [] if isinstance(tag, str))
    return sorted(found)


# JSON API (feeds/api/): pages of items, the change log after a cursor, a source's
# checks, and the counts /metrics reports. Pages are keyed by id (ids only grow), never
# by OFFSET, so a page never shifts under inserts.


def item_page(
    session: Session,
    limit: int,
    before: int | None = None,
    text: str | None = None,
    source_id: int | None = None,
    tag: str | None = None,
    since: date | None = None,
    until: date | None = None,
    item_ids: Sequence[int] | None = None,
) -> Sequence[Row[Any]]:
    """Up to `limit` items with an id below `before` matching every filter, newest first,
    as plain rows.

    text: the current headline contains it, ignoring case (LIKE, % and _ escaped).
    tag: the item's latest version has exactly this tag.
    since/until (inclusive): the item's day is within them: its event date, or for an
    item without one the UTC day it was first seen.
    item_ids: only these items.
    """
    from sqlalchemy import and_, exists, func
    from sqlalchemy.orm import aliased

    query = select(columns(Item))
    if before is not None:
        query = query.where(col(Item.id) < before)
    if item_ids is not None:
        query = query.where(col(Item.id).in_(list(item_ids)))
    if source_id is not None:
        query = query.where(col(Item.id).in_(sighted_by(source_id)))
    if text:
        escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        query = query.where(col(Item.headline).ilike(f"%{escaped}%", escape="\\"))
    undated = col(Item.event_date).is_(None)
    if since is not None:
        midnight = datetime.combine(since, time(), UTC)
        query = query.where(
            or_(
                and_(~undated, col(Item.event_date) >= since),
                and_(undated, col(Item.first_seen_at) >= midnight),
            )
        )
    if until is not None:
        next_midnight = datetime.combine(until + timedelta(days=1), time(), UTC)
        query = query.where(
            or_(
                and_(~undated, col(Item.event_date) <= until),
                and_(undated, col(Item.first_seen_at) < next_midnight),
            )
        )
    if tag is not None:
        tagged, other = aliased(Version), aliased(Version)
        latest_n = (
            select(func.max(other.n)).where(other.item_id == tagged.item_id).scalar_subquery()
        )
        query = query.where(
            exists(
                select(tagged.id).where(
                    tagged.item_id == Item.id,
                    tagged.n == latest_n,
                    _json_array_has(session, tagged.tags, tag),
                )
            )
        )
    return plain_rows(session, query.order_by(col(Item.id).desc()).limit(limit))


def changes_after(session: Session, after: int, limit: int) -> Sequence[Row[Any]]:
    """Up to `limit` changes with an id above `after`, in recording (id) order, as plain
    rows."""
    query = select(columns(Change)).where(col(Change.id) > after)
    return plain_rows(session, query.order_by(col(Change.id)).limit(limit))


def changes_in_ranges(
    session: Session, ranges: Sequence[tuple[int, int]], limit: int
) -> Sequence[Row[Any]]:
    """Up to `limit` changes whose id is in any of these inclusive ranges, in id order, as
    plain rows."""
    if not ranges:
        return []
    within = or_(*(col(Change.id).between(lo, hi) for lo, hi in ranges))
    query = select(columns(Change)).where(within)
    return plain_rows(session, query.order_by(col(Change.id)).limit(limit))


def last_change_id(session: Session) -> int:
    """The highest change id recorded so far (0 when there is none)."""
    from sqlalchemy import func

    return int(session.exec(select(func.max(Change.id))).one() or 0)


def check_page(
    session: Session, source_id: int, limit: int, before: int | None = None
) -> Sequence[Row[Any]]:
    """Up to `limit` checks of the source with an id below `before`, newest first, as plain
    rows."""
    query = select(columns(Check)).where(Check.source_id == source_id)
    if before is not None:
        query = query.where(col(Check.id) < before)
    return plain_rows(session, query.order_by(col(Check.id).desc()).limit(limit))


def counts_by(session: Session, column: Any) -> dict[Any, int]:
    """How many rows have each value of the column (e.g. Check.outcome)."""
    from sqlalchemy import func

    query = select(column, func.count()).group_by(column)
    return {value: int(count) for value, count in session.exec(query).all()}


def count_rows(session: Session, model: type[SQLModel], *where: Any) -> int:
    """How many rows of the table match every condition."""
    from sqlalchemy import func

    return int(session.exec(select(func.count()).select_from(model).where(*where)).one())


def recent_check_times(session: Session, limit: int) -> list[tuple[datetime, datetime]]:
    """(started_at, finished_at) of the `limit` most recent checks, newest first."""
    query = select(Check.started_at, Check.finished_at).order_by(col(Check.id).desc()).limit(limit)
    return [(started, finished) for started, finished in session.exec(query).all()]


def check_seconds_total(session: Session) -> float:
    """The sum of finished_at - started_at over every check, in seconds (on SQLite to
    the millisecond per timestamp: its date functions keep no more)."""
    from sqlalchemy import func

    started, finished = col(Check.started_at), col(Check.finished_at)
    if session.get_bind().dialect.name == "sqlite":
        seconds = (func.julianday(finished) - func.julianday(started)) * 86400.0
    else:  # PostgreSQL
        seconds = func.extract("epoch", finished - started)
    return float(session.exec(select(func.coalesce(func.sum(seconds), 0.0))).one())


def last_check_finished(session: Session) -> datetime | None:
    """When the most recent check finished."""
    from sqlalchemy import func

    return _utc(session.exec(select(func.max(Check.finished_at))).one())


def archived_urls(session: Session, version_ids: Collection[int | None]) -> dict[int, str]:
    """version id -> its Wayback Machine copy, for those of these versions that have one
    (tracker/archive_links.py)."""
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
