"""Tests for tracker.compare.diff: word-level diffs, set diffs of lists, renderings, patches."""

import re
import subprocess
import sys
import time
import unicodedata
from pathlib import Path

import pytest
from diff_match_patch import diff_match_patch
from hypothesis import given, settings
from hypothesis import strategies as st

from tracker.compare import diff, diff_cleanup
from tracker.compare.diff import (
    changed,
    diff_fields,
    diff_list,
    diff_text,
    new_text,
    old_text,
    patch_text,
    similarity,
    tokenize,
)
from tracker.present.render import (
    DEL_STYLE,
    INS_STYLE,
    render_fields_html,
    render_html,
    render_text,
)

# Real headline edits from the news corpus.
PALMYRA_OLD = (
    "Syrian Civil War: Palmyra offensive (2017): The Syrian Army and its allies recapture the "
    "ancient city of Palmyra from the Islamic State of Iraq and the Levant."
)
PALMYRA_NEW = (
    "The Syrian Army and its allies recapture the ancient city of Palmyra from the Islamic "
    "State of Iraq and the Levant."
)
BORNEO_1 = "A boat capsizes in the north of Indonesian Borneo, with at least 8 people dead."
BORNEO_2 = "A boat capsizes in the north of Indonesian Borneo, leaving at least 8 people dead."
BORNEO_3 = "A boat capsizes in the north of Indonesian Borneo, leaving at least eight people dead."
NUNES_OLD = (
    "United States president Donald Trump authorizes congress to release the Nunes memo against "
    "the wishes of the FBI, DOJ, and some bipartisan lawmakers that say it poses a national "
    "security risk."
)
NUNES_NEW = (
    "U.S. President Donald Trump authorizes congress to release the Nunes memo against the "
    "wishes of the FBI, DoJ, and some bipartisan lawmakers that say it poses a national "
    "security risk."
)


def edits(ops):
    return [op for op in ops if op[0] != 0]


def apply_patch(old: str, patch: str) -> tuple[str, list[bool]]:
    dmp = diff_match_patch()
    return dmp.patch_apply(dmp.patch_fromText(patch), old)


def boundaries(pieces):
    out, pos = {0}, 0
    for piece in pieces:
        pos += len(piece)
        out.add(pos)
    return out


# --- tokenize ---------------------------------------------------------------------------


def test_tokenize_words_spaces_punctuation():
    assert tokenize("Bouaké, (2017):  ok_go!") == [
        "Bouaké",
        ",",
        " ",
        "(",
        "2017",
        ")",
        ":",
        "  ",
        "ok_go",
        "!",
    ]


def test_tokenize_keeps_combining_marks_in_words():
    assert tokenize("Boue\u0301ke\u0301 x") == ["Boue\u0301ke\u0301", " ", "x"]
    assert tokenize("हिन्दी समाचार") == ["हिन्दी", " ", "समाचार"]


def test_tokenize_empty():
    assert tokenize("") == []


# --- diff_text on real headlines --------------------------------------------------------


def test_palmyra_prefix_removed():
    assert diff_text(PALMYRA_OLD, PALMYRA_NEW) == [
        (-1, "Syrian Civil War: Palmyra offensive (2017): "),
        (0, PALMYRA_NEW),
    ]


def test_borneo_word_replacements():
    assert diff_text(BORNEO_1, BORNEO_2) == [
        (0, "A boat capsizes in the north of Indonesian Borneo, "),
        (-1, "with"),
        (1, "leaving"),
        (0, " at least 8 people dead."),
    ]
    ops = diff_text(BORNEO_2, BORNEO_3)
    assert edits(ops) == [(-1, "8"), (1, "eight")]  # whole words, never "eigh"/"t"
    assert ops[0] == (0, "A boat capsizes in the north of Indonesian Borneo, leaving at least ")


def test_nunes_edits_are_whole_words():
    ops = diff_text(NUNES_OLD, NUNES_NEW)
    assert edits(ops) == [
        (-1, "United States president"),
        (1, "U.S. President"),
        (-1, "DOJ"),
        (1, "DoJ"),
    ]
    assert old_text(ops) == NUNES_OLD
    assert new_text(ops) == NUNES_NEW


def test_suffix_change_replaces_the_whole_word():
    # diff-match-patch's own cleanup on plain text would give "president{+s+}".
    assert diff_text("president Trump", "presidents Trump") == [
        (-1, "president"),
        (1, "presidents"),
        (0, " Trump"),
    ]
    # ... and "th" + "in" + "to" through overlap extraction.
    assert edits(diff_text("he is thin today", "he is into today")) == [(-1, "thin"), (1, "into")]


