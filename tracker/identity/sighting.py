"""One observation of a check with the evidence of which item it is, worked out once.

A check looks each observation up, may match it with an item that left, records it and
gives its item aliases; every step reads this one value (tracker/record/ingest.py makes
one per observation) instead of working the observation's URLs, keys and content hash
out again.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import cached_property

from tracker.extract.base import Observation
from tracker.identity.match import Rules, identity_keys, known_urls, same_headline
from tracker.normalise import FieldValue, clean_text, content_hash

log = logging.getLogger(__name__)


@dataclass
class Sighting:
    observation: Observation
    # Every URL (canonical) the observation says its item has had: its own first (when it
    # has one), then the page's as requested, then those its Changes list names.
    urls: list[str]
    # The aliases that decide which item it is, strongest first (match.identity_keys). A
    # check may narrow them: drop_ambiguous_url_ids, and a section page's row (hub keys).
    keys: list[tuple[str, str]]

    @classmethod
    def of(
        cls, observation: Observation, page_urls: Sequence[str] = (), rules: Rules | None = None
    ) -> Sighting:
        urls = known_urls(observation, page_urls)
        return cls(observation, urls, identity_keys(observation, urls, rules or Rules()))

    @property
    def url(self) -> str | None:
        """The observation's own URL, canonical."""
        return self.urls[0] if self.observation.url else None

    @cached_property
    def content_hash(self) -> str:
        """What the item's latest version is compared with. Worked out when first asked
        for: the listing around a check's observations (its `context`) needs only keys."""
        return content_hash(content_fields(self.observation))

    def showing(self, observation: Observation) -> Sighting:
        """The same sighting with other content (a listing's partial fields filled in)."""
        return replace(self, observation=observation)

    def known_by(self, keys: list[tuple[str, str]]) -> Sighting:
        """The same sighting, looked up by other keys."""
        return replace(self, keys=keys)


def content_fields(observation: Observation) -> dict[str, FieldValue]:
    """The fields a version stores, as stored (text cleaned)."""
    return {
        "headline": clean_text(observation.headline),
        "summary": clean_text(observation.summary),
        "category": clean_text(observation.category),
        "tags": observation.tags,
        "sources": observation.sources,
        "body": clean_text(observation.body),
    }


def drop_ambiguous_url_ids(sightings: Sequence[Sighting], context: Sequence[Sighting] = ()) -> None:
    """Take URL ids out of the sightings' keys where one check shows them on two different
    items (among the sightings and the listing around them, `context`, which is left as
    it is).

    An id found in URLs is only a guess at the publisher's id (a number in a URL may be
    a section's or a page's); two items with different URLs and headlines that share it
    in one listing prove the guess wrong for that id, and a wrong id merges items.
    """
    seen: dict[str, tuple[str | None, str | None]] = {}
    ambiguous: set[str] = set()
    for sighting in (*sightings, *context):
        shown = (sighting.url, sighting.observation.headline)
        for kind, value in sighting.keys:
            if kind != "urlid":
                continue
            first = seen.setdefault(value, shown)
            if first[0] != shown[0] and not same_headline(first[1], shown[1]):
                ambiguous.add(value)
    if not ambiguous:
        return
    log.info("URL ids that name several items in one check, not used: %s", sorted(ambiguous))
    for sighting in sightings:
        sighting.keys = [k for k in sighting.keys if not (k[0] == "urlid" and k[1] in ambiguous)]


class ContextSightings:
    """The sightings of a listing's records that recur unchanged from one check to the
    next (the `context` an import's memory gives ingest: tracker/record/listing_memory.py),
    worked out once while the identity rules stay the same. Building them again for the
    thousands of rows of every snapshot was a twentieth of a replay. The observations
    are the memory's own objects, kept as long as the memory keeps them; a sighting
    given out is never narrowed (drop_ambiguous_url_ids leaves the context as it is)."""

    def __init__(self) -> None:
        self._rules: Rules | None = None
        self._kept: dict[int, tuple[Observation, Sighting]] = {}  # by id(observation)

    def of(self, observations: Sequence[Observation], rules: Rules) -> list[Sighting]:
        """The sightings of these rows of a listing (no page URLs: Sighting.of with none);
        only theirs are kept after."""
        kept = self._kept if rules == self._rules else {}
        found: dict[int, tuple[Observation, Sighting]] = {}
        for observation in observations:
            pair = kept.get(id(observation))
            if pair is None or pair[0] is not observation:  # an id reused by a new object
                pair = (observation, Sighting.of(observation, (), rules))
            found[id(observation)] = pair
        self._rules, self._kept = rules, found
        return [sighting for _, sighting in found.values()]
