"""Which stored item an observation is: matched by its aliases, never by URL alone.

On Offstream-style pages the slug is made from the headline, so an edited
headline moves the item to a new URL; the page's own history lists the earlier
URLs, and those are aliases of the same item. When no alias matches, an item
that left a listing and one that appeared in the same check may still be one
item edited: fuzzy matching pairs them by headline similarity or shared source
links.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import lru_cache
from typing import Any

from storage import Item, Version
from tracker.compare import diff
from tracker.errors import ExtractError, UserError
from tracker.extract.base import Observation
from tracker.identity.url_ids import date_in_path, learned_id, stable_id
from tracker.normalise import canonical_url, canonical_urls, normalise_text

log = logging.getLogger(__name__)

DEFAULT_MATCH_THRESHOLD = 0.6
DEFAULT_MATCH_WINDOW = timedelta(hours=12)
MAX_KEY_BYTES = 1_000  # longer headline keys are stored as their hash
# Fuzzy matching scores every departed item against every newcomer: past this many
# pairs (a listing whose ids all changed at once) it is skipped, not run for minutes.
MAX_FUZZY_PAIRS = 100_000
OFFSTREAM_RENDITIONS = (".md", ".html", ".json", ".xml")
_SOURCE_LINK = re.compile(r"<(https?://[^>\s]+)>\s*$")


@dataclass(frozen=True)
class Rules:
    """A source's identity settings (from its options)."""

    id_pattern: re.Pattern[str] | None = None  # group 1 (or the match) of the URL is the id
    match_threshold: float = DEFAULT_MATCH_THRESHOLD  # fuzzy matching; above 1 turns it off
    # File renditions of one page (Offstream serves .md, .html, .json, .xml of each):
    # a URL ending in one of them also names the others.
    renditions: tuple[str, ...] = ()
    # How long an item that left a listing may still be paired with a newcomer (an item
    # missing from one version of a day index, back under a new URL in the next).
    match_window: timedelta = DEFAULT_MATCH_WINDOW
    # Shapes of ids the site's URLs carry, learned from items that moved (url_ids).
    learned: tuple[str, ...] = ()

    @classmethod
    def for_source(cls, kind: str, options: Mapping[str, Any]) -> Rules:
        pattern = options.get("id_pattern")
        threshold = float(options.get("match_threshold", DEFAULT_MATCH_THRESHOLD))
        renditions = OFFSTREAM_RENDITIONS if kind == "offstream" else ()
        hours = options.get("match_window_hours")
        window = timedelta(hours=float(hours)) if hours is not None else DEFAULT_MATCH_WINDOW
        return cls(re.compile(pattern) if pattern else None, threshold, renditions, window)


def compile_id_pattern(pattern: str) -> str:
    """The pattern if it is a valid regular expression; else a UserError."""
    try:
        re.compile(pattern)
    except (re.error, OverflowError) as error:  # OverflowError: a repeat such as x{99999999999}
        raise UserError(f"--id-pattern is not a valid regular expression: {error}") from None
    return pattern


def known_urls(observation: Observation, page_urls: Sequence[str] = ()) -> list[str]:
    """Every URL (canonical) this observation says the item has had."""
    history_urls = [entry.url for entry in observation.history]
    return canonical_urls([observation.url, *page_urls, *history_urls])


def page_stem(url: str, renditions: Sequence[str] = OFFSTREAM_RENDITIONS) -> str | None:
    """The URL without its rendition suffix (".../slug.md" -> ".../slug"), if it has one."""
    for suffix in renditions:
        if url.endswith(suffix):
            return url.removesuffix(suffix)
    return None


def source_links(sources: Sequence[str] | None) -> list[str]:
    """The canonical URLs of "Name <url>" source entries."""
    found = (_SOURCE_LINK.search(entry) for entry in sources or ())
    return canonical_urls([match.group(1) for match in found if match])


