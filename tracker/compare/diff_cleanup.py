"""diff-match-patch's semantic cleanup, run on a diff of token placeholders (tracker.compare.diff).

tracker.compare.diff maps each distinct token to one character and diffs those strings; the cleanup
here is dmp's, made token-aware (boundaries are scored on the real tokens) and linear in
time (dmp's first pass is quadratic on a rewritten article). Also the op alphabet both use.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from diff_match_patch import diff_match_patch

Op = tuple[int, str]  # diff-match-patch's ops: -1 delete, 0 equal, 1 insert

DELETE, EQUAL, INSERT = -1, 0, 1

_BLANK_LINE_END = re.compile(r"\n\r?\n$")
_BLANK_LINE_START = re.compile(r"^\r?\n\r?\n")


class _TokenDmp(diff_match_patch):
    """dmp's semantic cleanup of a diff of placeholder strings, each character a token."""

    def __init__(self, table: Sequence[str | None]) -> None:
        super().__init__()
        self.table = table  # code point of a placeholder -> its token

    def diff_cleanupSemantic(self, diffs: list[Op]) -> None:
        """dmp's diff_cleanupSemantic, same result, in linear rather than quadratic time.

        dmp's first pass rescans from the start of the diff (and shifts the list) each time
        it eliminates an equality, which takes seconds on a fully rewritten article; see
        _eliminate_equalities. The later passes are dmp's, with the token-aware lossless
        shift below.
        """
        merged = _eliminate_equalities(diffs)
        if merged is not None:
            self.diff_cleanupMerge(merged)
            diffs[:] = merged
        self.diff_cleanupSemanticLossless(diffs)
        self._extract_overlaps(diffs)

    def _extract_overlaps(self, diffs: list[Op]) -> None:
        """dmp's last cleanup step: a deletion and insertion that overlap by at least half
        of either become delete, equal, insert (or insert, equal, delete):
        -abcxxx +xxxdef -> -abc =xxx +def; -xxxabc +defxxx -> +def =xxx -abc.
        """
        i = 1
        while i < len(diffs):
            (op1, deletion), (op2, insertion) = diffs[i - 1], diffs[i]
            if op1 == DELETE and op2 == INSERT:
                if (
                    deletion
                    and insertion
                    and deletion[-1] not in insertion
                    and insertion[-1] not in deletion
                ):
                    i += 2  # no overlap either way (a shortcut: dmp would find both 0)
                    continue
                ahead = self.diff_commonOverlap(deletion, insertion)
                behind = self.diff_commonOverlap(insertion, deletion)
                if ahead >= behind:
                    if 2 * ahead >= len(deletion) or 2 * ahead >= len(insertion):
                        diffs[i - 1 : i + 1] = [
                            (DELETE, deletion[: len(deletion) - ahead]),
                            (EQUAL, insertion[:ahead]),
                            (INSERT, insertion[ahead:]),
                        ]
                        i += 1
                elif 2 * behind >= len(deletion) or 2 * behind >= len(insertion):
                    diffs[i - 1 : i + 1] = [
                        (INSERT, insertion[: len(insertion) - behind]),
                        (EQUAL, deletion[:behind]),
                        (DELETE, deletion[behind:]),
                    ]
                    i += 1
                i += 1
            i += 1

    def diff_cleanupSemanticLossless(self, diffs: list[Op]) -> None:
        """dmp's sideways shift of lone edits to the nicest boundary, one token at a time.

        dmp's own version scores the characters beside each boundary; here those are
        placeholders, so this port scores the real tokens instead.
        """
        for i in range(1, len(diffs) - 1):
            (op1, left), (op, edit), (op2, right) = diffs[i - 1 : i + 2]
            if op1 != EQUAL or op2 != EQUAL or op == EQUAL or not edit:
                continue
            common = self.diff_commonSuffix(left, edit)
            if common:  # shift the edit as far left as it goes
                moved = edit[-common:]
                left, edit, right = left[:-common], moved + edit[:-common], moved + right
            best = (self._score(left, edit) + self._score(edit, right), left, edit, right)
            while edit and right and edit[0] == right[0]:
                left, edit, right = left + edit[0], edit[1:] + right[0], right[1:]
                score = self._score(left, edit) + self._score(edit, right)
                if score >= best[0]:  # ">=": prefer trailing over leading whitespace, like dmp
                    best = (score, left, edit, right)
            diffs[i - 1 : i + 2] = [(EQUAL, best[1]), (op, best[2]), (EQUAL, best[3])]
        diffs[:] = [d for d in diffs if d[1]]

    def _score(self, one: str, two: str) -> int:
        """dmp's boundary score (6 best, 1 worst here) between the tokens either side."""
        if not one or not two:
            return 6
        before, after = self.table[ord(one[-1])], self.table[ord(two[0])]
        c1, c2 = before[-1], after[0]
        space1, space2 = c1.isspace(), c2.isspace()
        if _BLANK_LINE_END.search(before) or _BLANK_LINE_START.match(after):
            return 5
        if c1 in "\r\n" or c2 in "\r\n":
            return 4
        if not c1.isalnum() and not space1 and space2:
            return 3  # end of a sentence
        if space1 or space2:
            return 2
        return 1  # two different tokens touch: a word and a symbol, or two symbols


