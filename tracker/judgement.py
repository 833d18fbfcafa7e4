"""Judging an edit: how similar the two versions are, and whether the edit is minor.

A change is "minor" when every changed field differs only by case, punctuation,
whitespace or accents, or by typo-sized word edits (each at most two characters,
together at most 2 % of the field); anything else is "substantive". Short fields
that changed almost entirely are shown as one old → new replacement rather than
confetti of scattered word edits.
"""

from __future__ import annotations

import string
import unicodedata
from collections.abc import Mapping, Sequence

from tracker import diff

MINOR, SUBSTANTIVE = "minor", "substantive"

# A word edit is typo-sized when at most this many characters change; all of a
# field's word edits together may change at most this share of it (or TYPO_MAX_CHARS).
TYPO_MAX_CHARS = 2
TYPO_MAX_SHARE = 0.02

# A field at most this long whose similarity is below the threshold is shown whole.
SHORT_FIELD_CHARS = 300
REPLACE_BELOW_SIMILARITY = 0.5

_PUNCTUATION = set(string.punctuation) | {
    "\u2018",
    "\u2019",
    "\u201c",
    "\u201d",
    "\u2013",
    "\u2014",
}


def fold(text: str) -> str:
    """Text with case, accents, punctuation and spacing removed: what a minor edit keeps."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    kept = (
        ch
        for ch in decomposed
        if not unicodedata.combining(ch)
        and ch not in _PUNCTUATION
        and unicodedata.category(ch)[0] != "P"
    )
    return " ".join("".join(kept).split())


def _edit_distance(a: str, b: str) -> int:
    """Character Levenshtein distance (diff-match-patch's, over a character diff)."""
    from diff_match_patch import diff_match_patch

    dmp = diff_match_patch()
    return dmp.diff_levenshtein(dmp.diff_main(a, b, False))


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


def field_is_minor(ops: Sequence[diff.Op]) -> bool:
    """Whether a changed field's edit is minor (see the module docstring)."""
    if isinstance(ops, diff.ListOps):
        removed = {fold(e) for op, e in ops if op == diff.DELETE}
        added = {fold(e) for op, e in ops if op == diff.INSERT}
        return removed == added
    if fold(diff.old_text(ops)) == fold(diff.new_text(ops)):
        return True
    edits = list(_word_edits(ops))
    # A stretch whose lengths differ by more than a typo cannot be one: no need to run
    # the (pure-Python) edit distance on it, which a rewritten article makes slow.
    if any(abs(len(fold(old)) - len(fold(new))) > TYPO_MAX_CHARS for old, new in edits):
        return False
    distances = [_edit_distance(fold(old), fold(new)) for old, new in edits]
    budget = max(TYPO_MAX_CHARS, TYPO_MAX_SHARE * len(fold(diff.new_text(ops))))
    return max(distances) <= TYPO_MAX_CHARS and sum(distances) <= budget


def classify(field_ops: Mapping[str, Sequence[diff.Op]]) -> str | None:
    """ "minor", "substantive", or None when no field changed."""
    changed = [ops for ops in field_ops.values() if diff.changed(ops)]
    if not changed:
        return None
    return MINOR if all(field_is_minor(ops) for ops in changed) else SUBSTANTIVE


def readable(ops: list[diff.Op]) -> list[diff.Op]:
    """A short field that changed almost entirely as one whole replacement; else as is."""
    if isinstance(ops, diff.ListOps) or not diff.changed(ops):
        return ops
    old, new = diff.old_text(ops), diff.new_text(ops)
    if max(len(old), len(new)) > SHORT_FIELD_CHARS:
        return ops
    if diff.similarity(ops) >= REPLACE_BELOW_SIMILARITY:
        return ops
    return [(op, text) for op, text in ((diff.DELETE, old), (diff.INSERT, new)) if text]