def test_identical_and_empty_texts():
    assert diff_text("same text", "same text") == [(0, "same text")]
    assert diff_text("", "") == []
    assert diff_text("", "new") == [(1, "new")]
    assert diff_text("old", "") == [(-1, "old")]


def test_insertion_aligned_to_sentence_boundary():
    ops = diff_text("The cat sat. The dog ran.", "The cat sat. The bird sat. The dog ran.")
    assert ops == [(0, "The cat sat."), (1, " The bird sat."), (0, " The dog ran.")]


# --- properties -------------------------------------------------------------------------

VOCAB = ["the", "cat", "sat", " ", "  ", "\n", "\n\n", ",", ".", "é", "e\u0301", "_", "日本", "8"]
wordy_text = st.lists(st.sampled_from(VOCAB), max_size=30).map("".join)
any_text = st.one_of(st.text(), wordy_text)


@given(st.text())
def test_tokenize_round_trips(text):
    assert "".join(tokenize(text)) == text
    assert all(tokenize(text))


@given(any_text, any_text)
def test_diff_reconstructs_both_sides(a, b):
    ops = diff_text(a, b)
    assert old_text(ops) == a
    assert new_text(ops) == b
    assert changed(ops) == (a != b)


@given(wordy_text, wordy_text)
def test_diff_is_canonical_and_cuts_only_between_tokens(a, b):
    ops = diff_text(a, b)
    assert all(text for _, text in ops)
    for (op1, _), (op2, _) in zip(ops, ops[1:], strict=False):
        assert op1 != op2
        assert (op1, op2) != (1, -1)  # within a run of edits, the deletion comes first
    assert boundaries(t for op, t in ops if op != 1) <= boundaries(tokenize(a))
    assert boundaries(t for op, t in ops if op != -1) <= boundaries(tokenize(b))


@given(any_text, any_text)
@settings(max_examples=200)
def test_patch_applies_exactly(a, b):
    result, applied = apply_patch(a, patch_text(a, b))
    assert result == b
    assert all(applied)


def test_more_distinct_tokens_than_fit_below_surrogates():
    words = [f"w{i}" for i in range(61_000)]  # plus " ": beyond U+D800 placeholders
    old = " ".join(words)
    new = " ".join([*words[:30_000], "changed", *words[30_001:], "extra"])
    start = time.perf_counter()
    ops = diff_text(old, new)
    assert time.perf_counter() - start < 5
    assert edits(ops) == [(-1, "w30000"), (1, "changed"), (1, " extra")]
    assert old_text(ops) == old
    assert new_text(ops) == new
    assert apply_patch(old, patch_text(old, new))[0] == new


def test_placeholders_skip_surrogates():
    tokens = [f"t{i}" for i in range(0xD800 + 10)]
    (encoded,), back = diff._encode([" ".join(tokens)])
    assert not any(0xD800 <= ord(c) <= 0xDFFF for c in encoded)
    assert len(set(encoded)) == len(tokens) + 1
    assert "".join(back[c] for c in encoded) == " ".join(tokens)


# --- diff_list / diff_fields ------------------------------------------------------------


def test_list_order_change_is_not_an_edit():
    ops = diff_list(["Syria", "Palmyra", "ISIL"], ["ISIL", "Syria", "Palmyra"])
    assert ops == [(0, "ISIL"), (0, "Syria"), (0, "Palmyra")]
    assert not changed(ops)


def test_list_added_and_removed_entries():
    ops = diff_list(["a", "b", "c", "b"], ["c", "d", "a", "d"])
    assert ops == [(0, "c"), (1, "d"), (0, "a"), (-1, "b")]
    assert changed(ops)


def test_fields_unknown_side_is_omitted():
    old = {"headline": BORNEO_1, "summary": None, "tags": ["Indonesia"], "byline": "AP"}
    new = {"tags": ["Borneo", "Indonesia"], "headline": BORNEO_2, "summary": "More.", "x": None}
    fields = diff_fields(old, new)
    assert list(fields) == ["tags", "headline"]
    assert fields["tags"] == [(1, "Borneo"), (0, "Indonesia")]
    assert (-1, "with") in fields["headline"]


def test_fields_unchanged_field_is_single_equal_op():
    fields = diff_fields({"headline": BORNEO_1, "summary": None}, {"headline": BORNEO_1})
    assert fields == {"headline": [(0, BORNEO_1)]}
    assert render_text(fields) == ""
    assert render_fields_html(fields) == ""


# --- similarity -------------------------------------------------------------------------


