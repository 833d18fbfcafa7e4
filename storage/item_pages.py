"""Pages of items for the JSON API (id-keyed, under text, source, tag and date filters),
and the states an item's ETags are made of: its history's and its aliases' counts and
newest ids, each read in one statement.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy.engine import Row
from sqlmodel import Session, col, or_, select

from storage.models import Change, Item, ItemAlias, Version
from storage.queries import _json_array_has, columns, plain_rows, sighted_by

# JSON API (feeds/api/): pages are keyed by id (ids only grow), never by OFFSET, so a
# page never shifts under inserts (so are the change log's and a source's checks').


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
