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

from tracker.errors import RedlineError, UserError
from tracker.run.config import (
    DEFAULT_AGING,
    INTERVAL_RULE,
    MAX_INTERVAL,
    MIN_INTERVAL,
    DaemonSettings,
)

DEFAULT_INTERVAL = timedelta(minutes=15)
# A server asking for more than this is asked again after this long.
MAX_RETRY_AFTER = timedelta(days=7)
# A cron line must fire within this long of being added (29 February: every 4 years).
CRON_HORIZON_YEARS = 5
# After this many errors in a row the doubled wait is past any ceiling; doubling further
# would only overflow a timedelta.
MAX_DOUBLINGS = 20


class ScheduleError(RedlineError):
    """A source's stored interval or cron line gives no next check (a row stored before
    they were checked when added). It is recorded as an error check of that source, so
    the round goes on; the source is then retried as after any error."""


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


def check_cron(line: str, now: datetime | None = None) -> str:
    """The cron line with its spaces normalised, if it parses and fires within
    CRON_HORIZON_YEARS; else a UserError."""
    line = " ".join(line.split())
    now = now or datetime.now(UTC)
    upcoming = cron_trigger(line).get_next_fire_time(None, now)
    if upcoming is None or upcoming > now + timedelta(days=366 * CRON_HORIZON_YEARS):
        raise UserError(
            f"the cron line {line!r} never fires in the next {CRON_HORIZON_YEARS} years "
            f"(31 February never comes): a cron line must fire within {CRON_HORIZON_YEARS} years"
        )
    return line


def interval_for(
    interval_seconds: int | None, listing: bool | None, item_age: timedelta | None, policy: Policy
) -> timedelta | None:
    """How long until the next check when all went well; None: the item has aged out."""
    if interval_seconds:  # 0, stored by old versions for "--every 0.5s", is the default
        if not MIN_INTERVAL.total_seconds() <= interval_seconds <= MAX_INTERVAL.total_seconds():
            raise ScheduleError(
                f"cannot schedule the next check: the source's interval of {interval_seconds} "
                f"seconds is out of range ({INTERVAL_RULE}); give the source another one"
            )
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
    """The next check of a source after one at `now` that failed `failures` times in a row.

    A stored interval or cron line that gives no next check is a ScheduleError when the
    check went well (the caller records it as this source's error); after an error the
    source is retried on the default interval's backoff, so it never stops being checked.
    """
    try:
        interval = interval_for(interval_seconds, listing, item_age, policy)
    except ScheduleError:
        if not failures:
            raise
        interval = policy.default_interval
    if interval is None and not cron:
        return Plan(None, f"aged out: no longer checked {_words(item_age)} after first seen")
    if failures:
        base = interval or policy.default_interval
        return Plan(now + _backoff(base, failures, retry_after, policy))
    if cron:
        return Plan(_cron_time(cron, now, policy.jitter))
    assert interval is not None
    return Plan(now + _jittered(interval, policy.jitter))


def _backoff(
    base: timedelta, failures: int, retry_after: timedelta | None, policy: Policy
) -> timedelta:
    """The wait after `failures` errors in a row: the interval doubled each time, up to
    max_backoff (or the interval, if longer; never past MAX_INTERVAL)."""
    ceiling = min(max(policy.max_backoff, base), MAX_INTERVAL)
    backoff = min(base * 2 ** min(failures, MAX_DOUBLINGS), ceiling)
    wait = _jittered(backoff, policy.jitter)
    if retry_after is not None:  # never sooner than the server asked
        wait = max(wait, min(retry_after, MAX_RETRY_AFTER))
    return wait


def _cron_time(line: str, now: datetime, jitter: float) -> datetime:
    """The cron line's next time after `now`, moved later by up to the jitter share of
    the gap to the time after it (never earlier than the line says)."""
    trigger = cron_trigger(line)
    upcoming = trigger.get_next_fire_time(None, now + timedelta(seconds=1))
    if upcoming is None:
        raise ScheduleError(
            f"cannot schedule the next check: the cron line {line!r} never fires again; "
            "give the source another one"
        )
    after = trigger.get_next_fire_time(upcoming, upcoming + timedelta(seconds=1))
    gap = (after - upcoming) if after else timedelta(0)
    return upcoming + gap * random.uniform(0, jitter)


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
    if days >= 2:
        return f"{days:.0f} days"
    hours = round(age.total_seconds() / 3600)
    return "1 hour" if hours == 1 else f"{hours} hours"