def identity_keys(
    observation: Observation, urls: Sequence[str], rules: Rules = Rules()
) -> list[tuple[str, str]]:
    """The aliases that decide which item this is, strongest first.

    The first kind that names a stored item decides (SourceIndex.find_id); the kinds
    after it are looked up only when it names none, and every key becomes an alias.
    Strongest: an id the source's --id-pattern finds in a URL; a guid that is not merely
    the item's URL; an id the publisher put in the URL (tracker.identity.url_ids), which survives
    the headline edits that rebuild a slug where a guid that is the URL does not. Then
    the keys redline has always used (`_plain_keys`), so items recorded before these
    existed are still found. urls: every URL the item has had (known_urls).
    """
    keys: list[tuple[str, str]] = []
    if rules.id_pattern:
        ids = [_pattern_id(rules.id_pattern, url) for url in urls]
        keys += [("id", value) for value in dict.fromkeys(ids) if value]
    guid = observation.guid
    if guid and not is_url_guid(guid, urls):
        keys.append(("guid", guid))
    if not keys and not rules.renditions:
        keys += [("urlid", value) for value in dict.fromkeys(map(stable_id, urls)) if value]
    if not keys and rules.learned:
        found = (learned_id(url, rules.learned) for url in urls)
        keys += [("urlid", value) for value in dict.fromkeys(found) if value]
    plain = _plain_keys(observation, urls, rules)
    return keys + [key for key in plain if key not in keys]


def _plain_keys(
    observation: Observation, urls: Sequence[str], rules: Rules
) -> list[tuple[str, str]]:
    """The strongest kind of plain alias: a guid (entries of a live page share one link
    but keep their own guids); for pages served in several renditions (Offstream's .md
    and .html), every URL the item has had without its suffix; every URL it has had; its
    source links (bullets with no page of their own); its headline."""
    if observation.guid:
        return [("guid", observation.guid)]
    if rules.renditions:
        # One page in several renditions is one item: it is known by its stem.
        stems = [page_stem(url, rules.renditions) for url in urls]
        if any(stems):
            return [("page", stem) for stem in dict.fromkeys(stems) if stem]
    if urls:
        return [("url", url) for url in urls]
    links = source_links(observation.sources)
    if links:
        return [("source", link) for link in links]
    if observation.headline:
        return fallback_keys(observation)
    raise ExtractError("an item with no id, URL, source link or headline cannot be followed")


def is_url_guid(guid: str, urls: Sequence[str]) -> bool:
    """Whether the guid is merely one of the item's URLs (as many feeds make it): then it
    changes whenever a headline edit changes the URL, and names nothing stable."""
    return guid.startswith(("http://", "https://")) and canonical_url(guid) in urls


def strong_ids(keys: Sequence[tuple[str, str]]) -> dict[str, str]:
    """The keys only one item can have (a publisher's id), by kind and scope: two items
    with different ids of one kind and scope are never one item, however alike their
    headlines. A URL id's scope is its site and path (two hosts of one publisher, or a
    relative and an absolute link, may spell one article's id under two scopes)."""
    found: dict[str, str] = {}
    for kind, value in keys:
        if kind == "urlid":
            found.setdefault(f"urlid {value.rpartition('|')[0]}", value)
        elif kind == "id" or (kind == "guid" and not value.startswith(("http://", "https://"))):
            found.setdefault(kind, value)
    return found


def fallback_keys(observation: Observation) -> list[tuple[str, str]]:
    """The headline as a key, for an item whose stronger keys another item of the same
    check has already claimed; [] when it has no headline."""
    if not observation.headline:
        return []
    return [("title", _bounded(normalise_text(observation.headline).casefold()))]


def _bounded(key: str) -> str:
    """The key, or its hash when it is too long: an index entry has a size limit
    (PostgreSQL)."""
    if len(key.encode()) > MAX_KEY_BYTES:
        return "sha256:" + hashlib.sha256(key.encode()).hexdigest()
    return key


def _pattern_id(pattern: re.Pattern[str], url: str) -> str | None:
    match = pattern.search(url)
    if not match:
        return None
    return match.group(1) if match.groups() else match.group(0)


