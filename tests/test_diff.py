"""Tests for tracker.diff: word-level diffs, set diffs of lists, renderings, patches."""

import time

import pytest
from diff_match_patch import diff_match_patch
from hypothesis import given, settings
from hypothesis import strategies as st

from tracker import diff
from tracker.diff import (
    DEL_STYLE,
    INS_STYLE,
    changed,
    diff_fields,
    diff_list,
    diff_text,
    new_text,
    old_text,
    patch_text,
    render_fields_html,
    render_html,
    render_text,
    similarity,
    tokenize,
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
    assert "onerror=&quot;alert(2)&quot;" in out
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
