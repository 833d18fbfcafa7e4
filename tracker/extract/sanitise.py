"""What every extractor's output goes through before it is stored: safe text, sane sizes.

A page can hold anything. Whatever it holds, the Observations handed on are:

* safe text (tracker.normalise.sanitise_text): no NUL or other control characters, no
  bidi controls, no lone surrogates, no floods of combining marks; outer whitespace
  stripped, and a field left empty is None;
* of sane size: a field longer than its cap is cut and ends in CUT ("…"); the body is
  left whole (the fetch already caps a page at a few megabytes);
* storable as identity keys: an item's URL, its guid and each source entry are looked up
  through a database index, and PostgreSQL refuses an index entry over about 2,700 bytes.
  A longer guid is replaced by its SHA-256 (it is only ever compared), a longer URL or
  source entry is dropped (cut, it would name another page), and so is a URL that cannot
  be put in canonical form (``http://host:99999/``: no port);
* at most MAX_ITEMS per page, the first ones: a page listing more is a dump, not a news
  listing, and recording it would hold the database for minutes each check.

An item left with nothing to follow it by (no URL, guid, source or headline) is dropped.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import replace
from itertools import islice
from typing import TYPE_CHECKING

from tracker import words
from tracker.normalise import canonical_url, sanitise_text

if TYPE_CHECKING:
    from tracker.extract.base import HistoryEntry, Observation

log = logging.getLogger(__name__)

MAX_ITEMS = 10_000  # git-scraped listings of 5,000 stories are common
# Characters. A real headline is under 300, a Wikipedia bullet under 1,000.
MAX_HEADLINE = 2_000
MAX_SUMMARY = 20_000
MAX_CATEGORY = 1_000
MAX_LABEL = 200  # a page history entry's label: "First version", "Update"
MAX_TAG = 200
MAX_TAGS = 200
MAX_SOURCES = 200
MAX_KEY_BYTES = 2_000  # UTF-8 bytes of a URL, guid or source entry
MAX_MESSAGE = 300  # characters of an error message
CUT = words.CUT
# A source entry's link, as tracker.identity.match reads it: "Reuters <https://…>".
_SOURCE_LINK = re.compile(r"<(https?://[^>\s]+)>\s*$")


def sane_observations(observations: list[Observation], page_url: str) -> list[Observation]:
    """The observations as they may be stored (see the module docstring)."""
    if len(observations) > MAX_ITEMS:
        log.warning(
            "%s lists %d items; only the first %d are read", page_url, len(observations), MAX_ITEMS
        )
    sane = (_observation(observation) for observation in observations[:MAX_ITEMS])
    return [o for o in sane if o.url or o.guid or o.sources or o.headline]


def sane_message(message: str) -> str:
    """An error message as one short line of safe text (it may quote the page)."""
    return words.one_line(sanitise_text(message), MAX_MESSAGE) or "unreadable page"


def _observation(observation: Observation) -> Observation:
    return replace(
        observation,
        url=_key(observation.url),
        headline=_text(observation.headline, MAX_HEADLINE),
        summary=_text(observation.summary, MAX_SUMMARY),
        category=_text(observation.category, MAX_CATEGORY),
        tags=_tags(observation.tags),
        sources=_sources(observation.sources),
        body=_text(observation.body, None),
        guid=_guid(observation.guid),
        # An entry left without a headline says nothing (extractors skip such entries too).
        history=[e for e in map(_history_entry, observation.history) if e.headline],
    )


def _history_entry(entry: HistoryEntry) -> HistoryEntry:
    return replace(
        entry,
        headline=_text(entry.headline, MAX_HEADLINE) or "",
        url=_key(entry.url),
        label=_text(entry.label, MAX_LABEL) or "",
    )


def _text(value: str | None, cap: int | None) -> str | None:
    if value is None:
        return None
    text = sanitise_text(value).strip()
    return (words.cut(text, cap) if cap else text) or None


def _key(value: str | None) -> str | None:
    """A URL that fits an index entry as it is and in canonical form (the form looked up);
    None if it does not, or if it has no canonical form."""
    text = _text(value, None)
    return text if text is not None and _storable_url(text) else None


def _storable_url(url: str) -> bool:
    try:
        canonical = canonical_url(url)
    except ValueError:  # a port past 65535, a bracket where a host goes
        return False
    return len(url.encode()) <= MAX_KEY_BYTES and len(canonical.encode()) <= MAX_KEY_BYTES


def _source(value: str) -> str | None:
    """A source entry whose link (if it has one) is a storable URL, as _key's are."""
    text = _text(value, None)
    if text is None or len(text.encode()) > MAX_KEY_BYTES:
        return None
    link = _SOURCE_LINK.search(text)
    return None if link and not _storable_url(link[1]) else text


def _guid(value: str | None) -> str | None:
    text = _text(value, None)
    if text is None or len(text.encode()) <= MAX_KEY_BYTES:
        return text
    # A guid is only ever compared: its hash tells items apart as well as it does.
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def _tags(tags: list[str] | None) -> list[str] | None:
    if tags is None:
        return None
    found = (_text(tag, MAX_TAG) for tag in tags)
    return list(islice(filter(None, found), MAX_TAGS)) or None


def _sources(sources: list[str] | None) -> list[str] | None:
    if sources is None:
        return None
    found = (_source(source) for source in sources)
    return list(islice(filter(None, found), MAX_SOURCES)) or None