# Words that name a day: a headline that differs from another only in these is the next
# edition of a recurring page ("Morning briefing: Tuesday" / "…: Wednesday"), not an edit.
_DAY_WORDS_TEXT = (
    "monday tuesday wednesday thursday friday saturday sunday today tonight yesterday "
    "tomorrow morning evening weekend january february march april june july august "
    "september october november december jan feb mar apr jun jul aug sep sept oct nov dec "
    "montag dienstag mittwoch donnerstag freitag samstag sonntag lundi mardi mercredi jeudi "
    "vendredi samedi dimanche"
)
_DAY_WORDS = frozenset(_DAY_WORDS_TEXT.split())
# Evidence other than the headline counts only beside a headline this alike.
MIN_HEADLINE_FOR_EVIDENCE = 0.3
EVIDENCE_WEIGHTS = {"same summary": 0.2, "same category": 0.05, "same day": 0.05,
                    "same section path": 0.05}  # fmt: skip


@dataclass(frozen=True)
class _Likeness:
    """What fuzzy matching compares of an item or a newcomer, worked out once per side."""

    headline: str
    tokens: Counter[str]
    links: frozenset[str]
    summary: str = ""
    category: str = ""
    day: date | None = None  # its publication date, or the date its URL spells
    section: str = ""  # its URL without the last path segment (the slug)
    strong: Mapping[str, str] = field(default_factory=dict)  # identity.strong_ids
    first_seen: date | None = None
    words: tuple[str, ...] = ()  # the headline's words, case folded
    lasting_words: tuple[str, ...] = ()  # those that name no day (nor a number)

    @classmethod
    def of(
        cls,
        headline: str | None,
        sources: Sequence[str] | None,
        summary: str | None = None,
        category: str | None = None,
        day: date | None = None,
        url: str | None = None,
        strong: Mapping[str, str] | None = None,
        first_seen: date | None = None,
    ) -> _Likeness:
        text = normalise_text(headline) if headline else ""
        words = tuple(w for w in diff.tokenize(text.casefold()) if w.strip())
        return cls(
            text,
            Counter(diff.tokenize(text)),
            frozenset(source_links(sources)),
            normalise_text(summary).casefold() if summary else "",
            normalise_text(category).casefold() if category else "",
            day or (date_in_path(url) if url else None),
            canonical_url(url).rsplit("/", 1)[0] if url else "",
            strong or {},
            first_seen,
            words,
            tuple(w for w in words if w not in _DAY_WORDS and not w.isdigit() and w.isalnum()),
        )


def _veto(old: _Likeness, new: _Likeness) -> str | None:
    """Why these two can never be one item, or None. A wrong merge publishes a false
    edit, a split only loses a link: evidence against a pairing outweighs any likeness."""
    veto = ids_veto(old.strong, new.strong)
    if veto:
        return veto
    if old.day and new.day and old.day != new.day:
        return "published on different days"
    if old.words != new.words and old.lasting_words == new.lasting_words:
        return "a recurring headline (only its day differs)"
    later_day = old.first_seen and new.first_seen and old.first_seen < new.first_seen
    if old.words == new.words and later_day:
        return "a recurring headline (seen again on a later day at a new URL)"
    return None


def ids_veto(old: Mapping[str, str], new: Mapping[str, str]) -> str | None:
    """Why two items' publisher ids (strong_ids) say they are two items, or None."""
    for kind, value in new.items():
        if kind in old and old[kind] != value:
            return f"different {kind}"
    if bool(old) != bool(new):
        # An item known by a publisher id and one known by none: on a listing whose
        # items carry ids, a row without one is a link to a section page or a promo.
        return "only one has a publisher id"
    return None


