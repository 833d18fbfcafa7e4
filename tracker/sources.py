"""Adding sources: validated, and idempotent (adding a known URL again changes nothing)."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import Session

from storage import Source, queries
from tracker.errors import UserError
from tracker.extract import KINDS
from tracker.normalise import check_http_url


def add_source(
    session: Session,
    url: str,
    kind: str = "auto",
    name: str | None = None,
    every: timedelta | None = None,
) -> tuple[Source, bool]:
    """The source for this URL, and whether it was added now (False: it was there already)."""
    url = check_http_url(url)
    if kind not in KINDS:
        raise UserError(f"unknown source kind {kind!r} (known: {', '.join(KINDS)})")
    existing = queries.source_by_url(session, url)
    if existing is not None:
        return existing, False
    source = Source(
        url=url,
        kind=kind,
        name=name,
        interval_seconds=int(every.total_seconds()) if every else None,
    )
    session.add(source)
    session.flush()
    return source, True