def test_similarity_bounds():
    assert similarity(diff_text(BORNEO_1, BORNEO_1)) == 1.0
    assert similarity(diff_text("", "")) == 1.0
    assert similarity(diff_text("alpha beta", "gamma")) == 0.0
    assert similarity(diff_text("ab", "wxyz")) == 0.0
    small = similarity(diff_text(BORNEO_2, BORNEO_3))
    assert 0.9 < small < 1.0
    assert similarity(diff_text(PALMYRA_OLD, PALMYRA_NEW)) < small


@given(any_text, any_text)
def test_similarity_in_unit_interval(a, b):
    assert 0.0 <= similarity(diff_text(a, b)) <= 1.0


# --- rendering --------------------------------------------------------------------------


def test_render_text_format():
    fields = diff_fields(
        {"headline": BORNEO_2, "summary": "Same.", "tags": ["a", "b"]},
        {"headline": BORNEO_3, "summary": "Same.", "tags": ["b", "c"]},
    )
    assert render_text(fields) == (
        "headline: A boat capsizes in the north of Indonesian Borneo, leaving at least "
        "[-8-]{+eight+} people dead.\n"
        "tags:\n"
        "  + c\n"
        "  - a\n"
    )


def test_render_html_escapes_and_uses_inline_styles():
    ops = diff_text("Title", '<script>alert(1)</script> <img src=x onerror="alert(2)">')
    out = render_html(ops)
    assert "<script>" not in out and "<img" not in out
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in out
    # Quotes stay as they are in text (no attribute to break out of): the < is escaped.
    assert '&lt;img src=x onerror="alert(2)"&gt;' in out
    assert f'<del style="{DEL_STYLE}">Title</del>' in out
    assert out.count(f'<ins style="{INS_STYLE}">') == 1
    assert "class=" not in out


def test_render_html_equal_text_unwrapped():
    out = render_html(diff_text(BORNEO_1, BORNEO_2))
    assert out.startswith("A boat capsizes in the north of Indonesian Borneo, <del")
    assert f'<ins style="{INS_STYLE}">leaving</ins> at least 8 people dead.' in out


def test_render_fields_html():
    fields = diff_fields(
        {"headline": "A & B", "tags": ["x", "y"], "summary": "s"},
        {"headline": "A & C", "tags": ["y", "<z>"], "summary": "s"},
    )
    out = render_fields_html(fields)
    assert "Summary" not in out
    assert out.startswith("<p><strong>Headline</strong>: A &amp; <del")
    assert (
        "<p><strong>Tags</strong>:</p><ul>"
        f'<li><ins style="{INS_STYLE}">&lt;z&gt;</ins></li>'
        f'<li><del style="{DEL_STYLE}">x</del></li></ul>'
    ) in out


@pytest.mark.parametrize("name", ["headline", "Headline"])
def test_render_fields_html_capitalises_name(name):
    out = render_fields_html({name: diff_text("a", "b")})
    assert out.startswith("<p><strong>Headline</strong>: ")


# --- the C++ raw diff and the pure-Python one give the same ops ---------------------------
#
# diff_text runs dmp's raw diff (the O(n*d) part) in the C++ build when it is installed and
# in the pure-Python library otherwise; the cleanup after it is Python either way, and is a
# linear-time rewrite of dmp's diff_cleanupSemantic. Both swaps must leave every op as it
# was: the stored diffs and the feeds must not depend on which path ran.


def reference_diff_text(old: str, new: str) -> list[tuple[int, str]]:
    """diff_text as it was before the C++ build: pure-Python raw diff, dmp's own cleanup."""
    (old_chars, new_chars), table = diff._encode_tokens([old, new])
    dmp = diff_cleanup._TokenDmp(table)
    dmp.Diff_Timeout = 0
    diffs = dmp.diff_main(old_chars, new_chars, False)
    diff_match_patch.diff_cleanupSemantic(dmp, diffs)  # dmp's, not the override
    return diff._canonical([(op, chars.translate(table)) for op, chars in diffs])


def python_path(old: str, new: str) -> list[tuple[int, str]]:
    return diff._diff_text(old, new, diff._raw_diff_python)


def cpp_path(old: str, new: str) -> list[tuple[int, str]]:
    return diff._diff_text(old, new, diff._raw_diff_cpp)


CORPUS_PAIRS = [
    (PALMYRA_OLD, PALMYRA_NEW),
    (BORNEO_1, BORNEO_2),
    (BORNEO_2, BORNEO_3),
    (BORNEO_1, BORNEO_3),
    (NUNES_OLD, NUNES_NEW),
]

