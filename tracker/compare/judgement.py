"""How an edit is shown: short fields that changed almost entirely as one old → new
replacement rather than confetti of scattered word edits. (How much an edit matters is
tracker/compare/significance.py.)
"""

from __future__ import annotations

from tracker.compare import diff

# A field at most this long whose similarity is below the threshold is shown whole.
SHORT_FIELD_CHARS = 300
REPLACE_BELOW_SIMILARITY = 0.5


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
