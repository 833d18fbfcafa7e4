"""Word-level diffs between versions of a news item (rendering them is tracker.present.render).

Texts are split into tokens (words, whitespace runs, single punctuation characters), each
distinct token is mapped to one placeholder character, and diff-match-patch diffs the
placeholder strings, so every edit covers whole tokens. List fields (tags, sources) are
compared as sets. Ops are diff-match-patch's ``(op, text)`` tuples: -1 delete, 0 equal,
1 insert.

The raw diff of the placeholder strings, the O(n*d) part, runs in the C++ build of
diff-match-patch (``fast-diff-match-patch``) when it is installed, else in the pure-Python
library: the two are ports of the same algorithm and, with no time limit and no line mode,
return the same ops. The token-aware semantic cleanup afterwards (tracker.compare.diff_cleanup) is
Python in both cases.
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_left
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from itertools import chain

from diff_match_patch import diff_match_patch

# The op alphabet is defined beside the cleanup, which must not import this module back.
from tracker.compare.diff_cleanup import DELETE, EQUAL, INSERT, Op, _TokenDmp
from tracker.errors import RedlineError

try:
    from fast_diff_match_patch import diff as _cpp_diff
except ImportError:  # pragma: no cover - the pure-Python path below is used instead
    _cpp_diff = None

FieldValue = str | list[str] | None  # None means "unknown"

# A word run, a whitespace run, or any other single character (newlines included). No
# character is both \w and \s, so the order of the first two only matters for speed.
_TOKEN_RE = re.compile(r"\s+|\w+|.", re.DOTALL)
_SURROGATES = 0xE000 - 0xD800  # placeholder indexes skip U+D800..U+DFFF
_MAX_TOKENS = 0x110000 - _SURROGATES  # distinct tokens that have a placeholder
_ASCII_RUNS = re.compile(r"[\x00-\x7f]+")
_SURROGATE = re.compile("[\ud800-\udfff]")

_DMP = diff_match_patch()  # used for levenshtein and patches only; holds no per-call state


class ListOps(list[Op]):
    """Ops from diff_list: one op per entry, rendered one entry per line."""


def _is_mark(ch: str) -> bool:
    return unicodedata.category(ch)[0] == "M"


def _is_wordish(ch: str) -> bool:
    # `\w` is exactly isalnum() or "_"; combining marks (e.g. Devanagari vowel signs) are not.
    return ch.isalnum() or ch == "_" or _is_mark(ch)


def _has_mark(text: str) -> bool:
    if text.isascii():
        return False
    return any(_is_mark(ch) for ch in set(_ASCII_RUNS.sub("", text)))


def tokenize(text: str) -> list[str]:
    """Split text into word, whitespace and single-symbol tokens; joining them gives text back.

    Combining marks stay inside the word they modify (decomposed "é", Hindi vowel signs).
    """
    found = _TOKEN_RE.findall(text)
    return _join_marks(found) if _has_mark(text) else found


def _join_marks(found: list[str]) -> list[str]:
    """Join regex tokens where a combining mark (always a token of its own) meets a word."""
    tokens: list[str] = []
    for tok in found:
        prev = tokens[-1] if tokens else ""
        if (
            prev
            and _is_wordish(prev[-1])
            and _is_wordish(tok[0])
            and (_is_mark(prev[-1]) or _is_mark(tok[0]))
        ):
            tokens[-1] = prev + tok
        else:
            tokens.append(tok)
    return tokens


def _encode_tokens(texts: Sequence[str]) -> tuple[list[str], list[str | None]]:
    """Map each distinct token to one character; return the encoded texts and a table from
    each placeholder's code point to its token (None at the skipped surrogates).

    Placeholders are given in order of first appearance, from U+0000 up, skipping surrogates.
    """
    tokenized = list(map(_TOKEN_RE.findall, texts))
    distinct = dict.fromkeys(chain.from_iterable(tokenized))
    # As tokenize, but checking the distinct tokens for marks rather than the whole texts.
    if not all(map(str.isascii, texts)) and _has_mark("".join(distinct)):
        tokenized = list(map(_join_marks, tokenized))
        distinct = dict.fromkeys(chain.from_iterable(tokenized))
    return encode_units(tokenized, distinct)


def encode_units(
    sequences: Sequence[Sequence[str]], distinct: Mapping[str, None] | None = None
) -> tuple[list[str], list[str | None]]:
    """Map each distinct unit (a token, a sentence, a paragraph) to one character: the
    encoded sequences, and a table from each placeholder's code point to its unit.

    distinct: the units in order of first appearance, if the caller has them already.
    """
    if distinct is None:
        distinct = dict.fromkeys(chain.from_iterable(sequences))
    table: list[str | None] = list(distinct)
    count = len(table)
    if count <= 0xD800:
        placeholders = map(chr, range(count))
    elif count <= _MAX_TOKENS:
        placeholders = map(chr, chain(range(0xD800), range(0xE000, count + _SURROGATES)))
        table[0xD800:0xD800] = [None] * _SURROGATES
    else:
        raise ValueError("too many distinct tokens to diff")
    code = dict(zip(distinct, placeholders, strict=True)).__getitem__
    return ["".join(map(code, units)) for units in sequences], table


def _encode(texts: Sequence[str]) -> tuple[list[str], dict[str, str]]:
    """Map each distinct token to one character; return the encoded texts and the way back."""
    encoded, table = _encode_tokens(texts)
    return encoded, {chr(i): tok for i, tok in enumerate(table) if tok is not None}


def _canonical(ops: Sequence[Op], table: Sequence[str | None] | None = None) -> list[Op]:
    """Drop empty ops, merge neighbours: runs of edits become one delete then one insert.

    With a table, the ops are in placeholders, decoded here (see _encode_tokens). A run of
    equal text is joined once at its end: adding each piece to the last op copied the run
    so far, quadratic in a long text's pieces (8 s for a 300,000-word page).
    """
    out: list[Op] = []
    # Each run's pieces, joined once at its end.
    equal: list[str] = []
    deleted: list[str] = []
    inserted: list[str] = []
    for op, chars in ops:
        text = chars if table is None else chars.translate(table)
        if op == DELETE:
            deleted.append(text)
        elif op == INSERT:
            inserted.append(text)
        else:
            if deleted or inserted:
                _close_runs(out, equal, deleted, inserted)
            equal.append(text)
    _close_runs(out, equal, deleted, inserted)
    if unchanged := "".join(equal):
        out.append((EQUAL, unchanged))
    return out


def _close_runs(out: list[Op], equal: list[str], deleted: list[str], inserted: list[str]) -> None:
    """Append the unchanged run, then the edit after it (if any text), and empty the runs;
    an edit of empty pieces only is no edit: the unchanged runs either side stay one."""
    removed, added = "".join(deleted), "".join(inserted)
    deleted.clear()
    inserted.clear()
    if not (removed or added):
        return
    if unchanged := "".join(equal):
        out.append((EQUAL, unchanged))
    equal.clear()
    if removed:
        out.append((DELETE, removed))
    if added:
        out.append((INSERT, added))


# The raw diff has no time limit (which also turns off dmp's non-optimal half-match
# speed-up), so the same inputs always give the same, minimal diff: a timeout would make the
# result depend on machine load, and stored diffs and feeds would flap. The cost is O(n*d)
# in tokens: fine in Python for a headline, seconds for a rewritten article, hence C++.
_PYTHON_DMP = diff_match_patch()
_PYTHON_DMP.Diff_Timeout = 0
_CPP_OPS = {"-": DELETE, "=": EQUAL, "+": INSERT}


def _raw_diff_python(old: str, new: str) -> list[Op]:
    """dmp's minimal character diff (no line mode, no cleanup), in pure Python."""
    return _PYTHON_DMP.diff_main(old, new, False)


