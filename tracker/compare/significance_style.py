"""Style-level comparison for tracker.compare.significance: the words two texts share once folded.

Folding sets case, accents, punctuation, spacing and spelled-out numbers ("eight" / "8")
aside; on top of it, what a style-only edit changed (case, quotes, an article, a typo, a
text the page cut short) and the share of words an edit changed. The substantive rules
(tracker.compare.significance_rules) build on these words.
"""

from __future__ import annotations

import re
import string
import unicodedata
from collections.abc import Callable, Sequence
from functools import lru_cache, wraps
from typing import TypeVar

from tracker.compare import diff

TYPO_MAX_CHARS = 2  # a word edit of at most this many letters is a typo
TYPO_MAX_SHARE = 0.02  # ... and all of them together at most this share of the field

T = TypeVar("T")

_PUNCTUATION = set(string.punctuation) | set("\u2018\u2019\u201a\u201c\u201d\u201e\u2013\u2014«»…")
_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")


def _vocabulary(words: str) -> frozenset[str]:
    return frozenset(words.split())


_SPELLED = {
    word: str(value)
    for value, words in {
        2: "two zwei",
        3: "three drei",
        4: "four vier",
        5: "five fünf",
        6: "six sechs",
        7: "seven sieben",
        8: "eight acht",
        9: "nine neun",
        10: "ten zehn",
        11: "eleven elf",
        12: "twelve zwölf",
        20: "twenty zwanzig",
        100: "hundred hundert",
        1000: "thousand tausend",
    }.items()
    for word in words.split()
}
_ARTICLES = _vocabulary("a an the der die das den dem des ein eine einen einem einer")
_ELLIPSIS = re.compile(r"\s*(?:\.\.\.|…)\s*$")


# --- words -------------------------------------------------------------------------------


_SHORT_TEXT = 1000


def _kept_when_short(work: Callable[[str], T]) -> Callable[[str], T]:
    """`work` of a text, kept for short texts: each rule asks again about the same two
    texts (headlines, summaries); a body is worked out afresh rather than held in memory.
    What is kept is shared: `work` returns what nobody changes (a str, a tuple)."""
    kept = lru_cache(maxsize=512)(work)

    @wraps(work)
    def worked_out(text: str) -> T:
        return kept(text) if len(text) <= _SHORT_TEXT else work(text)

    return worked_out


@_kept_when_short
def fold(text: str) -> str:
    """Text with case, accents, punctuation and spacing removed: what a style edit keeps."""
    if text.isascii():  # most headlines: one translate instead of a look-up per character
        return " ".join(text.casefold().translate(_ASCII_DROPPED).split())
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    kept = (
        ch
        for ch in decomposed
        if not unicodedata.combining(ch)
        and ch not in _PUNCTUATION
        and unicodedata.category(ch)[0] != "P"
    )
    return " ".join("".join(kept).split())


# The ASCII characters fold drops (punctuation), for its ASCII path: ASCII text has no
# accents to decompose, so dropping these is all the general path does to it.
_ASCII_DROPPED = str.maketrans(
    "",
    "",
    "".join(
        ch
        for ch in map(chr, range(128))
        if ch in _PUNCTUATION or unicodedata.category(ch)[0] == "P"
    ),
)


@_kept_when_short
def _words(text: str) -> tuple[str, ...]:
    return tuple(_WORD.findall(text))


@_kept_when_short
def _lowered_words(text: str) -> tuple[str, ...]:
    """The words in lower case, with one apostrophe ("don’t" is "don't")."""
    return tuple(word.casefold().replace("’", "'") for word in _words(text))


@_kept_when_short
def _folded_words(text: str) -> tuple[str, ...]:
    """Folded words with spelled-out numbers as figures: "eight" and "8" are one word."""
    return tuple(_SPELLED.get(w, w) for w in fold(text).split())


def _edit_distance(a: str, b: str) -> int:
    from diff_match_patch import diff_match_patch

    dmp = diff_match_patch()
    return dmp.diff_levenshtein(dmp.diff_main(a, b, False))


