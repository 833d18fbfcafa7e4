"""The outbox: the deliveries a check writes in the transaction that records its changes.

A change and the deliveries about it commit together or not at all, so a crash can
neither lose a notification nor send one about a change that was rolled back. Only
changes a check observes now are sent: an import's (history being filled in) and a
merge's are not news.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import insert
from sqlmodel import Session, col, select

from storage import Change, Delivery, Source, Subscription, utcnow
from tracker.notify.filters import Filter


def enqueue(
    session: Session,
    source: Source,
    recorded: Sequence[tuple[Change, Sequence[str] | None]],
) -> int:
    """Write a delivery for each (change, the item's tags) each enabled subscription
    wants; how many. The changes must have their ids (flushed). Deliveries are timed by
    the clock, not by the check's time (a replay's may be years ago): give_up_after
    counts from when they were written."""
    if not recorded:
        return 0
    wanted = filters_of_subscriptions(session)
    return write(
        session,
        [
            {"subscription_id": sub_id, "change_id": change.id, "item_id": change.item_id}
            for change, tags in recorded
            for sub_id, wants in wanted
            if wants.matches(change, source.site, tags)
        ],
    )


def any_pending(session: Session) -> bool:
    """Whether a delivery waits to be sent (a sending round would have work)."""
    pending = select(Delivery.id).where(col(Delivery.state) == "pending").limit(1)
    return session.exec(pending).first() is not None


def filters_of_subscriptions(session: Session) -> list[tuple[int, Filter]]:
    """(id, filter) of each enabled subscription."""
    rows = session.exec(
        select(Subscription.id, Subscription.filters).where(col(Subscription.enabled))
    ).all()
    return [(sub_id, Filter.from_stored(filters or {})) for sub_id, filters in rows if sub_id]


def write(session: Session, deliveries: list[dict[str, Any]]) -> int:
    """Insert these deliveries (each its subscription and its change or event), pending
    and due now, each with a key of its own; how many."""
    if not deliveries:
        return 0
    now = utcnow()
    rows = [
        {
            "key": str(uuid.uuid4()),
            "state": "pending",
            "attempts": 0,
            "created_at": now,
            "next_attempt_at": now,
            **delivery,
        }
        for delivery in deliveries
    ]
    session.connection().execute(insert(Delivery), rows)  # one executemany
    return len(rows)
