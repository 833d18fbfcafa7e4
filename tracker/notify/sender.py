"""Sending the outbox: the daemon's rounds over due deliveries.

Each round reads the pending deliveries in id order and takes, for each subscription and
item, only the first (so one item's notifications arrive in order, a later one waiting
while an earlier one is retried), as many as each subscription's rate allows. It claims
them (several daemons may share a PostgreSQL database), sends each subscription's on a
thread of its own (a slow target holds up only itself, and never a check), and records
each outcome: sent; or tried again later, after 30 s, 1 min, 2 min, ... up to an hour
(or when the target's Retry-After says); or, once the delivery is older than
give_up_after, given up ("dead", shown by `redline status` and `redline notify list`).

At least once: a sender killed after sending but before recording leaves its claim to
expire ([notifications] claim, 2 minutes), and the delivery is sent again with the
same id.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import httpx
from sqlalchemy import or_, update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from storage import Delivery, Subscription, transaction, utcnow
from tracker.notify import message as messages
from tracker.notify import outbox, targets
from tracker.notify.kinds import target_kind
from tracker.notify.settings import NotifySettings

log = logging.getLogger("redline.notify")

FIRST_RETRY = timedelta(seconds=30)
LONGEST_RETRY = timedelta(hours=1)
BATCH = 500  # pending deliveries one round reads


@dataclass
class RoundStats:
    sent: int = 0
    failed: int = 0  # to be tried again
    dead: int = 0

    def add(self, other: RoundStats) -> None:
        self.sent, self.failed, self.dead = (
            self.sent + other.sent,
            self.failed + other.failed,
            self.dead + other.dead,
        )


class RateLimits:
    """A token bucket per subscription: `per_minute` a minute, bursts up to per_minute."""

    def __init__(self) -> None:
        self.buckets: dict[int, tuple[float, float]] = {}  # id -> (tokens, at)
        self.lock = threading.Lock()

    def take(self, key: int, per_minute: int, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        with self.lock:
            tokens, at = self.buckets.get(key, (float(per_minute), now))
            tokens = min(float(per_minute), tokens + (now - at) * per_minute / 60)
            if tokens < 1:
                self.buckets[key] = (tokens, now)
                return False
            self.buckets[key] = (tokens - 1, now)
            return True


def backoff(attempts: int) -> timedelta:
    """The wait after the attempts-th failure: 30 s, 1 min, 2 min, ... at most an hour."""
    return min(FIRST_RETRY * 2 ** max(0, min(attempts - 1, 20)), LONGEST_RETRY)


@dataclass
class Sender:
    engine: Engine
    settings: NotifySettings = field(default_factory=NotifySettings)
    worker: str = "redline"
    public_url: str | None = None
    limits: RateLimits = field(default_factory=RateLimits)
    client: httpx.Client | None = None

    def __post_init__(self) -> None:
        self.client = self.client or targets.make_client()
        self.pool = ThreadPoolExecutor(self.settings.senders, thread_name_prefix="notify")
        self._round = threading.Lock()
        self.closed = False
        # Subscriptions whose deliveries are being sent: a later round leaves them alone,
        # so a slow target holds up only itself.
        self.busy: set[int] = set()
        self._busy_lock = threading.Lock()

    def close(self) -> None:
        """Stop: the sends under way finish (each bounded by its timeout)."""
        self.closed = True
        with self._round:
            self.pool.shutdown(wait=True)
        assert self.client is not None
        self.client.close()

    def run_round(self, wait: bool = True) -> RoundStats:
        """One round: claim what is due now and send it, each subscription's on a thread
        of the pool; with wait, what happened (the daemon does not wait: a subscription
        still sending is left out of its next rounds, the others go on)."""
        if self.closed or not self._round.acquire(blocking=False):
            return RoundStats()  # stopped, or another round is claiming
        try:
            claimed, subscriptions = self._claim(utcnow())
            by_subscription: dict[int, list[Delivery]] = defaultdict(list)
            for delivery in claimed:
                by_subscription[delivery.subscription_id].append(delivery)
            futures = []
            for sub_id, deliveries in by_subscription.items():
                with self._busy_lock:
                    self.busy.add(sub_id)
                future = self.pool.submit(self._send_all, subscriptions[sub_id], deliveries)
                future.add_done_callback(lambda _, done=sub_id: self._free(done))
                futures.append(future)
        finally:
            self._round.release()
        stats = RoundStats()
        for future in futures if wait else []:
            stats.add(future.result())
        return stats

    def _free(self, sub_id: int) -> None:
        with self._busy_lock:
            self.busy.discard(sub_id)

    def _claim(self, now: datetime) -> tuple[list[Delivery], dict[int, Subscription]]:
        with Session(self.engine, expire_on_commit=False) as session:
            subscriptions = {
                sub.id: sub
                for sub in session.exec(select(Subscription).where(col(Subscription.enabled)))
                if sub.id is not None
            }
            pending = session.exec(
                select(
                    Delivery.id,
                    Delivery.subscription_id,
                    Delivery.item_id,
                    Delivery.next_attempt_at,
                    Delivery.claimed_until,
                )
                .where(col(Delivery.state) == "pending")
                .order_by(col(Delivery.id))
                .limit(BATCH)
            ).all()
        chosen, waiting = [], set()
        for delivery_id, sub_id, item_id, due, claimed_until in pending:
            if (sub_id, item_id) in waiting:
                continue  # an earlier one about this item goes first
            waiting.add((sub_id, item_id))
            sub = subscriptions.get(sub_id)
            if sub is None or sub_id in self.busy or due > now:
                continue
            if claimed_until is not None and claimed_until > now:
                continue  # another sender has it
            if self.limits.take(sub_id, sub.per_minute or self.settings.per_minute):
                chosen.append(delivery_id)
        if not chosen:
            return [], subscriptions
        token = f"{self.worker}/{uuid.uuid4().hex[:12]}"
        with transaction(self.engine) as session:
            session.exec(  # type: ignore[call-overload]
                update(Delivery)
                .where(
                    col(Delivery.id).in_(chosen),
                    col(Delivery.state) == "pending",
                    or_(col(Delivery.claimed_until).is_(None), col(Delivery.claimed_until) <= now),
                )
                .values(claimed_by=token, claimed_until=now + self.settings.claim)
                .execution_options(synchronize_session=False)
            )
        with Session(self.engine, expire_on_commit=False) as session:
            claimed = session.exec(
                select(Delivery).where(col(Delivery.claimed_by) == token).order_by(col(Delivery.id))
            ).all()
        return list(claimed), subscriptions

    def _send_all(self, sub: Subscription, deliveries: list[Delivery]) -> RoundStats:
        stats = RoundStats()
        for delivery in deliveries:
            try:
                outcome = self._send(sub, delivery)
            except Exception as error:  # a bug or a library's surprise: recorded, retried
                log.exception("sending delivery %s failed", delivery.id)
                outcome = targets.Outcome(False, targets.short(f"{type(error).__name__}: {error}"))
            state = self._record(delivery, outcome)
            setattr(stats, state, getattr(stats, state) + 1)
        return stats

    def _send(self, sub: Subscription, delivery: Delivery) -> targets.Outcome:
        with Session(self.engine) as session:
            if delivery.change_id is None:  # a source's health alert
                message = messages.health(session, delivery.event or {}, self.public_url)
            else:
                message = messages.compose(session, delivery.change_id, self.public_url)
        if message is None:
            # A merge wrote the item's change log anew: this change is no more.
            return targets.Outcome(False, "the change is no longer stored", gone=True)
        return send(self.engine, self.client, sub, delivery.key, message, delivery.created_at)

    def _record(self, delivery: Delivery, outcome: targets.Outcome) -> str:
        """Store the outcome: "sent", "failed" (tried again later) or "dead"."""
        now = utcnow()
        attempts = delivery.attempts + 1
        values: dict[str, object] = {
            "attempts": attempts,
            "claimed_by": None,
            "claimed_until": None,
        }
        if outcome.ok:
            state = "sent"
            values |= {"state": "sent", "sent_at": now, "last_error": None}
        elif outcome.gone or now - delivery.created_at >= self.settings.give_up_after:
            state = "dead"
            values |= {"state": "dead", "last_error": outcome.error}
        else:
            state = "failed"
            wait = backoff(attempts)
            if outcome.retry_after is not None:
                wait = max(wait, timedelta(seconds=outcome.retry_after))
            values |= {"next_attempt_at": now + wait, "last_error": outcome.error}
        with transaction(self.engine) as session:
            session.exec(  # type: ignore[call-overload]
                update(Delivery)
                .where(
                    col(Delivery.id) == delivery.id, col(Delivery.claimed_by) == delivery.claimed_by
                )
                .values(values)
                .execution_options(synchronize_session=False)
            )
        level = logging.INFO if outcome.ok else logging.WARNING
        fields = {
            "delivery": delivery.key,
            "subscription": delivery.subscription_id,
            "change": delivery.change_id,
            "outcome": state,
            "attempts": attempts,
        }
        if outcome.error:
            fields["error"] = outcome.error
        log.log(level, "notification", extra={"fields": fields})
        return state


def send(
    engine: Engine,
    client: httpx.Client | None,
    sub: Subscription,
    delivery: str,
    message: messages.Message,
    created: datetime | None = None,
) -> targets.Outcome:
    """Send one message to the subscription's target (client: for webhooks; None: one of
    its own). created: when the delivery was written (a Bluesky post's key is made of it)."""
    kind = target_kind(sub.target)
    if kind == "mastodon":
        from tracker.notify import fediverse

        return fediverse.post(engine, sub, delivery, message)
    if kind == "bluesky":
        from tracker.notify import bluesky

        return bluesky.post(engine, sub, delivery, message, created)
    if kind == "webhook":
        if client is None:
            with targets.make_client() as own:
                return targets.send_webhook(own, sub.target, sub.secret, delivery, message)
        return targets.send_webhook(client, sub.target, sub.secret, delivery, message)
    return targets.send_apprise(sub.target, message)


def send_due(
    engine: Engine,
    settings: NotifySettings,
    worker: str,
    public_url: str | None,
    budget: timedelta = timedelta(seconds=30),
) -> RoundStats | None:
    """Send what is due now, round after round while rounds send something, for up to
    `budget` (`redline check` and `redline notify send`); None if nothing was pending."""
    with Session(engine) as session:
        if not outbox.any_pending(session):
            return None
    total = RoundStats()
    deadline = time.monotonic() + budget.total_seconds()
    sender = Sender(engine, settings, worker, public_url)
    try:
        while time.monotonic() < deadline:
            done = sender.run_round()
            total.add(done)
            if not done.sent:
                break  # nothing more is due (or the rest waits for a retry or a rate)
    finally:
        sender.close()
    return total
