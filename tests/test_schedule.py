"""When sources are next checked: intervals, cron lines, aging, backoff, Retry-After."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tracker.errors import UserError
from tracker.run.config import DEFAULT_AGING, DaemonSettings, load_config
from tracker.run.schedule import (
    MAX_RETRY_AFTER,
    Policy,
    ScheduleError,
    check_cron,
    cron_trigger,
    interval_for,
    parse_retry_after,
    plan_next,
)

NOW = datetime(2026, 11, 21, 9, 40, tzinfo=UTC)
MINUTE, HOUR, DAY = timedelta(minutes=1), timedelta(hours=1), timedelta(days=1)
STILL = Policy(jitter=0.0)  # no jitter: exact times


def test_an_explicit_interval_wins_over_aging() -> None:
    assert interval_for(7200, listing=False, item_age=40 * DAY, policy=STILL) == 2 * HOUR


def test_listings_and_pages_not_yet_understood_use_the_default_interval() -> None:
    assert interval_for(None, listing=True, item_age=None, policy=STILL) == 15 * MINUTE
    assert interval_for(None, listing=None, item_age=None, policy=STILL) == 15 * MINUTE


@pytest.mark.parametrize(
    ("age", "every"),
    [
        (10 * MINUTE, 15 * MINUTE),
        (2 * HOUR + 59 * MINUTE, 15 * MINUTE),
        (3 * HOUR, HOUR),
        (23 * HOUR, HOUR),
        (2 * DAY, DAY),
        (29 * DAY, DAY),
    ],
)
def test_item_pages_are_checked_less_as_they_age(age: timedelta, every: timedelta) -> None:
    assert interval_for(None, listing=False, item_age=age, policy=STILL) == every
    assert plan_next(NOW, listing=False, item_age=age, policy=STILL).at == NOW + every


def test_an_item_page_past_the_last_age_is_retired() -> None:
    plan = plan_next(NOW, listing=False, item_age=31 * DAY, policy=STILL)
    assert plan.at is None
    assert plan.retire_reason == "aged out: no longer checked 31 days after first seen"
    # Aging off (an empty table): the default interval, for ever.
    no_aging = Policy(jitter=0.0, aging=())
    assert (
        plan_next(NOW, listing=False, item_age=400 * DAY, policy=no_aging).at == NOW + 15 * MINUTE
    )


def test_backoff_doubles_per_failure_up_to_the_ceiling() -> None:
    waits = [plan_next(NOW, failures=n, policy=STILL).at - NOW for n in range(1, 8)]  # type: ignore[operator]
    assert waits[:4] == [30 * MINUTE, HOUR, 2 * HOUR, 4 * HOUR]
    assert waits[4:] == [6 * HOUR] * 3  # the ceiling (max_backoff)
    # An interval longer than the ceiling is never shortened by it.
    assert plan_next(NOW, interval_seconds=86400, failures=3, policy=STILL).at == NOW + DAY


def test_backoff_after_many_errors_in_a_row_stays_at_the_ceiling() -> None:
    """15 minutes doubled 40 times is more than a timedelta holds: the ceiling, not an
    OverflowError that would end the round."""
    for failures in (40, 1000):
        assert plan_next(NOW, failures=failures, policy=STILL).at == NOW + 6 * HOUR
    huge = Policy(jitter=0.0, max_backoff=timedelta(days=99999999))
    assert plan_next(NOW, failures=3, policy=huge).at == NOW + 2 * HOUR
    assert plan_next(NOW, failures=1000, policy=huge).at == NOW + 366 * DAY


@pytest.mark.parametrize("seconds", [99999999 * 86400, 2**31 - 1, 366 * 86400 + 1, 59, -60])
def test_a_stored_interval_out_of_range_cannot_be_scheduled(seconds: int) -> None:
    """A row stored before intervals were checked: an error to record when the check went
    well, and after an error the default interval's backoff (never an OverflowError)."""
    with pytest.raises(ScheduleError, match=f"interval of {seconds} seconds is out of range"):
        plan_next(NOW, interval_seconds=seconds, policy=STILL)
    assert (
        plan_next(NOW, interval_seconds=seconds, failures=1, policy=STILL).at == NOW + 30 * MINUTE
    )


def test_a_stored_cron_line_that_never_fires_cannot_be_scheduled() -> None:
    with pytest.raises(ScheduleError, match="'0 0 31 2 \\*' never fires again"):
        plan_next(NOW, cron="0 0 31 2 *", policy=STILL)
    assert plan_next(NOW, cron="0 0 31 2 *", failures=2, policy=STILL).at == NOW + HOUR


def test_a_cron_line_must_fire_within_five_years() -> None:
    assert check_cron("  0  0 29 2 *", now=NOW) == "0 0 29 2 *"  # leap days: 2028
    for never in ("0 0 31 2 *", "0 0 30 2 *", "0 0 31 4,6,9,11 *"):
        with pytest.raises(UserError, match="never fires in the next 5 years"):
            check_cron(never, now=NOW)
    with pytest.raises(UserError, match="not a cron line"):
        check_cron("every hour")


def test_retry_after_is_never_undercut_and_is_capped() -> None:
    jittery = Policy(jitter=0.5)
    for _ in range(50):
        plan = plan_next(NOW, failures=1, retry_after=5 * HOUR, policy=jittery)
        assert plan.at is not None and plan.at >= NOW + 5 * HOUR
    plan = plan_next(NOW, failures=1, retry_after=365 * DAY, policy=STILL)
    assert plan.at == NOW + MAX_RETRY_AFTER
    # A Retry-After shorter than the backoff changes nothing.
    assert plan_next(NOW, failures=2, retry_after=MINUTE, policy=STILL).at == NOW + HOUR


