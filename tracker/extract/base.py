"""What an extractor is handed (a Page) and hands on (the items the page shows), as plain
data (no database)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any


@dataclass(frozen=True)
class Page:
    """A fetched page as the extractors see it."""

    url: str  # after redirects: relative links resolve against it
    text: str  # decoded with the HTTP charset (or UTF-8)
    body: bytes = b""  # as received, for parsers that decode themselves
    content_type: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)  # the source's settings


@dataclass(frozen=True)
class HistoryEntry:
    """One line of a page's own list of earlier versions (Offstream's "Changes")."""

    headline: str
    url: str | None  # absolute URL of that version's page, if the list gives one
    reported_at: datetime | None  # timezone-aware UTC; None for "Current version"
    label: str  # as printed: "First version", "Update", "Current version"

    @property
    def is_current(self) -> bool:
        return self.label.lower().startswith("current")


@dataclass
class Observation:
    """One news item as one page shows it at one moment.

    A field that the page does not give is None (unknown), never "" or [].
    """

    url: str | None  # absolute URL of the item's own page
    headline: str | None
    summary: str | None = None
    category: str | None = None
    tags: list[str] | None = None
    sources: list[str] | None = None  # each "Name <url>"
    body: str | None = None
    event_date: date | None = None
    guid: str | None = None
    # The page's own history, oldest first, the current version last (may be empty).
    history: list[HistoryEntry] = field(default_factory=list)
