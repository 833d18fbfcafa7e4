"""How much an edit matters: classes and reasons on real-shaped and real (Offstream) edits."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tracker.compare import diff
from tracker.compare.judgement import readable
from tracker.compare.significance import (
    REWORDING,
    STYLE,
    SUBSTANTIVE,
    judge,
    judge_text,
)
from tracker.compare.significance_style import fold

from .conftest import manifest_snapshots

LABELLED = json.loads(
    (Path(__file__).parent / "fixtures" / "significance" / "labelled.json").read_text("utf-8")
)["edits"]
NUNES = [c["title"].strip() for c in manifest_snapshots("nunes-memo-2018-02-02")[-1]["changes"]]


@pytest.mark.parametrize("edit", LABELLED, ids=[e["note"][:40] for e in LABELLED])
def test_labelled_edits_get_their_class_and_reasons(edit: dict) -> None:
    judged = judge_text(edit["old"], edit["new"])
    assert judged.classification == edit["expected"]["class"]
    assert list(judged.reasons) == edit["expected"]["reasons"]


def test_the_labelled_subset_agrees_with_the_hand_labels_but_where_noted() -> None:
    """Every disagreement with the hand label is one the fixture explains."""
    differing = [e for e in LABELLED if e["expected"]["class"] != e["label"]]
    assert all("redline" in e["note"] for e in differing)
    assert len(differing) == 2


@pytest.mark.parametrize(
    ("old", "new", "reason"),
    [
        ("Blast kills 8 in market", "Blast kills 12 in market", "number changed: 8 → 12"),
        (
            "Blast kills several in market",
            "Blast kills 12 in market",
            "number changed: several → 12",
        ),
        ("Blast in market", "Blast kills 12 in market", "number added: 12"),
        ("Arsenal 0-0 Wolves", "Arsenal 1-0 Wolves", "number changed: 0-0 → 1-0"),
        ("Talks resume in the capital", "Talks resume in Vienna", "name added: vienna"),
        ("Talks resume with Iran in Vienna", "Talks resume in Vienna", "name removed: iran"),
        ("Police find weapons", "Police find no weapons", "negation added: no"),
        ("Zeugen sahen keine Täter", "Zeugen sahen Täter", "negation removed: keine"),
        (
            "Drone hit the residence",
            "Drone reportedly hit the residence",
            "hedging added: reportedly",
        ),
        (
            "Angeblicher Angriff auf Residenz",
            "Angriff auf Residenz",
            "hedging removed: angeblicher",
        ),
        ("Officer was reckless", "Officer was reckless - prosecutors", "attribution added"),
        ("Rebels ask for aid, Russia says", "Rebels ask Russia for aid", "attribution removed"),
        ("Six hurt, according to officials", "Six hurt", "attribution removed"),
        ("Has the rally peaked", "Has the rally peaked?", "question mark added"),
        (
            "Trump 'very angry' at attack",
            "Trump very angry at attack",
            "quotation removed: “very angry”",
        ),
        (
            "Ukraine: Russia launched invasion",
            "Ukraine: Russia launched 'full-scale invasion'",
            "quotation added: “full-scale invasion”",
        ),
        (
            "Man arrested after hostage standoff",
            "Man arrested after standoff dies",
            "outcome added: death",
        ),
        ("Leicester face Randers tonight", "Leicester beat Randers tonight", "outcome added: win"),
        ("Mann lebensbedrohlich verletzt", "Mann stirbt im Krankenhaus", "outcome removed: injury"),
        ("Fire at depot. Roads shut.", "Fire at depot. Roads shut. Two dead.", "1 sentence added"),
        ("Fire at depot. Roads shut. Two dead.", "Fire at depot.", "2 sentences removed"),
    ],
)
def test_each_substantive_reason(old: str, new: str, reason: str) -> None:
    judged = judge_text(old, new)
    assert judged.classification == SUBSTANTIVE
    assert reason in judged.reasons


@pytest.mark.parametrize(
    ("old", "new", "reason"),
    [
        ("Voters Back Broadband", "Voters back broadband", "case"),
        (
            "Syrian Civil War. Palmyra offensive",
            "Syrian Civil War: Palmyra offensive",
            "punctuation",
        ),
        ("Tote in der Schweiz - Explosion", "Tote in der Schweiz – Explosion", "dashes"),
        ('"Der Tyrann ist gestürzt"', "„Der Tyrann ist gestürzt“", "quotes"),
        ("Ivorian soldiers in Bouake", "Ivorian soldiers in Bouaké", "accents"),
        ("There is no safe place anymore", "There is no safe place any more", "spacing"),
        ("At least 8 dead", "At least eight dead", "spelled-out number"),
        ("Manduro lands in New York", "Maduro lands in New York", "typo"),
        ("Trial asks if officer acted", "The trial asks if officer acted", "article added"),
        (
            "Banks' assets frozen, Johnson says.",
            "Banks' assets frozen, Johnson…",
            "cut short by the page",
        ),
        ("Scientists saw startling...", "Scientists saw startling results.", "no longer cut short"),
        ("Trump bei „Fox News“", "Trump bei Fox News", "quotes"),
    ],
)
def test_each_style_reason(old: str, new: str, reason: str) -> None:
    judged = judge_text(old, new)
    assert judged.classification == STYLE, judged
    assert reason in judged.reasons


def test_rewording_names_the_share_of_words_changed() -> None:
    judged = judge_text(
        "Rebels ask Russia for military aid", "Rebels ask Russia for military support"
    )
    assert (judged.classification, judged.reasons) == (REWORDING, ("reworded: 17% of words",))


def test_scores_fall_in_their_class_bands_and_grow_with_the_change() -> None:
    style = judge_text("Voters Back Broadband", "Voters back broadband").score
    small = judge_text("Storm hits the coast tonight", "Storm lashes the coast tonight").score
    large = judge_text(
        "Storm hits the coast tonight, closing roads",
        "Storm lashes the coast tonight, shutting roads",
    ).score
    one = judge_text("Blast kills 8", "Blast kills 12").score
    assert 0 <= style <= 0.1 < 0.2 <= small < large <= 0.5 < 0.6 <= one <= 1


def test_a_field_that_appears_is_added_not_zero_percent_similar() -> None:
    judged = judge(
        {
            "headline": diff.diff_text("A boat capsizes, 8 dead", "A boat capsizes, eight dead"),
            "summary": diff.diff_text("", "The boat was carrying 40 people."),
            "category": diff.diff_text("", "Disasters"),
        }
    )
    assert judged is not None
    assert judged.fields["summary"].kind == "added"
    assert judged.fields["headline"].classification == STYLE
    assert judged.classification == SUBSTANTIVE
    assert judged.reasons == [
        "headline: spelled-out number",
        "summary: added",
        "category: added",
    ]
    # A category appearing alone is metadata: rewording, not substantive.
    alone = judge({"category": diff.diff_text("", "Disasters")})
    assert alone is not None and alone.classification == REWORDING


def test_a_field_that_disappears_is_removed() -> None:
    judged = judge({"summary": diff.diff_text("Two regions ask for help.", "")})
    assert judged is not None
    assert (judged.classification, judged.reasons) == (SUBSTANTIVE, ["summary: removed"])


def test_list_fields() -> None:
    same = judge({"tags": diff.diff_list(["Côte d'Ivoire"], ["Cote d’Ivoire"])})
    more = judge({"tags": diff.diff_list(["Mexico"], ["Mexico", "Venezuela"])})
    assert same is not None and same.classification == STYLE
    assert more is not None and more.classification == REWORDING
    assert more.reasons == ["tags: +Venezuela"]


def test_the_change_takes_its_most_significant_field() -> None:
    judged = judge(
        {
            "headline": diff.diff_text("Nunes memo", "Nunes Memo"),
            "summary": diff.diff_text("The memo is out.", "The memo is not out."),
        }
    )
    assert judged is not None
    assert judged.classification == SUBSTANTIVE
    assert judged.score == judged.fields["summary"].score
    assert judge({"headline": diff.diff_text("same", "same")}) is None


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


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("Alex Trebek has passed away", "Alex Trebek has died"),  # the same outcome, twice
        ("Ein Rückblick auf das Jahr", "Ein Rückblick gegen die schlechte Laune"),  # article
        ("Russia launches invasion of Ukraine", "Ukraine: Russia has launched invasion"),
    ],
)
def test_an_outcome_named_in_both_versions_or_none_is_no_reason(old: str, new: str) -> None:
    assert not [r for r in judge_text(old, new).reasons if r.startswith("outcome")]
