"""Database upkeep the daemon runs on a schedule: pruning old checks, planner statistics."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, exists
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from storage.models import Check, ItemMatch, Version

# Checks that found something stay: versions and identity decisions point at them.
PRUNABLE_OUTCOMES = ("unchanged", "not_modified")


def prune_checks(session: Session, before: datetime) -> int:
    """Delete checks that finished before `before` and found nothing new; how many."""
    referenced = exists(select(Version.id).where(Version.check_id == Check.id))
    matched = exists(select(ItemMatch.id).where(ItemMatch.check_id == Check.id))
    result = session.exec(  # type: ignore[call-overload]
        delete(Check).where(
            col(Check.finished_at) < before,
            col(Check.outcome).in_(PRUNABLE_OUTCOMES),
            ~referenced,
            ~matched,
        )
    )
    return int(result.rowcount or 0)


def refresh_statistics(engine: Engine) -> None:
    """Keep the query planner's statistics fresh; on SQLite also fold the WAL back."""
    with engine.connect() as connection:
        if engine.dialect.name == "sqlite":
            connection.exec_driver_sql("PRAGMA optimize")
            connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        else:
            connection.exec_driver_sql("ANALYZE")
        connection.commit()