NEWS_WORDS = [
    "the", "a", "of", "president", "presidents", "said", "on", "Monday", "Syria", "army",
    "8", "eight", ",", ".", ":", "(2017)", "\n", "\n\n", "U.S.", "DoJ", "é", "e\u0301",
    "日本", "Bouaké", "’s", "—", "\U0001f600",
]  # fmt: skip


@st.composite
def edited_pairs(draw, max_words=60):
    """A text of news-like words and the same text after a few word edits."""
    words = draw(st.lists(st.sampled_from(NEWS_WORDS), max_size=max_words))
    edited = list(words)
    for _ in range(draw(st.integers(0, 6))):
        kind = draw(st.sampled_from(["insert", "delete", "replace", "move"]))
        at = draw(st.integers(0, len(edited)))
        if kind == "insert" or not edited:
            edited.insert(at, draw(st.sampled_from(NEWS_WORDS)))
        elif kind == "delete":
            del edited[at - 1]
        elif kind == "replace":
            edited[at - 1] = draw(st.sampled_from(NEWS_WORDS))
        else:
            edited.insert(at, edited.pop(draw(st.integers(0, len(edited) - 1))))
    sep = draw(st.sampled_from([" ", "  ", ""]))
    return sep.join(words), sep.join(edited)


def test_cpp_build_is_the_hot_path():
    # fast-diff-match-patch is a dependency: without it diff_text still works, but slowly.
    assert diff._cpp_diff is not None
    assert diff._raw_diff is diff._raw_diff_cpp


def test_falls_back_to_pure_python_without_the_cpp_build():
    code = (
        "import sys; sys.modules['fast_diff_match_patch'] = None\n"
        "from tracker.compare import diff\n"
        "assert diff._raw_diff is diff._raw_diff_python\n"
        f"print(diff.diff_text({BORNEO_1!r}, {BORNEO_2!r}))\n"
    )
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == repr(diff_text(BORNEO_1, BORNEO_2))


@pytest.mark.parametrize(("old", "new"), CORPUS_PAIRS + [(b, a) for a, b in CORPUS_PAIRS])
def test_corpus_headlines_same_on_both_paths(old, new):
    raw_old, raw_new = diff._encode([old, new])[0]
    assert diff._raw_diff_cpp(raw_old, raw_new) == diff._raw_diff_python(raw_old, raw_new)
    assert cpp_path(old, new) == python_path(old, new) == reference_diff_text(old, new)
    assert diff_text(old, new) == cpp_path(old, new)


@given(st.text(), st.text())
@settings(max_examples=500)
def test_raw_diffs_identical_on_any_text(a, b):
    # Any code points: NUL, astral ones (one UCS-4 unit in C++, one str index in Python).
    assert diff._raw_diff_cpp(a, b) == diff._raw_diff_python(a, b)


# Placeholders as _encode hands them out: U+0000 up, then past the surrogates from U+E000.
PLACEHOLDERS = "\x00\x01 a\ud7ff\ue000\ue001\uffff\U00010000\U0001f600\U0010ffff"


@given(st.text(PLACEHOLDERS, max_size=80), st.text(PLACEHOLDERS, max_size=80))
@settings(max_examples=500)
def test_raw_diffs_identical_on_placeholder_strings(a, b):
    ops = diff._raw_diff_cpp(a, b)
    assert ops == diff._raw_diff_python(a, b)
    assert "".join(t for op, t in ops if op != 1) == a
    assert "".join(t for op, t in ops if op != -1) == b


@given(any_text, any_text)
@settings(max_examples=300)
def test_both_paths_identical_on_any_text(a, b):
    assert cpp_path(a, b) == python_path(a, b) == reference_diff_text(a, b)


@given(edited_pairs())
@settings(max_examples=300)
def test_both_paths_identical_on_word_edits(pair):
    old, new = pair
    (old_chars, new_chars), _ = diff._encode_tokens([old, new])
    assert diff._raw_diff_cpp(old_chars, new_chars) == diff._raw_diff_python(old_chars, new_chars)
    assert cpp_path(old, new) == python_path(old, new) == reference_diff_text(old, new)


@given(edited_pairs(max_words=20), edited_pairs(max_words=20))
def test_both_paths_identical_on_rewrites(pair1, pair2):
    old, new = pair1[0], pair2[1]
    assert cpp_path(old, new) == python_path(old, new) == reference_diff_text(old, new)


