"""Subscriptions: adding, listing and removing them, and keeping those of redline.toml's
[[notify]] tables in step with it.

A target is one of these kinds, told apart by its scheme (kinds.py; a target, name,
secret and rate are checked in entries.py before anything is stored):
- http:// or https://: a webhook. Each change is POSTed as JSON, signed with
  HMAC-SHA256 (see targets.py) with the subscription's secret.
- mastodon+https://ACCESS_TOKEN@instance: posts on Mastodon, a thread per item, with
  the picture of each edit (fediverse.py).
- bluesky+https://HANDLE:APP_PASSWORD@host: posts on Bluesky, the same way (bluesky.py).
- anything else: an Apprise URL (slack://, mailto://, ntfy://, matrix://, tgram://,
  json://, ...), sent through Apprise. Apprise's own https:// forms of a service's URL
  are webhooks here: use its scheme form.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import delete, func
from sqlmodel import Session, col, select

from storage import Delivery, Subscription, ThreadPost
from tracker.errors import UserError
from tracker.notify.entries import (
    NotifyEntry,
    check_name,
    check_per_minute,
    check_secret,
    check_target,
    redact,
)
from tracker.notify.filters import parse_filters
from tracker.notify.kinds import target_kind


def add_subscription(
    session: Session,
    target: str,
    filters: Mapping[str, Any] | None = None,
    name: str | None = None,
    secret: str | None = None,
    per_minute: object = None,
) -> Subscription:
    """A new subscription; a webhook without a secret is given a random one."""
    target = check_target(target)
    name = check_name(name)
    if (
        name is not None
        and session.exec(select(Subscription).where(col(Subscription.name) == name)).first()
    ):
        raise UserError(f"a subscription is named {name!r} already")
    secret = check_secret(secret, target)
    if secret is None and target_kind(target) == "webhook":
        secret = secrets.token_urlsafe(32)
    subscription = Subscription(
        name=name,
        target=target,
        secret=secret,
        filters=parse_filters(filters or {}),
        per_minute=check_per_minute(per_minute),
    )
    session.add(subscription)
    session.flush()
    return subscription


def find_subscription(session: Session, ref: str) -> Subscription:
    """By id or by name; a one-line UserError when there is none."""
    ref = str(ref).strip()
    if ref.isascii() and ref.isdigit() and len(ref) < 12:
        found = session.get(Subscription, int(ref))
    else:
        found = session.exec(select(Subscription).where(col(Subscription.name) == ref)).first()
    if found is None:
        raise UserError(f"no subscription {ref[:60]!r} (see `redline notify list`)")
    return found


def all_subscriptions(session: Session) -> Sequence[Subscription]:
    return session.exec(select(Subscription).order_by(col(Subscription.id))).all()


def remove_subscription(session: Session, subscription: Subscription) -> int:
    """Remove it and the deliveries it has not been sent yet or has sent; how many
    deliveries went with it."""
    removed = session.exec(  # type: ignore[call-overload]
        delete(Delivery).where(col(Delivery.subscription_id) == subscription.id)
    ).rowcount
    session.exec(  # type: ignore[call-overload]
        delete(ThreadPost).where(col(ThreadPost.subscription_id) == subscription.id)
    )
    session.delete(subscription)
    return int(removed or 0)


def sync_config(session: Session, entries: Sequence[NotifyEntry]) -> None:
    """Make the subscriptions from redline.toml what its [[notify]] tables say now: new
    names added, changed ones updated, names no longer there removed."""
    held = {
        sub.name: sub
        for sub in session.exec(select(Subscription).where(col(Subscription.from_config))).all()
    }
    for entry in entries:
        sub = held.pop(entry.name, None)
        if sub is None:
            clash = session.exec(
                select(Subscription).where(col(Subscription.name) == entry.name)
            ).first()
            if clash is not None:
                raise UserError(
                    f"[[notify]] {entry.name!r}: a subscription added with `redline notify "
                    "add` has that name; remove it or rename the table"
                )
            sub = Subscription(name=entry.name, target=entry.target, from_config=True)
        sub.target, sub.per_minute, sub.filters = entry.target, entry.per_minute, entry.filters
        sub.secret = entry.secret
        session.add(sub)
    for gone in held.values():
        remove_subscription(session, gone)
    session.flush()


def overview(
    session: Session, subs: Sequence[Subscription], default_per_minute: int
) -> list[dict[str, Any]]:
    """Each subscription as `redline notify list --json` and GET /api/notifications show
    it: its target without secrets, its filter, and its deliveries by state."""
    if not subs:
        return []
    theirs = col(Delivery.subscription_id).in_([sub.id for sub in subs])
    counted = {
        (sub_id, state): int(count)
        for sub_id, state, count in session.exec(
            select(Delivery.subscription_id, Delivery.state, func.count())
            .where(theirs)
            .group_by(col(Delivery.subscription_id), col(Delivery.state))
        ).all()
    }
    errors = {  # the newest error of a delivery not (yet) sent
        sub_id: error
        for sub_id, error in session.exec(
            select(Delivery.subscription_id, Delivery.last_error)
            .where(theirs, col(Delivery.last_error).is_not(None), col(Delivery.state) != "sent")
            .order_by(col(Delivery.id))
        ).all()
    }
    return [
        {
            "id": sub.id,
            "name": sub.name,
            "target": redact(sub.target),
            "kind": target_kind(sub.target),
            "filters": sub.filters,
            "per_minute": sub.per_minute or default_per_minute,
            "from_config": sub.from_config,
            "deliveries": {
                state: counted.get((sub.id or 0, state), 0) for state in ("pending", "sent", "dead")
            },
            "last_error": errors.get(sub.id or 0),
        }
        for sub in subs
    ]
