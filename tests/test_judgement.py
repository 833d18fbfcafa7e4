"""Judging edits on real headline edits from the Offstream corpus."""

from __future__ import annotations

import pytest

from tracker import diff
from tracker.judgement import MINOR, SUBSTANTIVE, classify, fold, readable

from .conftest import manifest_snapshots

IVORIAN = [
    c["title"].strip() for c in manifest_snapshots("ivorian-soldiers-2018-01-10")[0]["changes"]
]
NUNES = [c["title"].strip() for c in manifest_snapshots("nunes-memo-2018-02-02")[-1]["changes"]]


def judge(old: str, new: str) -> str | None:
    return classify({"headline": diff.diff_text(old, new)})


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        # Mangled accents repaired in three words of a long headline.
        (IVORIAN[2], IVORIAN[3], MINOR),
        # Words moved and "the" added.
        (IVORIAN[3], IVORIAN[4], SUBSTANTIVE),
        # "Centre" -> "fr": the site mangling a word is not typo-sized.
        (IVORIAN[4], IVORIAN[5], SUBSTANTIVE),
        # "United States president" -> "U.S. President", "DOJ" -> "DoJ".
        (NUNES[0], NUNES[1], SUBSTANTIVE),
        ("Syrian Civil War. Palmyra offensive", "Syrian Civil War: Palmyra offensive", MINOR),
        (
            "release the Nunes memo, against the FBI",
            "release the Nunes Memo against the FBI",
            MINOR,
        ),
        (
            "A boat capsizes, leaving at least 8 dead",
            "A boat capsizes, leaving at least eight dead",
            SUBSTANTIVE,
        ),
        ("Ivorian soldiers in Bouake attack", "Ivorian soldiers in Bouaké attack", MINOR),
        ("Trump authorises the release", "Trump authorizes the release", MINOR),
        ("Trump authorises the release", "Trump blocks the release", SUBSTANTIVE),
        ("same", "same", None),
    ],
)
def test_classify_real_edits(old: str, new: str, expected: str | None) -> None:
    assert judge(old, new) == expected


def test_one_substantive_field_makes_the_change_substantive() -> None:
    fields = {
        "headline": diff.diff_text("Nunes memo", "Nunes Memo"),
        "summary": diff.diff_text("The memo is out.", "The memo is withheld."),
    }
    assert classify(fields) == SUBSTANTIVE
    assert classify({"headline": fields["headline"]}) == MINOR


def test_list_fields_minor_only_when_entries_are_the_same_folded() -> None:
    assert classify({"tags": diff.diff_list(["Côte d'Ivoire"], ["Cote d’Ivoire"])}) == MINOR
    assert classify({"tags": diff.diff_list(["Mexico"], ["Mexico", "Venezuela"])}) == SUBSTANTIVE


def test_fold_drops_case_accents_punctuation_and_spacing() -> None:
    assert fold("  Décisions   Opérationnelles, “DoJ”! ") == "decisions operationnelles doj"


def test_a_short_field_rewritten_almost_entirely_is_one_replacement() -> None:
    ops = diff.diff_text("Storm hits the coast", "Minister resigns over the scandal")
    assert len(ops) > 2  # word diff keeps "the" as equal: confetti
    assert readable(ops) == [
        (-1, "Storm hits the coast"),
        (1, "Minister resigns over the scandal"),
    ]


def test_a_similar_or_long_field_keeps_its_word_diff() -> None:
    similar = diff.diff_text(NUNES[0], NUNES[1])
    assert readable(similar) == similar
    long_old = " ".join(["alpha beta gamma"] * 40)
    long_new = " ".join(["delta epsilon gamma"] * 40)
    rewritten = diff.diff_text(long_old, long_new)
    assert diff.similarity(rewritten) < 0.5 and readable(rewritten) == rewritten
