"""What a feed entry says: a title naming what changed, and content any reader can follow.

Worked out here, before feedgen writes the entry (feeds/atom.py), from the change's stored
diff; nothing is recomputed from the versions.

Titles: "Headline changed: OLD → NEW" (shortened around the words that changed),
"Summary edited: HEADLINE (“old words” → “new words”)", "Removed from SOURCE: HEADLINE",
"Restored to SOURCE: HEADLINE", "Headline test: A / B". The words in brackets are the
first edit of the first changed field, so two successive edits of one item never share a
title.

Content: the diff with visible markers inside <del>/<ins> ("[−gone−]", "[+new+]"), since
text-mode readers drop both the elements and their styles; a body shows only the
paragraphs that changed; then a plain Before/After of each changed field.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from html import escape as _escape

from storage import Change
from tracker.compare import diff
from tracker.compare.paragraphs import split_paragraphs
from tracker.normalise import LIST_FIELDS
from tracker.present import render

TITLE_MAX = 160  # characters: readers cut titles at about this, or wrap them
HINT_MAX = 40  # characters of each side of the edit quoted in a title
CONTEXT_WORDS = 2  # words kept either side of a headline's change when it is shortened
ELLIPSIS = "…"
BODY_FIELDS = frozenset({"body"})  # shown as the paragraphs that changed only
# Element content only: quotes need no escape there, and Debian's html2text shows &#x27;.
escape = partial(_escape, quote=False)


def shorten(text: str, limit: int) -> str:
    """At most `limit` characters, cut at a word where possible, with … when cut."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[: max(1, limit - 1)]
    if " " in cut[limit // 2 :]:
        cut = cut[: cut.rindex(" ")]
    return cut.rstrip(" ,;:") + ELLIPSIS


def headline_change(old: str, new: str, limit: int) -> str:
    """ "OLD → NEW" in at most `limit` characters: whole if it fits, else the words that
    changed with CONTEXT_WORDS either side and … for what is left out."""
    whole = f"{' '.join(old.split())} → {' '.join(new.split())}"
    if len(whole) <= limit:
        return whole
    a, b = old.split(), new.split()
    start = 0
    while start < min(len(a), len(b)) and a[start] == b[start]:
        start += 1
    end = 0
    while end < min(len(a), len(b)) - start and a[-1 - end] == b[-1 - end]:
        end += 1
    keep_from = max(0, start - CONTEXT_WORDS)

    def middle(words: list[str]) -> str:
        keep_to = min(len(words), len(words) - end + CONTEXT_WORDS)
        shown = " ".join(words[keep_from:keep_to])
        before = ELLIPSIS if keep_from > 0 else ""
        after = ELLIPSIS if keep_to < len(words) else ""
        return f"{before}{shown}{after}"

    side = (limit - 3) // 2  # " → " between the two
    return f"{shorten(middle(a), side)} → {shorten(middle(b), side)}"


def edit_hint(ops: Sequence[diff.Op]) -> str:
    """The first edit of a field in a few words: “old” → “new”, added “new”, removed
    “old”, a moved paragraph, or +added, −removed entries of a list."""
    if isinstance(ops, diff.ListOps):
        added = [f"+{e}" for op, e in ops if op == diff.INSERT]
        removed = [f"\u2212{e}" for op, e in ops if op == diff.DELETE]
        return shorten(", ".join(added + removed), 2 * HINT_MAX)
    moves = render.move_notes(ops)
    deleted = inserted = ""
    for index, (op, text) in enumerate([*ops, (diff.EQUAL, "")]):
        if index in moves:
            if deleted or inserted:
                break
            return "a paragraph moved"
        if op == diff.DELETE:
            deleted += text
        elif op == diff.INSERT:
            inserted += text
        elif deleted.strip() or inserted.strip():
            break
        else:
            deleted = inserted = ""  # a line break alone: look on
    old, new = shorten(deleted, HINT_MAX), shorten(inserted, HINT_MAX)
    if old and new:
        return f"“{old}” → “{new}”"
    return f"added “{new}”" if new else f"removed “{old}”" if old else ""


def _field_words(names: Sequence[str]) -> str:
    words = [name.lower() for name in names]
    if len(words) <= 1:
        return "".join(words)
    return f"{', '.join(words[:-1])} and {words[-1]}"


def entry_title(
    change: Change, field_ops: dict[str, list[diff.Op]], headline: str, source_name: str
) -> str:
    """What the entry's title says (see the module docstring); at most TITLE_MAX."""
    headline = " ".join(headline.split())
    if change.kind == "headline_test":
        return shorten("Headline test: " + " / ".join(change.variants or [headline]), TITLE_MAX)
    if change.kind == "removed":
        return shorten(f"Removed from {source_name}: {headline}", TITLE_MAX)
    if change.kind == "restored":
        return shorten(f"Restored to {source_name}: {headline}", TITLE_MAX)
    names = [name for name in change.fields if name in field_ops] or list(field_ops)
    if "headline" in names:
        ops = field_ops["headline"]
        what = f"{_field_words(names).capitalize()} changed: "
        return what + headline_change(diff.old_text(ops), diff.new_text(ops), TITLE_MAX - len(what))
    if not names:
        return shorten(f"Edited: {headline}", TITLE_MAX)
    what = f"{_field_words(names).capitalize()} edited: "
    hint = edit_hint(field_ops[names[0]])
    hint = f" ({hint})" if hint else f" (version {change.to_n})"
    return what + shorten(headline, max(20, TITLE_MAX - len(what) - len(hint))) + hint


def judgement_words(change: Change) -> str:
    """ "substantive edit: headline: number changed: 8 → 12" (its reasons), or, for an edit
    stored before reasons were, "substantive edit, 72 % similar"."""
    words = f"{change.classification or 'unclassified'} edit"
    if change.reasons:
        return f"{words}: {'; '.join(change.reasons)}"
    if change.similarity is not None:
        words += f", {change.similarity:.0%} similar"
    return words


def entry_summary(change: Change) -> str:
    fields = ", ".join(change.fields) or "no visible field"
    return f"Version {change.from_n} → {change.to_n}: {fields} changed ({judgement_words(change)})."


def changed_paragraphs(ops: Sequence[diff.Op]) -> list[diff.Op]:
    """A body's ops with the unchanged stretches between edits cut to the paragraphs that
    hold an edit: the rest of the edited paragraph stays, whole paragraphs between become
    …, so an entry about one changed sentence is not the whole article."""
    out: list[diff.Op] = []
    last = len(ops) - 1
    for index, (op, text) in enumerate(ops):
        if op != diff.EQUAL or "\n" not in text:
            out.append((op, text))
            continue
        units = split_paragraphs(text)
        breaks = [i for i, unit in enumerate(units) if not unit.strip()]
        # the rest of the paragraph the edit before is in, the start of the next edit's one
        head = "".join(units[: breaks[0] + 1]) if index > 0 else ""
        tail = "".join(units[breaks[-1] + 1 :]) if index < last else ""
        if len(head) + len(tail) >= len(text):
            out.append((op, text))
            continue
        if head:
            out.append((op, head))
        out.append((op, f"{ELLIPSIS}\n\n"))
        if tail:
            out.append((op, tail))
    return out


def legible_fields(field_ops: dict[str, list[diff.Op]]) -> dict[str, list[diff.Op]]:
    """The fields as an entry shows them: bodies cut to their changed paragraphs."""
    return {
        name: changed_paragraphs(ops) if name in BODY_FIELDS else ops
        for name, ops in field_ops.items()
    }


def before_after(
    field_ops: dict[str, list[diff.Op]], from_n: int | None, to_n: int | None
) -> list[str]:
    """Each field's old and new value in plain words, for readers that drop all markup."""
    parts = []
    for name, ops in field_ops.items():
        label = escape(name.capitalize())
        only = ", paragraphs that differ" if name in BODY_FIELDS else ""
        parts.append(
            f"<p><strong>{label} before</strong> (version {from_n}{only}): "
            f"{escape(_side(name, ops, -1))}</p>"
            f"<p><strong>{label} after</strong> (version {to_n}{only}): "
            f"{escape(_side(name, ops, 1))}</p>"
        )
    return parts


def _side(name: str, ops: list[diff.Op], side: int) -> str:
    """One side of a field's diff as plain text: -1 the old value, 1 the new one; of a
    body, only the paragraphs the other side does not have."""
    if name in LIST_FIELDS:
        text = ", ".join(entry for op, entry in ops if op in (0, side))
    elif name in BODY_FIELDS:
        mine = split_paragraphs(diff.old_text(ops) if side == -1 else diff.new_text(ops))
        theirs = set(split_paragraphs(diff.new_text(ops) if side == -1 else diff.old_text(ops)))
        text = f" {ELLIPSIS} ".join(p for p in mine if p.strip() and p not in theirs)
        return text if text.strip() else "(none)"  # only added, removed or moved ones
    else:
        text = diff.old_text(ops) if side == -1 else diff.new_text(ops)
    return text if text.strip() else "(empty)"


def entry_html(change: Change, field_ops: dict[str, list[diff.Op]]) -> str:
    """The diff with visible markers, then a plain Before/After (see the module docstring)."""
    parts = [f"<p><em>{escape(judgement_words(change).capitalize())}</em></p>"]
    parts.append(render.render_fields_html(legible_fields(field_ops), markers=True))
    shown = {name: field_ops[name] for name in change.fields if name in field_ops}
    parts.extend(before_after(shown, change.from_n, change.to_n))
    return "\n".join(parts)


def headline_test_html(change: Change, field_ops: dict[str, list[diff.Op]]) -> tuple[str, str]:
    """A headline test's summary and content: the variants, then the switch that made it."""
    variants = change.variants or []
    tested = f"The headline switches between {len(variants)} variants"
    shown = "".join(f"<li>{escape(variant)}</li>" for variant in variants)
    content = f"<p>{tested}, an A/B test:</p><ul>{shown}</ul>" + entry_html(change, field_ops)
    return f"{tested} (an A/B test): {' / '.join(variants)}.", content


def listing_html(change: Change, source_name: str) -> tuple[str, str]:
    """A removal's or restoration's summary and content."""
    verb = "is no longer listed on" if change.kind == "removed" else "is listed again on"
    return (
        f"The item {verb} {source_name}.",
        f"<p>The item {verb} {escape(source_name)}.</p>",
    )


def archived_html(archived_url: str) -> str:
    """A line saying where the page, as it was at this version, is archived."""
    link = _escape(archived_url, quote=True)
    return f'\n<p>Archived copy of this version: <a href="{link}">{escape(archived_url)}</a></p>'
