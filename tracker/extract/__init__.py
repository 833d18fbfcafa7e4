"""Extractors: one module per format, each turning a fetched page into Observations.

Each kind registers a sniff (does this page look like mine?) and a parse. `auto`
tries the sniffs in registration order. Whatever a parse returns goes through
tracker.extract.sanitise: safe text, sane sizes, whatever the page held.
"""

from __future__ import annotations

from collections.abc import Callable

from tracker.errors import ExtractError
from tracker.extract.base import HistoryEntry, Observation, Page
from tracker.extract.sanitise import sane_message, sane_observations

__all__ = ["HistoryEntry", "KINDS", "Observation", "Page", "extract"]


Sniff = Callable[[Page], bool]
Parse = Callable[[Page], list[Observation]]

# Each reader is imported when a page is first sniffed or read, not with this package:
# every `redline` command imports tracker.extract.base (for Observation), and lxml,
# feedparser and trafilatura take a good part of a second to import between them.


def _is_offstream(page: Page) -> bool:
    from tracker.extract.offstream import is_offstream

    return is_offstream(page.text)


def _parse_offstream(page: Page) -> list[Observation]:
    from tracker.extract.offstream import parse_offstream

    return parse_offstream(page.text, page.url)


def _is_listing(page: Page) -> bool:
    from tracker.extract.listing import is_listing_document

    return is_listing_document(page)


def _parse_listing(page: Page) -> list[Observation]:
    from tracker.extract.listing import parse_listing

    return parse_listing(page)


def _is_feed(page: Page) -> bool:
    from tracker.extract.feed import is_feed

    return is_feed(page.text)


def _parse_feed(page: Page) -> list[Observation]:
    from tracker.extract.feed import parse_feed

    return parse_feed(page.body or page.text, page.url, page.content_type or "application/xml")


def _is_wikipedia(page: Page) -> bool:
    from tracker.extract.wikipedia import is_wikipedia_current_events

    return is_wikipedia_current_events(page)


def _parse_wikipedia(page: Page) -> list[Observation]:
    from tracker.extract.wikipedia import parse_wikipedia

    return parse_wikipedia(page)


def _is_article(page: Page) -> bool:
    from tracker.extract.article import is_article

    return is_article(page)


def _parse_article(page: Page) -> list[Observation]:
    from tracker.extract.article import parse_article

    return parse_article(page)


_EXTRACTORS: dict[str, tuple[Sniff, Parse]] = {
    "offstream": (_is_offstream, _parse_offstream),
    "listing": (_is_listing, _parse_listing),
    "feed": (_is_feed, _parse_feed),
    "wikipedia": (_is_wikipedia, _parse_wikipedia),
    "article": (_is_article, _parse_article),  # the catch-all for HTML: keep it last
}
_DESCRIPTIONS = (
    "Offstream pages, JSON/CSV listings, RSS/Atom feeds, Wikipedia Current Events day pages, "
    "article pages"
)

KINDS = ("auto", *_EXTRACTORS)


def extract(kind: str, page: Page) -> tuple[str, list[Observation]]:
    """The page's items, and the kind that read them ("auto" picks by content)."""
    if kind == "auto":
        kind = next((name for name, (sniff, _) in _EXTRACTORS.items() if sniff(page)), "")
        if not kind:
            raise ExtractError(
                f"unrecognised page format at {page.url} (supported: {_DESCRIPTIONS})"
            )
    if kind not in _EXTRACTORS:
        raise ExtractError(f"unknown source kind {kind!r} (known: {', '.join(KINDS)})")
    _, parse = _EXTRACTORS[kind]
    try:
        observations = parse(page)
    except ExtractError as error:
        # The message may quote the page (a key, a parser's complaint): keep it storable.
        raise ExtractError(sane_message(str(error))) from None
    return kind, sane_observations(observations, page.url)
