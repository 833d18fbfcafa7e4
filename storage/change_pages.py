"""Pages of the change log: under the feeds' filters (kind, source, item, tag, class,
field), newest first, with the states their ETags are made of (read without loading the
page); after a cursor, in recording order, for the JSON API; and the tags changes lead to.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy.engine import Row
from sqlmodel import Session, col, or_, select

from storage.models import Change, Item, Source, Version
from storage.queries import _all, _json_array_has, _select, columns, plain_rows, sighted_by
from storage.types import stored_time

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


def _change_filters(
    session: Session,
    kinds: Sequence[str],
    item_id: int | None = None,
    tag: str | None = None,
    classification: Classes = None,
    field: str | None = None,
) -> list:
    """WHERE clauses for changes of these kinds matching every filter given (a source's
    are _page_ids' own).

    tag: the version the change leads to (to_version; for a change without one, the
    item's latest version) has the tag, so a change's tags are fixed when it is recorded.
    """
    from sqlalchemy import exists, func
    from sqlalchemy.orm import aliased

    clauses = [col(Change.kind).in_(list(kinds))]
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
    where = _page_where(
        session, kinds, limit, before, source_id, item_id, tag, classification, field
    )
    query = _select(Change, plain).where(*where).order_by(col(Change.id).desc()).limit(limit)
    return _all(session, query, plain)


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

    where = _page_where(
        session, kinds, limit, before, source_id, item_id, tag, classification, field
    )
    page = _page_window(where, limit)
    count, newest, latest = session.exec(
        select(func.count(), func.max(page.c.id), func.max(page.c.at))
    ).one()
    return int(count), newest, latest


def _page_window(where: list, limit: int) -> Any:
    """The page _page_where's clauses make, as a subquery of (id, at: when each change was
    written), for counting it."""
    from sqlalchemy import func

    written = func.coalesce(col(Change.stored_at), col(Change.recorded_at))
    window = select(col(Change.id).label("id"), written.label("at")).where(*where)
    return window.order_by(col(Change.id).desc()).limit(limit).subquery()


def _page_where(
    session: Session,
    kinds: Sequence[str],
    limit: int,
    before: int | None,
    source_id: int | None,
    item_id: int | None,
    tag: str | None,
    classification: Classes,
    field: str | None,
) -> list:
    """WHERE clauses that make change_page's page once ordered newest first and cut to
    `limit`: the filters, and for a source, its page's ids.

    A source's changes are its own removals and restorations, and every edit of the items
    it shows, whichever source of the site saw the edit first. Asked in one WHERE with an
    OR, the databases gathered every match and sorted it (SQLite, a big source) or walked
    the whole change log backwards (PostgreSQL, a small one): 0.2-0.6 s a page on a
    million changes (bench/RESULTS.md, hot queries). So each half is its own newest
    `limit`, by its own index, and the page is the newest `limit` of both."""
    from sqlalchemy import union

    filters = _change_filters(session, kinds, item_id, tag, classification, field)
    if before is not None:
        filters.append(col(Change.id) < before)
    if source_id is None:
        return filters

    def newest(*where: Any) -> Any:
        query = select(col(Change.id).label("id")).where(*filters, *where)
        return query.order_by(col(Change.id).desc()).limit(limit).subquery()

    own = newest(Change.source_id == source_id)
    sighted = newest(
        col(Change.kind).not_in(LISTING_EVENTS), col(Change.item_id).in_(sighted_by(source_id))
    )
    both = union(select(own.c.id), select(sighted.c.id)).subquery()
    return [col(Change.id).in_(select(both.c.id))]


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

    where = _page_where(
        session, kinds, limit, before, source_id, item_id, tag, classification, field
    )
    page = _page_window(where, limit)
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
        current_observed_at=stored_time(current_at),
    )


def change_tags(session: Session, kinds: Sequence[str]) -> list[str]:
    """Every tag of a version a change of these kinds leads to, sorted."""
    led_to = select(Change.to_version_id).where(col(Change.kind).in_(list(kinds)))
    query = select(Version.tags).where(col(Version.id).in_(led_to))
    found: set[str] = set()
    for tags in session.exec(query).all():
        found.update(tag for tag in tags or [] if isinstance(tag, str))
    return sorted(found)


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