class IdsAllowed:
    """Whether some newcomer's publisher ids allow pairing with an item's (ids_veto None
    for one), without comparing every pair (asked of every item that left within the match
    window, the pairs were a twentieth of a replayed snapshot): newcomers are grouped by
    the kinds of id they carry, and only the kinds the item carries too are compared."""

    def __init__(self, newcomer_ids: Iterable[Mapping[str, str]]) -> None:
        self._one_without = False
        self._groups: dict[frozenset[str], list[Mapping[str, str]]] = defaultdict(list)
        for ids in newcomer_ids:
            if ids:
                self._groups[frozenset(ids)].append(ids)
            else:
                self._one_without = True
        # (group, the kinds an item shares with it) -> the group's ids of those kinds
        self._values: dict[tuple[frozenset[str], tuple[str, ...]], set[tuple[str, ...]]] = {}

    def __call__(self, item_ids: Mapping[str, str]) -> bool:
        if not item_ids:
            return self._one_without  # else "only one has a publisher id"
        for kinds, members in self._groups.items():
            shared = tuple(sorted(kinds.intersection(item_ids)))
            if not shared:
                return True  # no id of one kind to differ
            values = self._values.get((kinds, shared))
            if values is None:
                values = {tuple(ids[kind] for kind in shared) for ids in members}
                self._values[(kinds, shared)] = values
            if tuple(item_ids[kind] for kind in shared) in values:
                return True
        return False


def _evidence(old: _Likeness, new: _Likeness) -> list[str]:
    """What else two items agree on, beside their headlines."""
    found = []
    if old.summary and old.summary == new.summary:
        found.append("same summary")
    if old.category and old.category == new.category:
        found.append("same category")
    if old.day and old.day == new.day:
        found.append("same day")
    if old.section and old.section == new.section:
        found.append("same section path")
    return found


def _score(old: _Likeness, new: _Likeness, threshold: float = 0.0) -> tuple[float, list[str]]:
    """How likely a newcomer is a new state of an item, and why: headline similarity
    (word-level) raised by what else they agree on (summary, category, day, section),
    or the share of source links they have in common (Jaccard), whichever is higher. A
    headline pair that cannot reach `threshold` is not diffed; a vetoed pair scores -1,
    below any threshold (0 included)."""
    veto = _veto(old, new)
    if veto:
        return -1.0, [veto]
    evidence = _evidence(old, new)
    bonus = sum(EVIDENCE_WEIGHTS[reason] for reason in evidence)
    needed = max(threshold - bonus, MIN_HEADLINE_FOR_EVIDENCE) if bonus else threshold
    score, reasons = 0.0, []
    if old.headline and new.headline and _similarity_bound(old, new) >= needed:
        headline = diff.similarity(diff.diff_text(old.headline, new.headline))
        reasons.append(f"headline {headline:.2f}")
        score = headline
        if bonus and headline >= MIN_HEADLINE_FOR_EVIDENCE:
            score = min(1.0, headline + bonus)
            reasons += evidence
    if old.links and new.links:
        shared = len(old.links & new.links) / len(old.links | new.links)
        if shared > score:
            score, reasons = shared, [f"source links {shared:.2f}"]
    return score, reasons


def _similarity_bound(old: _Likeness, new: _Likeness) -> float:
    """An upper bound of the headlines' diff.similarity, without diffing them.

    Similarity is 1 - levenshtein / longer, and the levenshtein distance is at least
    longer - (characters left equal); those are at most the characters of the tokens
    both sides share. Cheap to count, and it rules out most pairs of a listing at once.
    """
    longer = max(len(old.headline), len(new.headline))
    shared = old.tokens & new.tokens
    return sum(len(token) * count for token, count in shared.items()) / longer


@lru_cache(maxsize=8192)
def _remembered_likeness(
    headline: str | None,
    sources: tuple[str, ...],
    summary: str | None,
    category: str | None,
    day: date | None,
    url: str | None,
    strong: tuple[tuple[str, str], ...],
    first_seen: date | None,
) -> _Likeness:
    return _Likeness.of(headline, sources, summary, category, day, url, dict(strong), first_seen)


@dataclass(frozen=True)
class Candidate:
    """An item that left the listing (in this check or lately), as fuzzy matching sees it."""

    item: Item
    version: Version
    strong: Mapping[str, str] = field(default_factory=dict)  # its publisher ids by kind