def _raw_diff_cpp(old: str, new: str) -> list[Op]:
    """The same diff from the C++ port of the same algorithm, with the same settings.

    No time limit, no line-level pre-pass, no cleanup. The port follows the same steps and
    breaks ties the same way, and works on code points (UCS-4) as Python strings do, so the
    ops are the same (tests/test_diff.py checks it on any text).
    """
    ops = _cpp_diff(old, new, timelimit=0, checklines=False, cleanup="No", counts_only=False)
    return [(_CPP_OPS[op], text) for op, text in ops]


_raw_diff: Callable[[str, str], list[Op]] = _raw_diff_python if _cpp_diff is None else _raw_diff_cpp


# The raw diff's O(n*d) in tokens takes a second or two at this many (both sides), and
# hours for a rewritten 5 MB body: longer texts are diffed by _diff_long.
MAX_DIFF_TOKENS = 40_000


def diff_text(old: str, new: str) -> list[Op]:
    """Word-level diff: the 0/-1 texts join to `old`, the 0/1 texts join to `new`."""
    return _diff_text(old, new, _raw_diff)


def _diff_text(old: str, new: str, raw_diff: Callable[[str, str], list[Op]]) -> list[Op]:
    if old == new:  # an unchanged field: what the steps below would give, without them
        return [(EQUAL, old)] if old else []
    if len(old) + len(new) > MAX_DIFF_TOKENS:  # a text has no more tokens than characters
        ops = _diff_long(old, new, raw_diff)
        if ops is not None:
            return ops
    (old_chars, new_chars), table = _encode_tokens([old, new])
    diffs = raw_diff(old_chars, new_chars)
    # Cleaned up while still one character per token: on the decoded text dmp would split
    # words ("president" -> "presidents" becomes "president{+s+}").
    _TokenDmp(table).diff_cleanupSemantic(diffs)
    return _canonical(diffs, table)


