"""When a source is due: the SQL conditions, on any holder of the source table's columns,
and the reads that tell `redline check` it has nothing to do.

The conditions take the columns as an argument: the ORM's Source (storage/source_queries.py,
the daemon's claims, `redline status`) or the light Core table below. The light tables
name only the columns read here; tests/test_due.py checks them against the models. They
exist so that a check with nothing to do (a cron job's usual answer) reads the database
with SQLAlchemy Core alone: importing the ORM and the models (sqlmodel, pydantic) costs
a command more than 0.15 s, half of its start-up.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, String, and_, column, exists, or_, select, table
from sqlalchemy.engine import Engine

from storage.types import UTCDateTime

SOURCE = table(
    "source",
    column("enabled", Boolean),
    column("retired_at", UTCDateTime()),
    column("next_check_at", UTCDateTime()),
    column("lease_until", UTCDateTime()),
    column("leased_by", String),
)
DELIVERY = table("delivery", column("state", String))
SUBSCRIPTION = table("subscription", column("from_config", Boolean))


def active(source: Any) -> Any:
    """SQL: the source is checked at all (enabled and not retired)."""
    return and_(source.enabled.is_(True), source.retired_at.is_(None))


def due(source: Any, at: datetime) -> Any:
    """SQL: the source is active and never checked or due at `at`."""
    return and_(active(source), or_(source.next_check_at.is_(None), source.next_check_at <= at))


def unleased(source: Any, clock: datetime) -> Any:
    """SQL: no worker holds a live lease on the source at `clock`."""
    return or_(source.lease_until.is_(None), source.lease_until <= clock)


def nothing_to_do(engine: Engine, now: datetime) -> bool:
    """Whether a round at `now` has nothing to check and nothing to tell: no source is
    due (leased or not: a lease held elsewhere is worth a line) and no delivery waits to
    be sent. One statement."""
    query = select(
        exists().where(due(SOURCE.c, now)),
        exists().where(DELIVERY.c.state == "pending"),
    )
    with engine.connect() as connection:
        any_due, any_pending = connection.execute(query).one()
    return not any_due and not any_pending


def any_from_config(engine: Engine) -> bool:
    """Whether a subscription made from redline.toml's [[notify]] tables is stored (one
    that a configuration file without them would remove)."""
    query = select(exists().where(SUBSCRIPTION.c.from_config.is_(True)))
    with engine.connect() as connection:
        return bool(connection.execute(query).scalar())
