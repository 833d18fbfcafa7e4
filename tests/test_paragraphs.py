"""Tests for tracker.compare.paragraphs: article bodies aligned by paragraph and sentence first."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tracker.compare import diff, paragraphs
from tracker.compare.diff import DELETE, EQUAL, INSERT, new_text, old_text
from tracker.compare.paragraphs import diff_body, find_moves, split_paragraphs, split_sentences
from tracker.present import render
from tracker.record import history

P1 = "The storm reached the coast on Monday night, officials said."
P2 = "At least 8 people died. Rescue teams were still searching on Tuesday."
P3 = "The regional governor asked for help from the army and neighbouring provinces."
P4 = "Schools will stay closed for the rest of the week."


def body(*paras: str) -> str:
    return "\n\n".join(paras)


def edits(ops):
    return [(op, text) for op, text in ops if op != EQUAL]


def test_splits_join_back_and_keep_small_numbers_and_abbreviations_whole():
    text = "Hello world. It cost 3.5 million! Then “quotes.” End\n\n  Next para.\nLine"
    assert "".join(split_paragraphs(text)) == text
    assert split_paragraphs(text)[1] == "\n\n  "
    sentences = split_sentences("Hello world. It cost 3.5 million! Then “quotes.” End")
    assert sentences == ["Hello world. ", "It cost 3.5 million! ", "Then “quotes.” ", "End"]


def test_word_edit_is_diffed_only_inside_its_sentence():
    old, new = body(P1, P2, P3), body(P1, P2.replace("8", "12"), P3)
    ops = diff_body(old, new)
    assert edits(ops) == [(DELETE, "8"), (INSERT, "12")]
    assert old_text(ops) == old and new_text(ops) == new


def test_inserted_paragraph_is_one_insertion():
    new_para = "A second storm is expected on Friday, forecasters warned."
    ops = diff_body(body(P1, P2, P3), body(P1, P2, new_para, P3))
    assert edits(ops) == [(INSERT, new_para + "\n\n")]


def test_moved_paragraph_is_paired_as_a_move_not_word_diffed():
    old, new = body(P1, P2, P3, P4), body(P2, P3, P1, P4.replace("week", "month"))
    ops = diff_body(old, new)
    assert old_text(ops) == old and new_text(ops) == new
    moves = find_moves(ops)
    gone = [i for i in moves if ops[i][0] == DELETE]
    assert len(gone) == 1
    assert ops[gone[0]] == (DELETE, P1 + "\n\n")  # with its line break
    assert ops[moves[gone[0]]][0] == INSERT and ops[moves[gone[0]]][1].strip() == P1
    assert all(op == EQUAL or text.strip() for op, text in ops)  # no bare line break
    # the edit next to the move is still a word edit
    assert (DELETE, "week") in ops and (INSERT, "month") in ops


def test_rewritten_sentence_borrows_no_words_from_its_neighbours():
    rewritten = "Officials gave no figure for the dead, and the search went on."
    old, new = body(P1, P2), body(P1, rewritten + " " + P2.split(". ")[1])
    ops = diff_body(old, new)
    # One replacement inside the changed sentence; the sentence after it stays equal.
    assert edits(ops) == [(DELETE, "At least 8 people died"), (INSERT, rewritten[:-1])]
    assert ops[-1] == (EQUAL, ". Rescue teams were still searching on Tuesday.")
    assert old_text(ops) == old and new_text(ops) == new


def test_short_repeated_paragraphs_are_not_moves():
    old, new = body("Advertisement", P1, P2), body(P1, "Advertisement", P2)
    assert find_moves(diff_body(old, new)) == {}


def test_spent_work_budget_gives_exact_replacements(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(paragraphs, "WORK_CHARS", 10)
    old, new = body(P1, P2, P3), body(P1.replace("Monday", "Sunday"), P2, P3 + " Later.")
    ops = diff_body(old, new)
    assert old_text(ops) == old and new_text(ops) == new
    assert (DELETE, P1) in ops  # no word diff once the budget is spent


def test_bodies_are_diffed_by_paragraph_in_field_diffs():
    old = {"headline": "Storm", "body": body(P1, P2, P3, P4)}
    new = {"headline": "Storm", "body": body(P2, P3, P1, P4)}
    ops = diff.diff_fields(old, new, history.TEXT_DIFFS)["body"]
    assert len(find_moves(ops)) == 2


paragraph_text = st.lists(
    st.one_of(
        st.sampled_from([P1, P2, P3, P4, "Short.", "", " "]),
        st.text(st.sampled_from("ab .!?\n“”"), max_size=30),
    ),
    max_size=8,
).map("\n\n".join)


@given(paragraph_text, paragraph_text)
@settings(max_examples=300)
def test_sides_join_back_to_both_bodies(a, b):
    ops = diff_body(a, b)
    assert old_text(ops) == a and new_text(ops) == b
    assert all(text for _, text in ops)


@given(st.text(), st.text())
@settings(max_examples=200)
def test_any_text_round_trips_and_both_raw_diffs_agree(a, b):
    ops = diff_body(a, b)
    assert old_text(ops) == a and new_text(ops) == b
    assert paragraphs._diff_body(a, b, diff._raw_diff_python) == ops


@pytest.mark.parametrize("last", [False, True])
def test_move_to_the_end_takes_the_break_before_it(last):
    tail = [] if last else [P4]
    ops = diff_body(body(P1, P2, P3, *tail), body(P2, P3, *tail, P1))
    assert len(find_moves(ops)) == 2
    assert all(op == EQUAL or text.strip() for op, text in ops)


def test_views_show_a_move_as_a_move():
    ops = diff_body(body(P1, P2, P3), body(P2, P3, P1))
    text = render.render_text({"body": ops})
    assert "[↓ moved below: “The storm reached the coast on Monday night,…”]" in text
    assert f"[↓ moved here from above] {P1}" in text
    assert "[-" not in text and "{+" not in text  # nothing shown as deleted or inserted
    html = render.render_html(ops)
    assert "<del" not in html and "<ins" not in html
    assert f'<span style="{render.MOVED_STYLE}">{P1}</span>' in html
    up = render.render_text({"body": diff_body(body(P2, P3, P1), body(P1, P2, P3))})
    assert "[↑ moved above:" in up and "[↑ moved here from below]" in up
