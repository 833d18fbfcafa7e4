"""Items built by recording real observations through the tracker, for the page tests."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from sqlalchemy.engine import Engine

from storage import Source, queries, transaction
from tracker.extract.base import Observation
from tracker.record.ingest import record_observations
from tracker.run.sources import add_source

FLOODS_URL = "https://news.example/estuary-floods"
FLOODS_START = datetime(2026, 3, 1, tzinfo=UTC)
# One headline per check, an hour apart; the tracker grades the edits between them as:
FLOODS_HEADLINES = [
    "Estuary floods: 8 missing after sea wall gives way",  # the first version
    "Estuary floods: 12 missing after sea wall gives way",  # substantive: a number changed
    "Estuary floods: 12 missing after sea-wall gives way",  # style: a dash
    "Estuary floods: 12 missing after the sea wall collapsed overnight near the harbour",
    "Estuary Floods: 12 Missing After The Sea Wall Collapsed Overnight Near The Harbour",
]
FLOODS_CLASSES = [None, "substantive", "style", "rewording", "style"]


def record_headlines(engine: Engine, url: str, seen: Sequence[tuple[datetime, str]]) -> int:
    """An article page at `url` checked once per (time, headline): the item's id.

    Each check records an observation of the one item the page shows, as a check round
    does after extracting it, so the tracker grades every edit itself.
    """
    with transaction(engine) as session:
        source, _ = add_source(session, url, "article")
        source_id = source.id
    for when, headline in seen:
        with transaction(engine) as session:
            source = session.get(Source, source_id)
            assert source is not None
            observation = Observation(url=url, headline=headline, summary="Rain all week.")
            record_observations(session, source, [observation], when, page_urls=[url])
    with transaction(engine) as session:
        [item_id] = [item.id for item in queries.all_items(session) if item.url == url]
        assert item_id is not None
        return item_id


def record_floods(engine: Engine) -> int:
    """An item with edits of every class: substantive, style, rewording, style again."""
    hours = [FLOODS_START + timedelta(hours=n) for n in range(len(FLOODS_HEADLINES))]
    return record_headlines(engine, FLOODS_URL, list(zip(hours, FLOODS_HEADLINES, strict=True)))
