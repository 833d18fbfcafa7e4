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
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from storage import Item, Version
from tracker import diff
from tracker.errors import ExtractError, UserError
from tracker.extract.base import Observation
from tracker.normalise import canonical_urls, normalise_text

DEFAULT_MATCH_THRESHOLD = 0.6
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

    @classmethod
    def for_source(cls, kind: str, options: Mapping[str, Any]) -> Rules:
        pattern = options.get("id_pattern")
        threshold = float(options.get("match_threshold", DEFAULT_MATCH_THRESHOLD))
        renditions = OFFSTREAM_RENDITIONS if kind == "offstream" else ()
        return cls(re.compile(pattern) if pattern else None, threshold, renditions)


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
    observation: Observation, page_urls: Sequence[str] = (), rules: Rules = Rules()
) -> list[tuple[str, str]]:
    """The aliases that decide which item this is, strongest kind only.

    In order: a guid (entries of a live page share one link but keep their own
    guids); for pages served in several renditions (Offstream's .md and .html),
    every URL the item has had without its suffix; an id the source's --id-pattern
    finds in a URL; every URL the item has had; its source links (bullets with no
    page of their own); its headline.
    """
    if observation.guid:
        return [("guid", observation.guid)]
    urls = known_urls(observation, page_urls)
    if rules.renditions:
        # One page in several renditions is one item: it is known by its stem.
        stems = [page_stem(url, rules.renditions) for url in urls]
        if any(stems):
            return [("page", stem) for stem in dict.fromkeys(stems) if stem]
    if rules.id_pattern:
        ids = [_pattern_id(rules.id_pattern, url) for url in urls]
        found = [("id", value) for value in dict.fromkeys(ids) if value]
        if found:
            return found
    if urls:
        return [("url", url) for url in urls]
    links = source_links(observation.sources)
    if links:
        return [("source", link) for link in links]
    if observation.headline:
        return fallback_keys(observation)
    raise ExtractError("an item with no id, URL, source link or headline cannot be followed")


def fallback_keys(observation: Observation) -> list[tuple[str, str]]:
    """The headline as a key, for an item whose stronger keys another item of the same
    check has already claimed; [] when it has no headline."""
    if not observation.headline:
        return []
    key = normalise_text(observation.headline).casefold()
    if len(key.encode()) > MAX_KEY_BYTES:  # an index entry has a size limit (PostgreSQL)
        key = "sha256:" + hashlib.sha256(key.encode()).hexdigest()
    return [("title", key)]


def _pattern_id(pattern: re.Pattern[str], url: str) -> str | None:
    match = pattern.search(url)
    if not match:
        return None
    return match.group(1) if match.groups() else match.group(0)


@dataclass(frozen=True)
class _Likeness:
    """What fuzzy matching compares of an item or a newcomer, worked out once per side."""

    headline: str
    tokens: Counter[str]
    links: frozenset[str]

    @classmethod
    def of(cls, headline: str | None, sources: Sequence[str] | None) -> _Likeness:
        text = normalise_text(headline) if headline else ""
        return cls(text, Counter(diff.tokenize(text)), frozenset(source_links(sources)))


def _score(old: _Likeness, new: _Likeness, threshold: float = 0.0) -> float:
    """How likely a newcomer is a new state of an item: the better of headline similarity
    (word-level) and shared source links (Jaccard). A headline pair that cannot reach
    `threshold` is not diffed (scores 0)."""
    score = 0.0
    if old.headline and new.headline and _similarity_bound(old, new) >= threshold:
        score = diff.similarity(diff.diff_text(old.headline, new.headline))
    if old.links and new.links:
        score = max(score, len(old.links & new.links) / len(old.links | new.links))
    return score


def _similarity_bound(old: _Likeness, new: _Likeness) -> float:
    """An upper bound of the headlines' diff.similarity, without diffing them.

    Similarity is 1 - levenshtein / longer, and the levenshtein distance is at least
    longer - (characters left equal); those are at most the characters of the tokens
    both sides share. Cheap to count, and it rules out most pairs of a listing at once.
    """
    longer = max(len(old.headline), len(new.headline))
    shared = old.tokens & new.tokens
    return sum(len(token) * count for token, count in shared.items()) / longer


def pair_fuzzy(
    candidates: Sequence[tuple[Item, Version]],
    newcomers: Sequence[Observation],
    threshold: float,
) -> list[tuple[int, Item, float]]:
    """Pairs (newcomer index, item, score) at or above the threshold, best pairs first;
    each item and each newcomer is used at most once."""
    if len(candidates) * len(newcomers) > MAX_FUZZY_PAIRS:
        return []
    old = [(item, _Likeness.of(version.headline, version.sources)) for item, version in candidates]
    new = [_Likeness.of(observation.headline, observation.sources) for observation in newcomers]
    scored = sorted(
        (
            (_score(likeness, newcomer, threshold), index, item)
            for item, likeness in old
            for index, newcomer in enumerate(new)
        ),
        key=lambda entry: (-entry[0], entry[1], entry[2].id or 0),
    )
    pairs: list[tuple[int, Item, float]] = []
    used_items: set[int] = set()
    used_newcomers: set[int] = set()
    for score, index, item in scored:
        if score < threshold:
            break
        if index in used_newcomers or item.id in used_items:
            continue
        pairs.append((index, item, score))
        used_newcomers.add(index)
        used_items.add(item.id or 0)
    return pairs