def test_jitter_stays_within_its_share_and_spreads() -> None:
    policy = Policy(jitter=0.1)
    times = {plan_next(NOW, policy=policy).at for _ in range(200)}
    assert all(NOW + 13.5 * MINUTE <= t <= NOW + 16.5 * MINUTE for t in times)  # type: ignore[operator]
    assert len(times) > 150


def test_cron_lines_give_the_next_time_strictly_after_the_check() -> None:
    plan = plan_next(NOW, cron="0 * * * *", policy=STILL)
    assert plan.at == datetime(2026, 11, 21, 10, 0, tzinfo=UTC)
    on_the_hour = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)
    assert plan_next(on_the_hour, cron="0 * * * *", policy=STILL).at == on_the_hour + HOUR
    # Weekdays only: Saturday 21 November goes to Monday 06:00.
    assert plan_next(NOW, cron="0 6 * * mon-fri", policy=STILL).at == datetime(
        2026, 11, 23, 6, 0, tzinfo=UTC
    )
    # Jitter only ever delays, by at most its share of the gap to the following time.
    for _ in range(50):
        at = plan_next(NOW, cron="*/30 * * * *", policy=Policy(jitter=0.1)).at
        assert at is not None and NOW + 20 * MINUTE <= at <= NOW + 23 * MINUTE


def test_a_bad_cron_line_is_a_clear_error() -> None:
    with pytest.raises(UserError, match=r"not a cron line: 'every hour'.*example"):
        cron_trigger("every hour")
    with pytest.raises(UserError, match="not a cron line"):
        cron_trigger("61 * * * *")


def test_retry_after_as_seconds_or_date() -> None:
    assert parse_retry_after("120", NOW) == 2 * MINUTE
    assert parse_retry_after("Sat, 21 Nov 2026 11:40:00 GMT", NOW) == 2 * HOUR
    assert parse_retry_after("Sat, 21 Nov 2026 08:00:00 GMT", NOW) == timedelta(0)  # past
    assert parse_retry_after("9" * 40, NOW) == MAX_RETRY_AFTER
    for bad in (None, "", "soon", "-5", "²"):
        assert parse_retry_after(bad, NOW) is None


def test_daemon_settings_from_redline_toml(tmp_path: Path) -> None:
    path = tmp_path / "redline.toml"
    path.write_text(
        '[daemon]\nconcurrency = 8\nper_host = 2\nhost_delay = "0"\nlease = "30s"\n'
        'failing_after = 5\nmax_backoff = "1d"\njitter = 0.25\n'
        'aging = { "1d" = "30m", "7d" = "6h" }\ncheck_retention = "90d"\n'
        'log_level = "debug"\nlog_format = "json"\n'
    )
    settings = load_config(path).daemon
    assert settings == DaemonSettings(
        concurrency=8,
        per_host=2,
        host_delay=timedelta(0),
        lease=30 * timedelta(seconds=1),
        failing_after=5,
        max_backoff=DAY,
        jitter=0.25,
        aging=((DAY, 30 * MINUTE), (7 * DAY, 6 * HOUR)),
        check_retention=90 * DAY,
        log_level="DEBUG",
        log_format="json",
    )
    assert load_config(_write(tmp_path, "")).daemon.aging == DEFAULT_AGING


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("concurency = 4", "unknown [daemon] setting 'concurency'"),
        ("concurrency = 0", "concurrency must be a whole number >= 1"),
        ("per_host = 1.5", "per_host must be a whole number >= 1"),
        ("jitter = 1", "jitter is a fraction from 0 to below 1"),
        ('lease = "soon"', "not a duration: 'soon'"),
        ('log_level = "loud"', "log_level is one of DEBUG, INFO, WARNING, ERROR"),
        ('log_format = "xml"', "log_format is text or json"),
        ('aging = "3h"', "aging is a table like"),
    ],
)
def test_bad_daemon_settings_name_themselves(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(UserError, match=message.replace("[", r"\[").replace("(", r"\(")):
        load_config(_write(tmp_path, f"[daemon]\n{text}\n"))


def test_a_daemon_setting_that_is_no_table_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"\[daemon\] is a table"):
        load_config(_write(tmp_path, "daemon = 3\n"))


def _write(folder: Path, text: str) -> Path:
    path = folder / "redline.toml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('evry = "1h"', "unknown setting 'evry' (known: archive, daemon,"),
        ("[database]\npool = 3", "unknown [database] setting 'pool' (known: max_overflow,"),
        ('[feed]\nauthorty = "a.org"', "unknown [feed] setting 'authorty' (known: authority)"),
        ("[serve]\nprot = 8000", "unknown [serve] setting 'prot' (known: forwarded_allow_ips,"),
        (
            '[[source]]\nurl = "https://a.example/feed.xml"\nevry = "1h"',
            "[[source]] number 1: unknown setting 'evry' (known: cron,",
        ),
        ("serve = 3", "[serve] is a table"),
    ],
)
def test_a_misspelt_setting_anywhere_is_one_line_not_ignored(
    tmp_path: Path, text: str, message: str
) -> None:
    """A key redline does not know would be a setting silently not applied."""
    with pytest.raises(UserError) as raised:
        load_config(_write(tmp_path, text + "\n"))
    assert message in str(raised.value)
    assert "\n" not in str(raised.value)
