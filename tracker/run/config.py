"""Configuration: redline.toml, environment variables and durations like "15m"."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from tracker.errors import UserError
from tracker.fetch.addresses import AddressPolicy, parse_networks
from tracker.notify.settings import NotifySettings
from tracker.tuning import BY_CONFIG_KEY

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str, allow_zero: bool = False) -> timedelta:
    """ "90", "90s", "15m", "1.5h", "2d" as a timedelta (a bare number is seconds)."""
    match = _DURATION.match(str(text).lower())
    if not match or float(match.group(1)) < 0 or (float(match.group(1)) == 0 and not allow_zero):
        raise UserError(f"not a duration: {text!r} (examples: 30s, 15m, 1h, 1d)")
    return timedelta(seconds=float(match.group(1)) * _UNIT_SECONDS[match.group(2)])


# How often a source may be checked: the one place these limits live. Below a minute is
# unkind to the server; past a year is no schedule (and far enough, no date at all).
MIN_INTERVAL = timedelta(minutes=1)
MAX_INTERVAL = timedelta(days=366)
INTERVAL_RULE = "from 1m to 366d, such as 30m, 6h or 1d; a bare number is seconds"


def parse_interval(text: object) -> timedelta:
    """A check interval ("30m", "6h", "1d", or seconds) from MIN_INTERVAL to MAX_INTERVAL;
    anything else, zero and fractions of the minimum included, is a UserError."""
    match = _DURATION.match(str(text).lower())
    if match:
        seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        if MIN_INTERVAL.total_seconds() <= seconds <= MAX_INTERVAL.total_seconds():
            return timedelta(seconds=seconds)
    shown = str(text) if len(str(text)) <= 40 else str(text)[:40] + "..."
    raise UserError(f"not a check interval: {shown!r} ({INTERVAL_RULE})")


@dataclass
class SourceConfig:
    url: str
    kind: str = "auto"
    name: str | None = None
    every: timedelta | None = None
    cron: str | None = None
    site: str | None = None
    options: dict[str, Any] = field(default_factory=dict)  # "ignore": noise patterns


# Item pages are re-checked often while young, then less, then not at all: (age under,
# check every). An item older than the last age is no longer checked.
DEFAULT_AGING = (
    (timedelta(hours=3), timedelta(minutes=15)),
    (timedelta(days=1), timedelta(hours=1)),
    (timedelta(days=30), timedelta(days=1)),
)


@dataclass
class DaemonSettings:
    """[daemon]: how `redline run` schedules, spreads and reports its checks."""

    concurrency: int = 4  # checks in flight at once, in all
    per_host: int = 1  # checks in flight at once against one host
    host_delay: timedelta = timedelta(seconds=1)  # from one request to a host to the next
    lease: timedelta = timedelta(minutes=2)  # a claim on a source lasts this long unrenewed
    failing_after: int = 3  # consecutive errors before a source is reported as failing
    max_backoff: timedelta = timedelta(hours=6)  # the longest wait after repeated errors
    jitter: float = 0.1  # each next check moves by up to this fraction of its interval
    aging: tuple[tuple[timedelta, timedelta], ...] = DEFAULT_AGING
    check_retention: timedelta = timedelta(days=30)  # checks that found nothing new
    stop_grace: timedelta = timedelta(seconds=10)  # on SIGTERM, wait this long for checks
    log_level: str = "INFO"
    log_format: str = "text"  # text (key=value) or json


@dataclass
class ArchiveSettings:
    """[archive]: ask the Wayback Machine's Save Page Now for each new version of an item
    page (tracker/run/archive_links.py, tracker/run/wayback.py). Off unless enabled."""

    enabled: bool = False
    endpoint: str = "https://web.archive.org"  # another for a stand-in (tests) or a mirror
    # An archive.org account's S3-style keys: saves through SPN2 (POST /save, then its job's
    # status); without them, the anonymous GET /save/URL.
    access_key: str | None = None
    secret_key: str | None = None
    retry_after: timedelta = timedelta(minutes=5)  # the first wait after a failure; doubles
    give_up_after: timedelta = timedelta(days=2)  # then a request still failing is "failed"


# The keys of redline.toml, table by table, beside the settings they fill; [daemon],
# [notifications] and [archive] hold their dataclass's fields (config_keys() has them all).
TOP_LEVEL_KEYS = (
    "db",
    "every",
    "database",
    "feed",
    "serve",
    "daemon",
    "fetch",
    "notifications",
    "archive",
    "source",
    "notify",
)
DATABASE_KEYS = ("url", "pool_size", "max_overflow")
FEED_KEYS = ("authority",)
SERVE_KEYS = ("host", "port", "workers", "public_url", "token", "forwarded_allow_ips")
FETCH_KEYS = ("allow_private", "allow_networks")
SOURCE_KEYS = ("url", "kind", "name", "site", "every", "cron", "ignore", *BY_CONFIG_KEY)


def config_keys() -> dict[str, tuple[str, ...]]:
    """Every key redline.toml may hold, by table: "" is the top level, "[[source]]" and
    "[[notify]]" the array tables (the manual's test checks each is documented)."""
    from tracker.notify.entries import NOTIFY_KEYS

    return {
        "": TOP_LEVEL_KEYS,
        "database": DATABASE_KEYS,
        "feed": FEED_KEYS,
        "serve": SERVE_KEYS,
        "daemon": tuple(DaemonSettings.__dataclass_fields__),
        "fetch": FETCH_KEYS,
        "notifications": tuple(NotifySettings.__dataclass_fields__),
        "archive": tuple(ArchiveSettings.__dataclass_fields__),
        "[[source]]": SOURCE_KEYS,
        "[[notify]]": NOTIFY_KEYS,
    }


@dataclass
class Config:
    db: str | None = None
    pool_size: int | None = None  # [database]: connections each process keeps open
    max_overflow: int | None = None  # [database]: extra connections allowed at peaks
    every: timedelta | None = None
    tag_authority: str | None = None
    serve: dict[str, object] = field(default_factory=dict)  # [serve]: host, port, public_url, token
    daemon: DaemonSettings = field(default_factory=DaemonSettings)
    fetch: AddressPolicy = field(default_factory=AddressPolicy)  # [fetch]: addresses allowed
    sources: list[SourceConfig] = field(default_factory=list)
    # [[notify]] tables (tracker/notify/subscriptions.py); None: no configuration file.
    notify: list[Any] | None = None
    notifications: NotifySettings = field(default_factory=NotifySettings)
    archive: ArchiveSettings = field(default_factory=ArchiveSettings)


def load_config(path: str | Path) -> Config:
    """Read a redline.toml; a missing or malformed file is a UserError naming the problem."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"no configuration file at {path}") from None
    except tomllib.TOMLDecodeError as error:
        raise UserError(f"{path}: not valid TOML: {error}") from None
    _refuse_unknown(f"{path}: ", data, TOP_LEVEL_KEYS)
    database = _only_known(path, "database", data.get("database", {}), DATABASE_KEYS)
    feed = _only_known(path, "feed", data.get("feed", {}), FEED_KEYS)
    config = Config(
        db=data.get("db") or database.get("url"),
        pool_size=_connections(path, database, "pool_size", minimum=1),
        max_overflow=_connections(path, database, "max_overflow", minimum=0),
        every=_interval(path, "every", data["every"]) if "every" in data else None,
        tag_authority=feed.get("authority"),
        serve=dict(_only_known(path, "serve", data.get("serve", {}), SERVE_KEYS)),
        daemon=_daemon_settings(path, data.get("daemon", {})),
        fetch=_fetch_settings(path, data.get("fetch", {})),
        notifications=_notify_settings(path, data.get("notifications", {})),
        archive=archive_settings(path, data.get("archive", {})),
    )
    from tracker.notify.entries import read_notify_tables

    config.notify = read_notify_tables(str(path), data.get("notify", []))
    for number, entry in enumerate(data.get("source", []), start=1):
        if not isinstance(entry, dict) or "url" not in entry:
            raise UserError(f"{path}: [[source]] number {number} has no url")
        _refuse_unknown(f"{path}: [[source]] number {number}: ", entry, SOURCE_KEYS)
        if not isinstance(entry.get("site", ""), str):
            raise UserError(f"{path}: [[source]] number {number} site is a name in quotes")
        config.sources.append(
            SourceConfig(
                url=entry["url"],
                kind=entry.get("kind", "auto"),
                name=entry.get("name"),
                every=_interval(path, f"[[source]] number {number} every", entry["every"])
                if "every" in entry
                else None,
                cron=entry.get("cron"),
                site=entry.get("site"),
                options=_source_options(path, number, entry),
            )
        )
    return config


def _source_options(path: Path, number: int, entry: dict[str, Any]) -> dict[str, Any]:
    """A [[source]]'s own settings: "ignore" (noise patterns) and its tuning, checked now."""
    from tracker.compare.noise import check_patterns

    options: dict[str, Any] = {}
    for key, value in entry.items():
        try:
            if key == "ignore":
                options["ignore"] = check_patterns(value)
            elif key in BY_CONFIG_KEY:
                options[BY_CONFIG_KEY[key].option] = BY_CONFIG_KEY[key].check(value)
        except UserError as error:
            raise UserError(f"{path}: [[source]] number {number} {key}: {error}") from None
    return options


def _interval(path: Path, key: str, value: object) -> timedelta:
    try:
        return parse_interval(value)
    except UserError as error:
        raise UserError(f"{path}: {key}: {error}") from None


def _only_known(path: Path | str, name: str, table: object, known: Iterable[str]) -> dict[str, Any]:
    """The [name] table, if it is one and holds only the known keys; else a UserError
    naming the first stranger and the keys there are."""
    if not isinstance(table, dict):
        raise UserError(f"{path}: [{name}] is a table")
    _refuse_unknown(f"{path}: ", table, known, f"[{name}] ")
    return table


def _refuse_unknown(where: str, table: dict, known: Iterable[str], which: str = "") -> None:
    """A UserError naming the table's first key redline does not know, and those it does;
    a misspelt key would otherwise be a setting silently not applied."""
    unknown = sorted(set(table) - set(known))
    if unknown:
        shown = ", ".join(sorted(known))
        raise UserError(f"{where}unknown {which}setting {unknown[0]!r} (known: {shown})")


def _durations(
    path: Path | str, name: str, table: dict[str, Any], defaults: object, keys: Iterable[str]
) -> dict[str, Any]:
    """These keys of the [name] table as durations, each its default when not given; a
    bad one is a UserError naming it."""
    found = {}
    for key in keys:
        given = table.get(key)
        try:
            found[key] = getattr(defaults, key) if given is None else parse_duration(str(given))
        except UserError as error:
            raise UserError(f"{path}: [{name}] {key}: {error}") from None
    return found


def _fetch_settings(path: Path, table: object) -> AddressPolicy:
    """[fetch] allow_private = true (fetch from any address), allow_networks = ["10.0.0.0/8"]."""
    table = _only_known(path, "fetch", table, FETCH_KEYS)
    allow_private = table.get("allow_private", False)
    if not isinstance(allow_private, bool):
        raise UserError(f"{path}: [fetch] allow_private is true or false")
    networks = table.get("allow_networks", [])
    if not isinstance(networks, list):
        raise UserError(f'{path}: [fetch] allow_networks is a list, like ["10.0.0.0/8"]')
    return AddressPolicy(allow_private, parse_networks(networks, f"{path}: [fetch] allow_networks"))


def _connections(path: Path, table: dict[str, object], key: str, minimum: int) -> int | None:
    value = table.get(key)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise UserError(f"{path}: [database] {key} must be a whole number >= {minimum}")
    return value


_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


def _daemon_settings(path: Path, table: object) -> DaemonSettings:
    """[daemon] read strictly: an unknown key or a bad value names itself."""
    defaults = DaemonSettings()
    table = _only_known(path, "daemon", table, defaults.__dataclass_fields__)

    def count(key: str, minimum: int) -> int:
        value = table.get(key, getattr(defaults, key))
        if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
            raise UserError(f"{path}: [daemon] {key} must be a whole number >= {minimum}")
        return value

    def duration(key: str, allow_zero: bool = False) -> timedelta:
        value = table.get(key)
        if value is None:
            return getattr(defaults, key)
        return parse_duration(str(value), allow_zero)

    jitter = table.get("jitter", defaults.jitter)
    if not isinstance(jitter, int | float) or not 0 <= jitter < 1:
        raise UserError(f"{path}: [daemon] jitter is a fraction from 0 to below 1, not {jitter!r}")
    level = str(table.get("log_level", defaults.log_level)).upper()
    if level not in _LOG_LEVELS:
        raise UserError(f"{path}: [daemon] log_level is one of {', '.join(_LOG_LEVELS)}")
    log_format = str(table.get("log_format", defaults.log_format))
    if log_format not in ("text", "json"):
        raise UserError(f"{path}: [daemon] log_format is text or json")
    return DaemonSettings(
        concurrency=count("concurrency", 1),
        per_host=count("per_host", 1),
        host_delay=duration("host_delay", allow_zero=True),
        lease=duration("lease"),
        failing_after=count("failing_after", 1),
        max_backoff=duration("max_backoff"),
        jitter=float(jitter),
        aging=_aging(path, table["aging"]) if "aging" in table else defaults.aging,
        check_retention=duration("check_retention"),
        stop_grace=duration("stop_grace", allow_zero=True),
        log_level=level,
        log_format=log_format,
    )


def _aging(path: Path, table: object) -> tuple[tuple[timedelta, timedelta], ...]:
    """{ "3h" = "15m", "1d" = "1h" }: under 3 h old every 15 min, ...; {} turns aging off."""
    if not isinstance(table, dict):
        raise UserError(f'{path}: [daemon] aging is a table like {{ "3h" = "15m", "1d" = "1h" }}')
    steps = sorted(
        (parse_duration(age), _interval(path, f"[daemon] aging {age!r}", every))
        for age, every in table.items()
    )
    return tuple(steps)


def _notify_settings(path: Path, table: object) -> NotifySettings:
    """[notifications] per_minute = 30, give_up_after = "1d", senders = 4, claim = "2m",
    quiet_after = "6h" (default: learnt per source)."""
    defaults = NotifySettings()
    table = _only_known(path, "notifications", table, defaults.__dataclass_fields__)
    counts = {}
    for key in ("per_minute", "senders"):
        value = table.get(key, getattr(defaults, key))
        if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 6000:
            raise UserError(f"{path}: [notifications] {key} must be a whole number from 1 to 6000")
        counts[key] = value
    keys = ("give_up_after", "claim", "quiet_after")
    durations = _durations(path, "notifications", table, defaults, keys)
    return NotifySettings(
        counts["per_minute"],
        durations["give_up_after"] or defaults.give_up_after,
        counts["senders"],
        durations["claim"] or defaults.claim,
        durations["quiet_after"],
    )


def archive_settings(path: Path | str, table: object) -> ArchiveSettings:
    """[archive] enabled = true, endpoint = "https://web.archive.org", access_key and
    secret_key (both or neither), retry_after = "5m", give_up_after = "2d"."""
    defaults = ArchiveSettings()
    table = _only_known(path, "archive", table, defaults.__dataclass_fields__)
    enabled = table.get("enabled", False)
    if not isinstance(enabled, bool):
        raise UserError(f"{path}: [archive] enabled is true or false")
    endpoint = table.get("endpoint", defaults.endpoint)
    if not isinstance(endpoint, str) or not _is_base_url(endpoint):
        raise UserError(
            f"{path}: [archive] endpoint is an http(s) address with no query, "
            f'like "https://web.archive.org", not {str(endpoint)[:60]!r}'
        )
    keys = [table.get("access_key"), table.get("secret_key")]
    if any(key is not None for key in keys) and not all(
        isinstance(key, str) and key.strip() and ":" not in key for key in keys
    ):
        raise UserError(
            f"{path}: [archive] access_key and secret_key go together, each a key in quotes "
            "(an archive.org account's S3 keys)"
        )
    durations = _durations(path, "archive", table, defaults, ("retry_after", "give_up_after"))
    return ArchiveSettings(
        enabled,
        endpoint.strip().rstrip("/"),
        keys[0],
        keys[1],
        durations["retry_after"],
        durations["give_up_after"],
    )


def _is_base_url(text: str) -> bool:
    parts = urlsplit(text.strip())
    return parts.scheme in ("http", "https") and bool(parts.hostname) and not parts.query
