"""Reads and small writes that more than one caller needs. No business rules here."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlmodel import Session, col, or_, select

from storage.models import Change, Check, Item, ItemAlias, Source, Version


def source_by_url(session: Session, url: str) -> Source | None:
    return session.exec(select(Source).where(Source.url == url)).first()


def all_sources(session: Session) -> Sequence[Source]:
    return session.exec(select(Source).order_by(col(Source.id))).all()


def due_sources(session: Session, now: datetime) -> Sequence[Source]:
    """Enabled sources never checked or whose next check time has come, most overdue first."""
    query = (
        select(Source)
        .where(col(Source.enabled).is_(True))
        .where(or_(col(Source.next_check_at).is_(None), col(Source.next_check_at) <= now))
        .order_by(col(Source.next_check_at).is_(None).desc(), col(Source.next_check_at), Source.id)
    )
    return session.exec(query).all()


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


def add_alias(session: Session, item: Item, kind: str, value: str) -> bool:
    """Record an alias of the item unless its source already knows it; True if added."""
    assert item.id is not None
    exists = session.exec(
        select(ItemAlias.id).where(
            ItemAlias.source_id == item.source_id, ItemAlias.kind == kind, ItemAlias.value == value
        )
    ).first()
    if exists is not None:
        return False
    session.add(ItemAlias(item_id=item.id, source_id=item.source_id, kind=kind, value=value))
    session.flush()
    return True


def listed_items(session: Session, source_id: int) -> Sequence[Item]:
    """The source's items that have not been recorded as removed."""
    query = select(Item).where(Item.source_id == source_id, col(Item.removed_at).is_(None))
    return session.exec(query.order_by(col(Item.id))).all()


def all_items(session: Session) -> Sequence[Item]:
    return session.exec(select(Item).order_by(col(Item.id))).all()


def versions_of(session: Session, item_id: int) -> Sequence[Version]:
    query = select(Version).where(Version.item_id == item_id).order_by(col(Version.n))
    return session.exec(query).all()


def latest_version(session: Session, item_id: int) -> Version | None:
    query = select(Version).where(Version.item_id == item_id).order_by(col(Version.n).desc())
    return session.exec(query).first()


def changes_of(session: Session, item_id: int) -> Sequence[Change]:
    """The item's change log, oldest first."""
    return session.exec(
        select(Change).where(Change.item_id == item_id).order_by(col(Change.id))
    ).all()


def recent_changes(
    session: Session,
    kinds: Sequence[str],
    limit: int,
    source_id: int | None = None,
    item_id: int | None = None,
) -> Sequence[Change]:
    """The newest changes of these kinds first (newest = most recently recorded)."""
    query = select(Change).where(col(Change.kind).in_(list(kinds)))
    if source_id is not None:
        query = query.where(Change.source_id == source_id)
    if item_id is not None:
        query = query.where(Change.item_id == item_id)
    return session.exec(query.order_by(col(Change.id).desc()).limit(limit)).all()


def last_check(session: Session, source_id: int) -> Check | None:
    query = select(Check).where(Check.source_id == source_id).order_by(col(Check.id).desc())
    return session.exec(query).first()
