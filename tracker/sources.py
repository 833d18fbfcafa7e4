"""Adding sources: validated, and idempotent (adding a known URL again changes nothing)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlmodel import Session

from storage import Source, queries
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
