"""Extractors: one module per format, each turning a page's text into Observations."""

from __future__ import annotations

from tracker.errors import ExtractError
from tracker.extract.base import HistoryEntry, Observation
from tracker.extract.feed import is_feed, parse_feed
from tracker.extract.offstream import is_offstream, parse_offstream

__all__ = ["HistoryEntry", "Observation", "extract", "KINDS"]

KINDS = ("auto", "offstream", "feed")


def extract(kind: str, text: str, url: str) -> tuple[str, list[Observation]]:
    """The page's items, and the kind that read them ("auto" picks by content)."""
    if kind == "auto":
        if is_offstream(text):
            kind = "offstream"
        elif is_feed(text):
            kind = "feed"
        else:
            raise ExtractError(
                f"unrecognised page format at {url} (supported: Offstream pages, RSS/Atom feeds)"
            )
    if kind == "offstream":
        return kind, parse_offstream(text, url)
    if kind == "feed":
        return kind, parse_feed(text, url)
    raise ExtractError(f"unknown source kind {kind!r} (known: {', '.join(KINDS)})")