@dataclass(frozen=True)
class Pairing:
    newcomer: int  # position in the newcomers given
    item: Item
    score: float
    evidence: list[str]


def pair_fuzzy(
    candidates: Sequence[Candidate],
    newcomers: Sequence[Observation],
    threshold: float,
    newcomer_keys: Sequence[Sequence[tuple[str, str]]] = (),
    seen_on: date | None = None,
) -> list[Pairing]:
    """Pairings at or above the threshold, best first; each item and each newcomer is
    used at most once. newcomer_keys (identity_keys of each newcomer) give their publisher
    ids; seen_on is the day of the check (a recurring headline is told by it)."""
    if len(candidates) * len(newcomers) > MAX_FUZZY_PAIRS:
        return []
    # A departed item stays a candidate for the whole match window, check after check:
    # its likeness is worked out once (_remembered_likeness).
    old = [
        (
            candidate.item,
            _remembered_likeness(
                candidate.version.headline,
                tuple(candidate.version.sources or ()),
                candidate.version.summary,
                candidate.version.category,
                candidate.item.event_date,
                candidate.item.url,
                tuple(candidate.strong.items()),
                candidate.item.first_seen_at.date() if candidate.item.first_seen_at else None,
            ),
        )
        for candidate in candidates
    ]
    keys = list(newcomer_keys) or [[] for _ in newcomers]
    new = [
        _Likeness.of(
            observation.headline,
            observation.sources,
            observation.summary,
            observation.category,
            observation.event_date,
            observation.url,
            strong_ids(item_keys),
            seen_on,
        )
        for observation, item_keys in zip(newcomers, keys, strict=True)
    ]
    # Only pairs at the threshold are sorted: on a listing whose rows carry publisher ids
    # nearly every pair is vetoed, and sorting them all was most of the cost.
    scored = [
        (score, reasons, index, item)
        for item, likeness in old
        for index, newcomer in enumerate(new)
        for score, reasons in (_score(likeness, newcomer, threshold),)
        if score >= threshold
    ]
    scored.sort(key=lambda entry: (-entry[0], entry[2], entry[3].id or 0))
    pairs: list[Pairing] = []
    used_items: set[int] = set()
    used_newcomers: set[int] = set()
    for score, reasons, index, item in scored:
        if index in used_newcomers or item.id in used_items:
            continue
        pairs.append(Pairing(index, item, score, reasons))
        used_newcomers.add(index)
        used_items.add(item.id or 0)
    return pairs


def same_headline(a: str | None, b: str | None) -> bool:
    """The two headlines are one but for case and spacing."""
    return bool(a and b) and normalise_text(a).casefold() == normalise_text(b).casefold()


def hub_urls(observations: Sequence[Observation]) -> set[str]:
    """The URLs in a listing that are sections of other items' URLs (`/politik/` beside
    `/politik/article123/slug.html`): a row linking there is a promo for whatever story
    the section leads with, so its URL names no one item."""
    urls = {canonical_url(o.url) for o in observations if o.url}
    return {
        url
        for url in urls
        if url.endswith("/") and any(other != url and other.startswith(url) for other in urls)
    }


# The key of a row linking a section page (hub_keys), and the alias that marks the page
# itself a section page (hub_urls): once seen as one, it is one in every later check,
# with or without articles under it.
HUB = "hub"
HUB_PAGE = "hubpage"


def hub_page_aliases(observations: Sequence[Observation]) -> list[tuple[str, str]]:
    """The hub-page aliases these rows' URLs would be, were they section pages (only a
    URL that ends in a slash can be one)."""
    urls = (canonical_url(o.url) for o in observations if o.url)
    return [(HUB_PAGE, url) for url in dict.fromkeys(urls) if url.endswith("/")]


def hub_keys(observation: Observation) -> list[tuple[str, str]]:
    """A row linking to a section page is known by that page and its headline together:
    each story the slot promotes is an item of its own, never an edit of the last one."""
    assert observation.url is not None
    headline = normalise_text(observation.headline or "").casefold()
    return [(HUB, _bounded(canonical_url(observation.url) + " " + headline))]
