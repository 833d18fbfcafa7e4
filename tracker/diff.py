"""Word-level diffs between versions of a news item, and their text/HTML renderings.

Texts are split into tokens (words, whitespace runs, single punctuation characters), each
distinct token is mapped to one placeholder character, and diff-match-patch diffs the
placeholder strings, so every edit covers whole tokens. List fields (tags, sources) are
compared as sets. Ops are diff-match-patch's ``(op, text)`` tuples: -1 delete, 0 equal,
1 insert.
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Mapping, Sequence

from diff_match_patch import diff_match_patch

Op = tuple[int, str]  # diff-match-patch's ops: -1 delete, 0 equal, 1 insert
FieldValue = str | list[str] | None  # None means "unknown"

DELETE, EQUAL, INSERT = -1, 0, 1

# Inline styles: feed readers strip <style> blocks and class attributes.
DEL_STYLE = "background:#ffe6e6;color:#b30000;text-decoration:line-through"
INS_STYLE = "background:#e6ffe6;color:#006600;text-decoration:none"

# A word run, a whitespace run, or any other single character (newlines included).
_TOKEN_RE = re.compile(r"\w+|\s+|.", re.DOTALL)
_SURROGATES = 0xE000 - 0xD800  # placeholder indexes skip U+D800..U+DFFF
_BLANK_LINE_END = re.compile(r"\n\r?\n$")
_BLANK_LINE_START = re.compile(r"^\r?\n\r?\n")

_DMP = diff_match_patch()  # used for levenshtein and patches only; holds no per-call state


class ListOps(list[Op]):
    """Ops from diff_list: one op per entry, rendered one entry per line."""


def _is_mark(ch: str) -> bool:
    return unicodedata.category(ch)[0] == "M"


def _is_wordish(ch: str) -> bool:
    # `\w` is exactly isalnum() or "_"; combining marks (e.g. Devanagari vowel signs) are not.
    return ch.isalnum() or ch == "_" or _is_mark(ch)


def tokenize(text: str) -> list[str]:
    """Split text into word, whitespace and single-symbol tokens; joining them gives text back.

    Combining marks stay inside the word they modify (decomposed "é", Hindi vowel signs).
    """
    tokens: list[str] = []
    for tok in _TOKEN_RE.findall(text):
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


class _TokenDmp(diff_match_patch):
    """diff-match-patch over placeholder strings in which each character stands for a token.

    ``Diff_Timeout = 0`` turns off the time limit (and dmp's non-optimal half-match speed-up),
    so the same inputs always give the same, minimal diff. The cost is O(n*d) in tokens,
    fine for headlines and summaries (a few hundred tokens); a timeout would make the result
    depend on machine load, which would make stored diffs and feeds flap.
    """

    def __init__(self, tokens: Mapping[str, str]) -> None:
        super().__init__()
        self.Diff_Timeout = 0
        self.tokens = tokens  # placeholder character -> token

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
        before, after = self.tokens[one[-1]], self.tokens[two[0]]
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


def _encode(texts: Sequence[str]) -> tuple[list[str], dict[str, str]]:
    """Map each distinct token to one character; return the encoded texts and the way back."""
    codes: dict[str, str] = {}
    encoded = []
    for text in texts:
        chars = []
        for tok in tokenize(text):
            code = codes.get(tok)
            if code is None:
                n = len(codes)
                if n >= 0x110000 - _SURROGATES:
                    raise ValueError("too many distinct tokens to diff")
                code = codes[tok] = chr(n if n < 0xD800 else n + _SURROGATES)
            chars.append(code)
        encoded.append("".join(chars))
    return encoded, {code: tok for tok, code in codes.items()}


def _canonical(ops: Sequence[Op]) -> list[Op]:
    """Drop empty ops, merge neighbours: runs of edits become one delete then one insert."""
    out: list[Op] = []
    deleted, inserted = "", ""
    for op, text in [*ops, (EQUAL, "")]:
        if op == DELETE:
            deleted += text
        elif op == INSERT:
            inserted += text
        else:
            out += [(o, t) for o, t in ((DELETE, deleted), (INSERT, inserted)) if t]
            deleted, inserted = "", ""
            if out and out[-1][0] == EQUAL:
                out[-1] = (EQUAL, out[-1][1] + text)
            elif text:
                out.append((EQUAL, text))
    return out


def diff_text(old: str, new: str) -> list[Op]:
    """Word-level diff: the 0/-1 texts join to `old`, the 0/1 texts join to `new`."""
    (old_chars, new_chars), tokens = _encode([old, new])
    dmp = _TokenDmp(tokens)
    diffs = dmp.diff_main(old_chars, new_chars, False)
    # Cleaned up while still one character per token: on the decoded text dmp would split
    # words ("president" -> "presidents" becomes "president{+s+}").
    dmp.diff_cleanupSemantic(diffs)
    return _canonical([(op, "".join(tokens[c] for c in chars)) for op, chars in diffs])


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
    old: Mapping[str, FieldValue], new: Mapping[str, FieldValue]
) -> dict[str, list[Op]]:
    """Diff each field known (not None) on both sides, in `new`'s order; others are left out.

    Two strings diff as text; if either side is a list, both diff as lists.
    """
    result: dict[str, list[Op]] = {}
    for name, after in new.items():
        before = old.get(name)
        if before is None or after is None:
            continue
        if isinstance(before, str) and isinstance(after, str):
            result[name] = diff_text(before, after)
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


def _is_list(ops: Sequence[Op]) -> bool:
    return isinstance(ops, ListOps)


def render_text(fields: Mapping[str, Sequence[Op]]) -> str:
    """Changed fields as plain text, wdiff style ([-old-] {+new+}); "" if nothing changed."""
    blocks = []
    for name, ops in fields.items():
        if not changed(ops):
            continue
        if _is_list(ops):
            marks = {DELETE: "  - ", INSERT: "  + "}
            lines = [marks[op] + entry for op, entry in ops if op != EQUAL]
            blocks.append("\n".join([f"{name}:", *lines]))
        else:
            wrap = {DELETE: "[-{}-]", INSERT: "{{+{}+}}", EQUAL: "{}"}
            blocks.append(f"{name}: " + "".join(wrap[op].format(text) for op, text in ops))
    return "".join(block + "\n" for block in blocks)


def _html_op(op: int, text: str) -> str:
    text = html.escape(text)
    if op == DELETE:
        return f'<del style="{DEL_STYLE}">{text}</del>'
    if op == INSERT:
        return f'<ins style="{INS_STYLE}">{text}</ins>'
    return text


def render_html(ops: Sequence[Op]) -> str:
    """Text ops as escaped HTML with inline-styled <del> and <ins>."""
    return "".join(_html_op(op, text) for op, text in ops)


def render_fields_html(fields: Mapping[str, Sequence[Op]]) -> str:
    """Changed fields as HTML paragraphs; list fields as a <ul> of added/removed entries."""
    parts = []
    for name, ops in fields.items():
        if not changed(ops):
            continue
        label = html.escape(name[:1].upper() + name[1:])
        if _is_list(ops):
            items = "".join(f"<li>{_html_op(op, e)}</li>" for op, e in ops if op != EQUAL)
            parts.append(f"<p><strong>{label}</strong>:</p><ul>{items}</ul>")
        else:
            parts.append(f"<p><strong>{label}</strong>: {render_html(ops)}</p>")
    return "\n".join(parts)


def patch_text(old: str, new: str) -> str:
    """diff-match-patch patch text turning `old` into `new`, built from the word-level diff."""
    return _DMP.patch_toText(_DMP.patch_make(old, diff_text(old, new)))
