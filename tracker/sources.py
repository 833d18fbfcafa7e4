"""Adding sources: validated, and idempotent (adding a known URL again changes nothing)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from sqlmodel import Session

from storage import Source, queries, utcnow
from tracker.errors import UserError
from tracker.extract import KINDS
from tracker.identity import compile_id_pattern
from tracker.netguard import check_url_host
from tracker.normalise import check_http_url
from tracker.schedule import cron_trigger


def add_source(
    session: Session,
    url: str,
    kind: str = "auto",
    name: str | None = None,
    every: timedelta | None = None,
    options: dict[str, Any] | None = None,
    cron: str | None = None,
) -> tuple[Source, bool]:
    """The source for this URL, and whether it was added now (False: it was there already).

    options: "map" (listing field → path), "items" (where a JSON listing's records
    are), "id_pattern" (a regex finding an item's id in its URL), "match_threshold"
    (fuzzy identity, 0–1; above 1 turns it off). cron: a crontab line (UTC) giving the
    check times instead of an interval.
    """
    url = check_http_url(url)
    check_url_host(url)  # a literal private address; host names are checked at fetch time
    if kind not in KINDS:
        raise UserError(f"unknown source kind {kind!r} (known: {', '.join(KINDS)})")
    options = {key: value for key, value in (options or {}).items() if value not in (None, {}, "")}
    if "id_pattern" in options:
        compile_id_pattern(options["id_pattern"])
    if "match_threshold" in options and not 0 <= float(options["match_threshold"]) <= 2:
        raise UserError("--match-threshold is a similarity between 0 and 1 (above 1: off)")
    if cron is not None:
        if every is not None:
            raise UserError("give --every or --cron, not both")
        cron = " ".join(cron.split())
        cron_trigger(cron)
    existing = queries.source_by_url(session, url)
    if existing is not None:
        return existing, False
    source = Source(
        url=url,
        kind=kind,
        name=name,
        interval_seconds=int(every.total_seconds()) if every else None,
        cron=cron,
        options=options,
    )
    session.add(source)
    session.flush()
    return source, True


# -- changing a source: `redline source edit|enable|disable` and PATCH /api/sources/{id} ----

EDITABLE = ("name", "enabled", "every", "cron")


class UnknownSource(UserError):
    """No source has this id (the API answers 404)."""


def edit_source(session: Session, source_id: int, changes: Mapping[str, Any]) -> Source:
    """Change a source's name, whether it is checked, or when; one code path for the CLI
    and the API, so both accept and refuse the same.

    changes holds only what changes: "name" (None or blank clears it), "enabled",
    "every" (a timedelta; None: back to the default schedule) or "cron" (a crontab
    line; None: none). "every" replaces a cron line and "cron" an interval; a sooner
    schedule applies now, not after the next check.
    """
    unknown = set(changes) - set(EDITABLE)
    if unknown:
        raise UserError(f"a source's {', '.join(sorted(unknown))} cannot be changed")
    if changes.get("every") is not None and changes.get("cron") is not None:
        raise UserError("give --every or --cron, not both")
    source = session.get(Source, source_id)
    if source is None:
        raise UnknownSource(f"no source {source_id}")
    if "name" in changes:
        name = changes["name"]
        source.name = name.strip() if name and name.strip() else None
    if changes.get("enabled") is not None:
        source.enabled = bool(changes["enabled"])
    if "every" in changes:
        _set_interval(source, changes["every"])
    if "cron" in changes:
        _set_cron(source, changes["cron"])
    session.add(source)
    session.flush()
    return source


def _set_interval(source: Source, every: timedelta | None) -> None:
    """Every so often (None: the default schedule), in place of any cron line."""
    source.interval_seconds = int(every.total_seconds()) if every else None
    source.cron = None
    if every and source.last_checked_at and source.next_check_at:
        source.next_check_at = min(source.next_check_at, source.last_checked_at + every)


def _set_cron(source: Source, cron: str | None) -> None:
    if cron is None:
        source.cron = None
        return
    cron = " ".join(cron.split())
    upcoming = cron_trigger(cron).get_next_fire_time(None, utcnow())
    source.cron, source.interval_seconds = cron, None
    if source.next_check_at and upcoming:
        source.next_check_at = min(source.next_check_at, upcoming)