def _diff_long(old: str, new: str, raw_diff: Callable[[str, str], list[Op]]) -> list[Op] | None:
    """The diff of texts of more than MAX_DIFF_TOKENS tokens, in bounded time; None if fewer.

    Their common start and end are equal, and so are the words found exactly once in each
    of them in the same order (the longest such run: patience diff's anchors). The pieces
    between are diffed as usual while the work stays within that of one diff of
    MAX_DIFF_TOKENS tokens; from the piece that would exceed it, the rest of the middle is
    one deletion and one insertion. Exact either way, only less fine than the usual diff.
    """
    old_tokens, new_tokens = tokenize(old), tokenize(new)
    if len(old_tokens) + len(new_tokens) <= MAX_DIFF_TOKENS:
        return None
    start = 0
    for a, b in zip(old_tokens, new_tokens, strict=False):
        if a != b:
            break
        start += 1
    end = 0  # tokens in the common end, which does not overlap the common start
    limit = min(len(old_tokens), len(new_tokens)) - start
    while end < limit and old_tokens[-1 - end] == new_tokens[-1 - end]:
        end += 1
    old_middle = old_tokens[start : len(old_tokens) - end]
    new_middle = new_tokens[start : len(new_tokens) - end]
    ops: list[Op] = [(EQUAL, "".join(old_tokens[:start]))]
    budget = MAX_DIFF_TOKENS**2  # the O(n*d) of a diff of n tokens is at most n*n
    i = j = 0
    for a, b in [*_anchors(old_middle, new_middle), (len(old_middle), len(new_middle))]:
        old_piece, new_piece = "".join(old_middle[i:a]), "".join(new_middle[j:b])
        size = (a - i) + (b - j)
        if old_piece == new_piece:
            ops.append((EQUAL, old_piece))
        elif size * size <= budget:
            budget -= size * size
            ops += _diff_text(old_piece, new_piece, raw_diff)  # the usual diff: few tokens
        else:  # one replacement rather than many: each is judged (tracker.compare.judgement) alone
            ops += [(DELETE, "".join(old_middle[i:])), (INSERT, "".join(new_middle[j:]))]
            break
        if a < len(old_middle):
            ops.append((EQUAL, old_middle[a]))
        i, j = a + 1, b + 1
    ops.append((EQUAL, "".join(old_tokens[len(old_tokens) - end :])))
    return _canonical(ops)


