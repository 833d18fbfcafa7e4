"""Article body diffs: paragraphs aligned first, then sentences, words only where they changed.

A body is split into paragraphs (the line breaks between them are units of their own), each
distinct paragraph becomes one placeholder character and diff-match-patch aligns the two
placeholder strings, as tracker.compare.diff does with words. Unchanged paragraphs are never
tokenized. Inside each run of changed paragraphs the same is done with sentences, and only
the sentences that changed are diffed word by word (tracker.compare.diff), so a rewritten sentence
never borrows "the" and "of" from the next one, and a long article costs little more than
the paragraphs that changed.

A paragraph deleted in one place and inserted unchanged in another has moved: it is given
as one delete op and one insert op holding exactly its text, never merged with the edits
around it, and find_moves pairs the two so views show a move rather than a deletion and
an insertion. The ops stay diff-match-patch's (-1, 0, 1): their old and new sides join to
the two bodies, as every diff's do. A paragraph that moved and was also edited shows as
deleted and inserted.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Sequence

from tracker.compare import diff
from tracker.compare.diff import DELETE, EQUAL, INSERT, Op

RawDiff = Callable[[str, str], list[Op]]

# A line break and the whitespace after it: what separates two paragraphs (a literal
# first character lets the regex engine skip to each newline).
_PARAGRAPH_BREAK = re.compile(r"(\n\s*)")
# A sentence: from a non-space up to . ! ? or … (with closing quotes or brackets) followed
# by whitespace or the end, with the whitespace after it; or a run of whitespace. "3.5" and
# "U.S." inside a sentence do not end it; "Mr. Smith" does, which only makes units smaller.
_SENTENCE = re.compile(r"\S.*?(?:[.!?…]+[\"'”’»)\]]*(?=\s|$)|$)\s*|\s+", re.S)
# A deleted and an inserted paragraph with the same text are a move if it is at least this
# long (stripped): shorter ones ("Advertisement", "Related") are too common to mean one.
MIN_MOVE_CHARS = 20
# Word diffs inside one body together do at most the work of one diff of this many
# characters (O(n*d) <= n*n); blocks after that are one deletion and one insertion, as
# tracker.compare.diff does for very long texts.
WORK_CHARS = diff.MAX_DIFF_TOKENS


def split_paragraphs(text: str) -> list[str]:
    """Paragraphs and the line breaks between them, in order; joined they give text back."""
    return [unit for unit in _PARAGRAPH_BREAK.split(text) if unit]


def split_sentences(text: str) -> list[str]:
    """Sentences, each with the whitespace after it; joined they give text back."""
    return _SENTENCE.findall(text)


def diff_body(old: str, new: str) -> list[Op]:
    """Paragraph-aligned diff of two article bodies (see the module docstring)."""
    return _diff_body(old, new, diff._raw_diff)  # read per call: C++ when installed


def _diff_body(old: str, new: str, raw_diff: RawDiff) -> list[Op]:
    if old == new:
        return [(EQUAL, old)] if old else []
    runs = _align(split_paragraphs(old), split_paragraphs(new), raw_diff)
    moved = _moved_paragraphs(runs)
    budget = [WORK_CHARS * WORK_CHARS]
    segments: list[list[Op]] = [[]]  # ordinary ops, split at moved paragraphs
    for old_units, new_units in runs:
        if old_units is new_units:  # an equal run
            segments[-1].append((EQUAL, "".join(old_units)))
            continue
        for op, piece in _changed_block(old_units, new_units, moved):
            if isinstance(piece, str):  # a moved paragraph: an op of its own
                segments += [[(op, piece)], []]
            else:
                segments[-1] += _diff_sentences(piece[0], piece[1], raw_diff, budget)
    ops: list[Op] = []
    for segment in segments:
        ops += diff._canonical(segment)
    return ops


def _align(
    old_units: list[str], new_units: list[str], raw_diff: RawDiff
) -> list[tuple[list[str], list[str]]]:
    """The two unit lists as runs: (same list twice) for an equal run, else (deleted units,
    inserted units) for each stretch between two equal runs."""
    try:
        (old_chars, new_chars), table = diff.encode_units([old_units, new_units])
    except ValueError:  # more distinct units than placeholders: one changed block
        return [(old_units, new_units)]
    runs: list[tuple[list[str], list[str]]] = []
    deleted: list[str] = []
    inserted: list[str] = []
    for op, chars in raw_diff(old_chars, new_chars):
        units = [table[ord(ch)] or "" for ch in chars]
        if op == DELETE:
            deleted += units
        elif op == INSERT:
            inserted += units
        else:
            if deleted or inserted:
                runs.append((deleted, inserted))
                deleted, inserted = [], []
            runs.append((units, units))
    if deleted or inserted:
        runs.append((deleted, inserted))
    return runs


def _is_paragraph(unit: str) -> bool:
    return len(unit.strip()) >= MIN_MOVE_CHARS


def _moved_paragraphs(runs: Sequence[tuple[list[str], list[str]]]) -> Counter[str]:
    """Paragraph texts deleted somewhere and inserted somewhere (as often as both)."""
    deleted: Counter[str] = Counter()
    inserted: Counter[str] = Counter()
    for old_units, new_units in runs:
        if old_units is not new_units:
            deleted.update(filter(_is_paragraph, old_units))
            inserted.update(filter(_is_paragraph, new_units))
    return deleted & inserted


def _changed_block(
    old_units: list[str], new_units: list[str], moved: Counter[str]
) -> list[tuple[int, str | tuple[str, str]]]:
    """One changed block in order: (DELETE or INSERT, text) for a moved paragraph, and
    (EQUAL, (old text, new text)) for each stretch between moved paragraphs to diff.

    Each side is read in its own order, so the ops' old and new sides still join to the
    bodies; a move is counted off on each side as it is met. A moved paragraph takes the
    line break after it along, or if it has none in the block the one before it, so no
    bare line break is left deleted or inserted beside it."""
    # Copies, counted off as met (most blocks have no move: then nothing to copy).
    gone, came = (moved.copy(), moved.copy()) if moved else (moved, moved)
    out: list[tuple[int, str | tuple[str, str]]] = []
    i = j = 0
    while i < len(old_units) or j < len(new_units):
        if (end := _move_end(old_units, i, gone)) is not None:
            out.append((DELETE, "".join(old_units[i:end])))
            i = end
        elif (end := _move_end(new_units, j, came)) is not None:
            out.append((INSERT, "".join(new_units[j:end])))
            j = end
        else:
            i2, j2 = i, j
            while i2 < len(old_units) and _move_end(old_units, i2, gone, count=False) is None:
                i2 += 1
            while j2 < len(new_units) and _move_end(new_units, j2, came, count=False) is None:
                j2 += 1
            out.append((EQUAL, ("".join(old_units[i:i2]), "".join(new_units[j:j2]))))
            i, j = i2, j2
    return out


def _is_break(unit: str) -> bool:
    return not unit.strip()


def _move_end(units: list[str], at: int, moves: Counter[str], count: bool = True) -> int | None:
    """Where the moved paragraph starting at `at` ends (with the line break after it, or
    if it has none the one before it, which then starts at `at`); None if none starts
    there. count: take the paragraph off `moves`."""
    found = None
    if at < len(units) and moves[units[at]] > 0:
        found = at
        end = at + 2 if at + 1 < len(units) and _is_break(units[at + 1]) else at + 1
    elif (
        at + 1 < len(units)
        and _is_break(units[at])
        and moves[units[at + 1]] > 0
        and not (at + 2 < len(units) and _is_break(units[at + 2]))
    ):
        found, end = at + 1, at + 2
    if found is None:
        return None
    if count:
        moves[units[found]] -= 1
    return end


def _diff_sentences(old: str, new: str, raw_diff: RawDiff, budget: list[int]) -> list[Op]:
    """Changed paragraphs: sentences aligned, words diffed only inside changed sentences."""
    if not old or not new:
        return [(DELETE, old)] if old else [(INSERT, new)] if new else []
    ops: list[Op] = []
    for old_units, new_units in _align(split_sentences(old), split_sentences(new), raw_diff):
        a, b = "".join(old_units), "".join(new_units)
        if old_units is new_units:
            ops.append((EQUAL, a))
        elif not a or not b:
            ops.append((DELETE, a) if a else (INSERT, b))
        else:
            size = len(a) + len(b)  # no more tokens than characters
            if size * size <= budget[0]:
                budget[0] -= size * size
                ops += diff._diff_text(a, b, raw_diff)
            else:  # the work allowed is spent: one replacement (each side still exact)
                ops += [(DELETE, a), (INSERT, b)]
    return ops


def find_moves(ops: Sequence[Op]) -> dict[int, int]:
    """Moved paragraphs in ops: the index of each such delete op → its insert op's index,
    and back. A delete and an insert of the same text (MIN_MOVE_CHARS or longer, whitespace
    around it aside) pair up, first with first."""
    waiting: dict[str, list[int]] = {}
    for index, (op, text) in enumerate(ops):
        if op == DELETE and _is_paragraph(text):
            waiting.setdefault(text.strip(), []).append(index)
    pairs: dict[int, int] = {}
    for index, (op, text) in enumerate(ops):
        if op == INSERT and waiting.get(text.strip()):
            gone = waiting[text.strip()].pop(0)
            pairs[gone], pairs[index] = index, gone
    return pairs