# --- style -------------------------------------------------------------------------------


def _style_reasons(old: str, new: str, ops: Sequence[diff.Op]) -> list[str] | None:
    """What a style-only edit changed; None when the edit is more than style."""
    a, b = _folded_words(old), _folded_words(new)
    if a == b or "".join(a) == "".join(b):
        return _cosmetics(old, new)
    if [w for w in a if w not in _ARTICLES] == [w for w in b if w not in _ARTICLES]:
        return ["article added" if len(b) > len(a) else "article removed"]
    if _typo_sized(ops, new):
        return ["typo"]
    return None


def _cut_short(old: str, new: str) -> str | None:
    """A listing that cuts a text short ("... saw startling…") is not an edit of it."""
    cut_old, cut_new = _ELLIPSIS.search(old), _ELLIPSIS.search(new)
    if cut_new and not cut_old and fold(old).startswith(fold(new[: cut_new.start()])):
        return "cut short by the page"
    if cut_old and not cut_new and fold(new).startswith(fold(old[: cut_old.start()])):
        return "no longer cut short"
    return None


def _cosmetics(old: str, new: str) -> list[str]:
    """Which kinds of style change turn `old` into `new`."""
    gone, came = set(_words(old)) - set(_words(new)), set(_words(new)) - set(_words(old))
    found = []
    if {w.casefold() for w in gone} & {w.casefold() for w in came}:
        found.append("case")
    if {_strip_accents(w) for w in gone} & {_strip_accents(w) for w in came}:
        found.append("accents")
    if any(w.casefold() in _SPELLED for w in gone | came):
        found.append("spelled-out number")
    for name, chars in (("quotes", "\"“”„«»‟'‘’‚"), ("dashes", "-–—"), ("punctuation", ".,:;!…")):
        if [ch for ch in old if ch in chars] != [ch for ch in new if ch in chars]:
            found.append(name)
    respaced = "".join(old.split()) == "".join(new.split()) and old.split() != new.split()
    if respaced or _folded_words(old) != _folded_words(new):  # "any more" -> "anymore"
        found.append("spacing")
    return found or ["spacing"]


def _strip_accents(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def _typo_sized(ops: Sequence[diff.Op], new: str) -> bool:
    """Every word edit at most two letters, all of them at most 2 % of the field."""
    edits = _word_edits(ops)
    if not edits:
        return False
    if any(abs(len(fold(o)) - len(fold(n))) > TYPO_MAX_CHARS for o, n in edits):
        return False  # no need to run the (pure-Python) edit distance on a long stretch
    distances = [_edit_distance(fold(o), fold(n)) for o, n in edits]
    budget = max(TYPO_MAX_CHARS, TYPO_MAX_SHARE * len(fold(new)))
    return max(distances) <= TYPO_MAX_CHARS and sum(distances) <= budget


def _word_edits(ops: Sequence[diff.Op]) -> list[tuple[str, str]]:
    """The runs of edits between equal parts, as (deleted text, inserted text) pairs."""
    edits: list[tuple[str, str]] = []
    deleted = inserted = ""
    for op, text in [*ops, (diff.EQUAL, "")]:
        if op == diff.DELETE:
            deleted += text
        elif op == diff.INSERT:
            inserted += text
        elif deleted or inserted:
            edits.append((deleted, inserted))
            deleted = inserted = ""
    return edits


def changed_share(ops: Sequence[diff.Op]) -> float:
    """The share of words changed, counting only edits that change the folded words."""
    total = len(_folded_words(diff.old_text(ops))) + len(_folded_words(diff.new_text(ops)))
    if total == 0:
        return 0.0
    changed = 0
    for deleted, inserted in _word_edits(ops):
        gone, came = _folded_words(deleted), _folded_words(inserted)
        if gone != came:
            changed += len(gone) + len(came)
    return min(1.0, changed / total)
