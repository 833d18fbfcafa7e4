"""Feed entry titles and content (feeds/entries.py), without a database."""

from __future__ import annotations

from datetime import UTC, datetime

from feeds import entries
from storage import Change
from tracker.compare import diff, paragraphs
from tracker.record import history

from .tools import text_reader

WHEN = datetime(2026, 1, 1, tzinfo=UTC)
P1 = "The storm reached the coast on Monday night, officials said."
P2 = "At least 8 people died. Rescue teams were still searching on Tuesday."
P3 = "The regional governor asked for help from the army and neighbouring provinces."
P4 = "Schools will stay closed for the rest of the week."


def change(kind: str = "edited", fields: list[str] | None = None, to_n: int = 2) -> Change:
    return Change(
        item_id=1,
        source_id=1,
        kind=kind,
        from_n=to_n - 1,
        to_n=to_n,
        fields=fields or [],
        classification="substantive",
        similarity=0.9,
        occurred_at=WHEN,
        recorded_at=WHEN,
    )


def test_shorten_cuts_at_a_word_with_an_ellipsis() -> None:
    assert entries.shorten("a  short\ntext", 20) == "a short text"
    assert (
        entries.shorten("Ivorian soldiers in Bouake attack the base", 25) == "Ivorian soldiers in…"
    )
    assert len(entries.shorten("x" * 100, 10)) == 10


def test_headline_change_keeps_the_words_that_changed() -> None:
    old = "A boat capsizes in the north of Indonesian Borneo, with at least 8 people dead."
    new = old.replace("with", "leaving")
    assert entries.headline_change("Old", "New", 100) == "Old → New"
    short = entries.headline_change(old, new, 80)
    assert short == "…Indonesian Borneo, with at least… → …Indonesian Borneo, leaving at least…"
    assert len(entries.headline_change(old * 3, new * 3, 60)) <= 60


def test_titles_for_each_kind_of_change() -> None:
    headline_ops = diff.diff_text("Storm hits coast", "Storm kills 8 on coast")
    edited = change(fields=["headline"])
    title = entries.entry_title(edited, {"headline": headline_ops}, "Storm kills 8", "BBC")
    assert title == "Headline changed: Storm hits coast → Storm kills 8 on coast"
    summary = {"summary": diff.diff_text("It was risible.", "It was suggested.")}
    title = entries.entry_title(change(fields=["summary"]), summary, "Storm", "BBC")
    assert title == "Summary edited: Storm (“risible” → “suggested”)"
    tags = {"tags": diff.diff_list(["a"], ["b"])}
    title = entries.entry_title(change(fields=["tags", "summary"]), tags | summary, "Storm", "BBC")
    assert title == "Tags and summary edited: Storm (+b, \u2212a)"
    assert entries.entry_title(change("removed"), {}, "Storm", "BBC") == "Removed from BBC: Storm"
    assert entries.entry_title(change("restored"), {}, "Storm", "BBC") == "Restored to BBC: Storm"


def test_successive_edits_of_one_field_have_different_titles() -> None:
    versions = ["It was risible.", "It was suggested.", "It was said.", "It was suggested."]
    titles = [
        entries.entry_title(
            change(fields=["summary"], to_n=n + 2), {"summary": diff.diff_text(a, b)}, "H", "S"
        )
        for n, (a, b) in enumerate(zip(versions, versions[1:], strict=False))
    ]
    assert len(set(titles)) == 3


def test_a_body_entry_shows_only_the_changed_paragraphs_and_the_move() -> None:
    long = [f"Paragraph {n} says nothing new about the storm at all." for n in range(10)]
    old = "\n\n".join([P1, *long, P2, P3, P4])
    new = "\n\n".join([*long, P2.replace("8", "12"), P3, P1, P4])
    ops = history.TEXT_DIFFS["body"](old, new)
    assert paragraphs.find_moves(ops)
    shown = entries.changed_paragraphs(ops)
    assert diff.old_text(shown).count("Paragraph") < 4  # the unchanged ones left out
    html = entries.entry_html(change(fields=["body"]), {"body": ops})
    seen = text_reader(html)
    assert "[−8−][+12+]" in seen
    assert "[↓ moved below: “The storm reached the coast on Monday night,…”]" in seen
    assert f"[↓ moved here from above] {P1}" in seen
    assert f"[−{P1}" not in seen and f"[+{P1}" not in seen  # a move, not a deletion
    # Before/After: only the paragraphs that are not on the other side
    assert f"Body before (version 1, paragraphs that differ): {P2}" in seen
    assert f"Body after (version 2, paragraphs that differ): {P2.replace('8', '12')}" in seen
    assert "Paragraph 5" not in seen
    moved_only = history.TEXT_DIFFS["body"](old, "\n\n".join([*long, P2, P3, P1, P4]))
    seen = text_reader(entries.entry_html(change(fields=["body"]), {"body": moved_only}))
    assert "Body before (version 1, paragraphs that differ): (none)" in seen