def _eliminate_equalities(diffs: Sequence[Op]) -> list[Op] | None:
    """The first pass of dmp's diff_cleanupSemantic, in linear time; None if it changes nothing.

    dmp walks the ops keeping a stack of equalities. After each edit it checks whether the
    equality on top of the stack is no longer than the edits on both sides of it (the larger
    of the deleted and inserted lengths on each side); if so that equality becomes a delete
    plus an insert, the top two equalities are popped, and the walk resumes just after the
    new top of the stack, or from the first op if the stack is empty, with the counts reset.

    Here each run of edits between two remaining equalities is kept as totals. The check is
    the same at its last edit as at any earlier one where it could first succeed (the counts
    after the equality only grow), and what an elimination does does not depend on where in
    the run it fires, so one check per run decides the same eliminations; a restart from the
    first op jumps straight to the first remaining equality with the leading run's totals,
    as dmp's rescan of those (equality-free) ops would count them.

    The result is dmp's list before its diff_cleanupMerge, except that each run holding an
    eliminated equality is given as one delete and one insert (its texts joined in order),
    which diff_cleanupMerge turns into exactly what it makes of the unjoined run.
    """
    if len(diffs) < 3:
        return None
    eq_at: list[int] = []  # where the equalities are
    lengths: list[int] = []  # and how long
    # Run k: the deleted and inserted lengths just before remaining equality k, or at the end.
    ins, dels = [0], [0]
    for i, (op, text) in enumerate(diffs):
        if op == EQUAL:
            eq_at.append(i)
            lengths.append(len(text))
            ins.append(0)
            dels.append(0)
        elif op == INSERT:
            ins[-1] += len(text)
        else:
            dels[-1] += len(text)
    count = len(eq_at)
    if not count:
        return None
    after = list(range(1, count + 1))  # the next remaining equality (count: none)
    before = list(range(-1, count))  # the previous remaining equality (-1: none)
    first = 0
    eliminated = [False] * count
    stack: list[int] = []
    run = last = ins1 = dels1 = ins2 = dels2 = 0
    changed = False
    while True:
        # A run without edits adds nothing, and after an equality or a reset the counts
        # are 0, so checking it as if it had edits decides the same.
        ins2 += ins[run]
        dels2 += dels[run]
        if (
            last
            and last <= (ins1 if ins1 > dels1 else dels1)
            and last <= (ins2 if ins2 > dels2 else dels2)
        ):
            top = stack.pop()
            eliminated[top] = changed = True
            prev, nxt = before[top], after[top]
            ins[nxt] += ins[top] + last  # join the runs either side and the equality
            dels[nxt] += dels[top] + last
            if prev >= 0:
                after[prev] = nxt
            else:
                first = nxt
            before[nxt] = prev
            if stack:
                stack.pop()  # to be reevaluated
            run = after[stack[-1]] if stack else first
            last = ins1 = dels1 = ins2 = dels2 = 0
            continue
        if run == count:
            break
        stack.append(run)
        ins1, dels1, ins2, dels2 = ins2, dels2, 0, 0
        last = lengths[run]
        run = after[run]
    if not changed:
        return None
    out: list[Op] = []
    start, joined = 0, False
    for k, end in enumerate([*eq_at, len(diffs)]):
        if k < count and eliminated[k]:
            joined = True
            continue
        if joined:
            segment = diffs[start:end]
            out.append((DELETE, "".join([text for op, text in segment if op != INSERT])))
            out.append((INSERT, "".join([text for op, text in segment if op != DELETE])))
        else:
            out += diffs[start:end]
        if k < count:
            out.append(diffs[end])
        start, joined = end + 1, False
    return out
