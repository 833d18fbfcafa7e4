"""How a change's diff is kept: unchanged runs as their length, read back from a version.

A change's diff ({field: [[op, text], ...]}, diff-match-patch ops: -1 deleted, 0 kept,
1 inserted) is read by every feed, page and API answer, so it is stored rather than
worked out again. Its old side (the kept and deleted runs, in order) is the field's value
in the change's from-version, which is stored anyway: a kept run is stored as its length
in characters, [0, 1834], and read back from that version. A five-word edit of a long
article body then costs a few dozen bytes, not the body again. Deleted and inserted runs
keep their text, so a stored diff still says what changed without the version.

A field whose old side is not the from-version's text (a list of tags or links, diffed
entry by entry) is stored whole, and so is every field when no from-version is given.
Versions are never rewritten in place (a merge or split writes its changes anew), so a
stored diff always fits its from-version; should one not, its kept runs read as "…"
rather than as wrong text.
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger(__name__)

StoredOps = list[list[Any]]  # [[op, text or length], ...]
KEPT = 0
INSERTED = 1
ELIDED = "…"  # a kept run that cannot be read back


def old_value(before: Any, field: str) -> Any:
    """The field's value in the from-version `before` (a Version or a plain row), as its
    diff's old side reads it: a field the version does not have is empty."""
    value = getattr(before, field, None)
    return "" if value is None else value


def pack(diff: dict[str, StoredOps], before: Any | None) -> dict[str, StoredOps]:
    """The diff as stored: each field whose old side is `before`'s text with its kept
    runs as their lengths; any other field as it is."""
    if before is None:
        return diff
    return {field: _pack(ops, old_value(before, field)) for field, ops in diff.items()}


def _pack(ops: StoredOps, old: Any) -> StoredOps:
    if not isinstance(old, str) or "".join(t for op, t in ops if op != INSERTED) != old:
        return ops
    return [[op, len(text)] if op == KEPT else [op, text] for op, text in ops]


def is_packed(stored: dict[str, StoredOps]) -> bool:
    """Whether reading the diff back needs its from-version (a kept run is a length)."""
    return any(isinstance(value, int) for ops in stored.values() for _, value in ops)


def unpack(stored: dict[str, StoredOps], before: Any | None) -> dict[str, StoredOps]:
    """The whole diff again, kept runs stored as lengths read back from `before` (the
    change's from-version). A field that does not fit it (no version given, or another
    one) keeps its deleted and inserted text, its kept runs shown as ELIDED."""
    whole: dict[str, StoredOps] = {}
    for field, ops in stored.items():
        try:
            whole[field] = _unpack(ops, None if before is None else old_value(before, field))
        except ValueError:
            log.warning("a stored diff of %s does not fit its from-version", field)
            whole[field] = [[op, ELIDED if isinstance(v, int) else v] for op, v in ops]
    return whole


def _unpack(ops: StoredOps, old: Any) -> StoredOps:
    if all(isinstance(value, str) for _, value in ops):
        return ops
    if not isinstance(old, str):
        raise ValueError("no from-version text")
    whole: StoredOps = []
    at = 0
    for op, value in ops:
        if op == INSERTED:
            if not isinstance(value, str):
                raise ValueError("an inserted run without its text")
            whole.append([op, value])
            continue
        size = value if isinstance(value, int) else len(value)
        text = old[at : at + size]
        if len(text) != size or (isinstance(value, str) and text != value):
            raise ValueError("the diff does not fit the from-version's text")
        at += size
        whole.append([op, text])
    if at != len(old):
        raise ValueError("the diff does not fit the from-version's text")
    return whole