def _anchors(old: Sequence[str], new: Sequence[str]) -> list[tuple[int, int]]:
    """Positions (in old, in new) of tokens found once in each, the longest run of them in
    the same order in both (patience sorting: n log n)."""
    old_count, new_count = Counter(old), Counter(new)
    in_new = {token: j for j, token in enumerate(new) if new_count[token] == 1}
    pairs = [(i, in_new[t]) for i, t in enumerate(old) if old_count[t] == 1 and t in in_new]
    tails: list[int] = []  # tails[k]: the smallest j that ends an increasing run of k + 1
    ends: list[int] = []  # ends[k]: the pair that does
    before = [-1] * len(pairs)  # each pair's predecessor in its run
    for n, (_, j) in enumerate(pairs):
        k = bisect_left(tails, j)
        before[n] = ends[k - 1] if k else -1
        if k == len(tails):
            tails.append(j)
            ends.append(n)
        else:
            tails[k], ends[k] = j, n
    run: list[tuple[int, int]] = []
    n = ends[-1] if ends else -1
    while n >= 0:
        run.append(pairs[n])
        n = before[n]
    return run[::-1]


def diff_list(old: Sequence[str], new: Sequence[str]) -> ListOps:
    """Diff two lists as sets: entries of `new` in order (0 kept, 1 added), then removed ones."""
    old_set, new_set = set(old), set(new)
    ops = ListOps((EQUAL if entry in old_set else INSERT, entry) for entry in dict.fromkeys(new))
    ops += [(DELETE, entry) for entry in dict.fromkeys(old) if entry not in new_set]
    return ops


def _as_list(value: str | Sequence[str]) -> list[str]:
    if isinstance(value, str):
        return [value] if value else []
    return list(value)


def diff_fields(
    old: Mapping[str, FieldValue],
    new: Mapping[str, FieldValue],
    text_diffs: Mapping[str, Callable[[str, str], list[Op]]] | None = None,
) -> dict[str, list[Op]]:
    """Diff each field known (not None) on both sides, in `new`'s order; others are left out.

    Two strings diff as text (with text_diffs[name] if given, else diff_text); if either
    side is a list, both diff as lists.
    """
    result: dict[str, list[Op]] = {}
    for name, after in new.items():
        before = old.get(name)
        if before is None or after is None:
            continue
        if isinstance(before, str) and isinstance(after, str):
            result[name] = (text_diffs or {}).get(name, diff_text)(before, after)
        else:
            result[name] = diff_list(_as_list(before), _as_list(after))
    return result


def changed(ops: Sequence[Op]) -> bool:
    """Whether any op is an insertion or a deletion."""
    return any(op != EQUAL for op, _ in ops)


def old_text(ops: Sequence[Op]) -> str:
    """The old side of text ops."""
    return "".join(text for op, text in ops if op != INSERT)


def new_text(ops: Sequence[Op]) -> str:
    """The new side of text ops."""
    return "".join(text for op, text in ops if op != DELETE)


def similarity(ops: Sequence[Op]) -> float:
    """1 - levenshtein / len(longer side), clamped to [0, 1]; two empty sides count as 1.0.

    The levenshtein distance is dmp's, in characters: each run of edits between two
    equalities costs max(deleted, inserted) characters.
    """
    longer = max(len(old_text(ops)), len(new_text(ops)))
    if longer == 0:
        return 1.0
    return max(0.0, 1.0 - _DMP.diff_levenshtein(list(ops)) / longer)


def patch_text(old: str, new: str) -> str:
    """diff-match-patch patch text turning `old` into `new`, built from the word-level diff."""
    if _SURROGATE.search(old) or _SURROGATE.search(new):
        # The patch format is %-encoded UTF-8, which a lone surrogate has no form in.
        raise RedlineError("cannot write a patch of text with an unpaired surrogate in it")
    return _DMP.patch_toText(_DMP.patch_make(old, diff_text(old, new)))