def test_both_paths_identical_on_a_rewritten_article():
    # dmp's cleanup is quadratic here, the linear rewrite must still agree with it.
    words = [w for w in NEWS_WORDS if w.strip()]
    old = " ".join(words[(i * 7) % len(words)] for i in range(600))
    new = " ".join(words[(i * i + 3) % len(words)] for i in range(650))
    assert cpp_path(old, new) == python_path(old, new) == reference_diff_text(old, new)


# --- the linear-time semantic cleanup is dmp's ------------------------------------------

CLEANUP_CHARS = "ab \n."
OPS = st.lists(st.tuples(st.sampled_from([-1, 0, 1]), st.text(CLEANUP_CHARS, max_size=5)))


def cleanups(ops):
    """(our cleanup, dmp's cleanup) of the same ops, one character per token."""
    table = {ord(c): c for c in CLEANUP_CHARS}
    ours, theirs = list(ops), list(ops)
    diff_cleanup._TokenDmp(table).diff_cleanupSemantic(ours)
    diff_match_patch.diff_cleanupSemantic(diff_cleanup._TokenDmp(table), theirs)
    return ours, theirs


@given(OPS)
@settings(max_examples=1000)
def test_cleanup_same_as_dmp_on_any_ops(ops):
    # Not only raw diffs: repeated ops, empty ones, equalities side by side.
    ours, theirs = cleanups(ops)
    assert ours == theirs


@given(st.text(CLEANUP_CHARS, max_size=60), st.text(CLEANUP_CHARS, max_size=60))
@settings(max_examples=500)
def test_cleanup_same_as_dmp_on_raw_diffs(a, b):
    ours, theirs = cleanups(diff._raw_diff_python(a, b))
    assert ours == theirs


def test_cleanup_unchanged_diff_is_left_alone():
    ops = [(0, "a"), (-1, "bb"), (1, "b"), (0, "aaaa"), (1, "b")]
    assert diff_cleanup._eliminate_equalities(ops) is None
    assert diff_cleanup._eliminate_equalities([(0, "a"), (-1, "b"), (0, "a"), (1, "b")]) == [
        (0, "a"),
        (-1, "ba"),
        (1, "ab"),
    ]


# --- tokenizer fast path ------------------------------------------------------------------

MARKY = "ae_1 \n,.’日\u0301\u093f\u0915"


def tokenize_slowly(text):
    """tokenize's definition: regex tokens, joined where a combining mark meets a word."""

    def wordish(ch):
        return ch.isalnum() or ch == "_" or unicodedata.category(ch)[0] == "M"

    def mark(ch):
        return unicodedata.category(ch)[0] == "M"

    tokens = []
    for tok in re.findall(r"\w+|\s+|.", text, re.DOTALL):
        prev = tokens[-1] if tokens else ""
        if prev and wordish(prev[-1]) and wordish(tok[0]) and (mark(prev[-1]) or mark(tok[0])):
            tokens[-1] += tok
        else:
            tokens.append(tok)
    return tokens


@given(st.one_of(st.text(), st.text(MARKY)))
@settings(max_examples=500)
def test_tokenize_same_with_or_without_marks(text):
    assert tokenize(text) == tokenize_slowly(text)


def encode_slowly(texts):
    """_encode's definition: placeholders in order of first appearance, skipping surrogates."""
    codes, encoded = {}, []
    for text in texts:
        for tok in tokenize(text):
            if tok not in codes:
                n = len(codes)
                codes[tok] = chr(n if n < 0xD800 else n + 0x800)
        encoded.append("".join(codes[tok] for tok in tokenize(text)))
    return encoded, {code: tok for tok, code in codes.items()}


@given(st.lists(any_text, max_size=3))
def test_encode_same_as_definition(texts):
    assert diff._encode(texts) == encode_slowly(texts)


def canonical_slowly(ops):
    """_canonical's definition: drop empty ops, merge runs (delete first), join equalities."""
    out, deleted, inserted = [], "", ""
    for op, text in [*ops, (0, "")]:
        if op == -1:
            deleted += text
        elif op == 1:
            inserted += text
        else:
            out += [(o, t) for o, t in ((-1, deleted), (1, inserted)) if t]
            deleted, inserted = "", ""
            if out and out[-1][0] == 0:
                out[-1] = (0, out[-1][1] + text)
            elif text:
                out.append((0, text))
    return out


@given(OPS)
def test_canonical_same_as_definition(ops):
    assert diff._canonical(ops) == canonical_slowly(ops)
    table = {ord(c): c.upper() for c in CLEANUP_CHARS}
    decoded = [(op, text.translate(table)) for op, text in ops]
    assert diff._canonical(ops, table) == canonical_slowly(decoded)
