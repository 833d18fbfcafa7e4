"""When a source is next checked.

A source is checked every interval (its own --every, else the daemon's default) or at
the times of its cron line. An item page without either is checked often while its
item is young and less as it ages, then no more (the aging steps), so a tracker of
item pages does not grow without bound. After errors the wait doubles up to a
ceiling, and a server's Retry-After is honoured. Every time moves by a little jitter
so sources added together spread out.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

from apscheduler.triggers.cron import CronTrigger

from tracker.config import DEFAULT_AGING, DaemonSettings
from tracker.errors import UserError

DEFAULT_INTERVAL = timedelta(minutes=15)
# A server asking for more than this is asked again after this long.
MAX_RETRY_AFTER = timedelta(days=7)


@dataclass(frozen=True)
class Policy:
    default_interval: timedelta = DEFAULT_INTERVAL
    jitter: float = 0.1
    max_backoff: timedelta = timedelta(hours=6)
    aging: tuple[tuple[timedelta, timedelta], ...] = DEFAULT_AGING

    @classmethod
    def from_settings(cls, settings: DaemonSettings, default_interval: timedelta) -> Policy:
        return cls(default_interval, settings.jitter, settings.max_backoff, settings.aging)


@dataclass(frozen=True)
class Plan:
    """The next check (None: none) and, when there is none, why."""

    at: datetime | None
    retire_reason: str | None = None


def cron_trigger(line: str) -> CronTrigger:
    """A crontab line (minute hour day month weekday, in UTC), or a UserError."""
    try:
        return CronTrigger.from_crontab(line.strip(), timezone=UTC)
    except ValueError as error:
        raise UserError(
            f"not a cron line: {line!r} ({error}); example: '*/30 6-22 * * *' "
            "(every 30 minutes from 06:00 to 22:59 UTC)"
        ) from None


def interval_for(
    interval_seconds: int | None, listing: bool | None, item_age: timedelta | None, policy: Policy
) -> timedelta | None:
    """How long until the next check when all went well; None: the item has aged out."""
    if interval_seconds:
        return timedelta(seconds=interval_seconds)
    if listing is not False or item_age is None or not policy.aging:
        return policy.default_interval  # listings, and pages not understood yet
    for age_under, every in policy.aging:
        if item_age < age_under:
            return every
    return None


def plan_next(
    now: datetime,
    *,
    interval_seconds: int | None = None,
    cron: str | None = None,
    listing: bool | None = None,
    item_age: timedelta | None = None,
    failures: int = 0,
    retry_after: timedelta | None = None,
    policy: Policy = Policy(),  # noqa: B008  (frozen: a shared default is safe)
) -> Plan:
    """The next check of a source after one at `now` that failed `failures` times in a row."""
    interval = interval_for(interval_seconds, listing, item_age, policy)
    if interval is None and not cron:
        return Plan(None, f"aged out: no longer checked {_words(item_age)} after first seen")
    if failures:
        base = interval or policy.default_interval
        backoff = min(base * 2**failures, max(policy.max_backoff, base))
        wait = _jittered(backoff, policy.jitter)
        if retry_after is not None:  # never sooner than the server asked
            wait = max(wait, min(retry_after, MAX_RETRY_AFTER))
        return Plan(now + wait)
    if cron:
        trigger = cron_trigger(cron)
        upcoming = trigger.get_next_fire_time(None, now + timedelta(seconds=1))
        assert upcoming is not None
        after = trigger.get_next_fire_time(upcoming, upcoming + timedelta(seconds=1))
        gap = (after - upcoming) if after else timedelta(0)
        # Only later, never earlier than the line says: up to the jitter share of the gap.
        return Plan(upcoming + gap * random.uniform(0, policy.jitter))
    assert interval is not None
    return Plan(now + _jittered(interval, policy.jitter))


def parse_retry_after(value: str | None, now: datetime) -> timedelta | None:
    """Retry-After as seconds or as an HTTP date (RFC 9110 10.2.3); None if absent or bad."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        try:
            return timedelta(seconds=int(value))
        except OverflowError:  # more seconds than a timedelta holds: as good as never
            return MAX_RETRY_AFTER
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(when - now, timedelta(0))


def _jittered(interval: timedelta, jitter: float) -> timedelta:
    return interval * (1 + random.uniform(-jitter, jitter))


def _words(age: timedelta | None) -> str:
    if age is None:
        return "long"
    days = age.total_seconds() / 86400
    return f"{days:.0f} days" if days >= 2 else f"{age.total_seconds() / 3600:.0f} hours"
