"""How much an edit matters: a class, a 0-1 score and the reasons, field by field.

Pure text in, judgement out (nothing here reads or writes storage), so the rules can be
measured on their own (bench/significance.py) the way EDGI keeps web-monitoring-diff apart
from its store. This module weighs one field's edit and a change's fields; what it weighs
is in tracker/compare/significance_rules.py (the substantive rules: numbers, names, negation,
hedging, outcomes...) and tracker/compare/significance_style.py (folded words, style-only edits).

Classes, from least to most significant:

- style: the words are the same once case, accents, punctuation, quotes, dashes, spacing
  and spelled-out numbers ("8" / "eight") are set aside; or typo-sized word edits (each at
  most two letters); or the page cut the text short ("…") or stopped doing so.
- rewording: other wording changes that trip none of the rules below.
- substantive, naming why: a number changed, added or removed ("number changed: 8 → 12");
  a name or place added or removed (a capitalised word inside a sentence, in text that is
  not Title Case); a negation added or removed ("not", "no", "kein"...); hedging or
  attribution added or removed ("alleged", "reportedly", "police say", "according to",
  a "- Source" tail); a question mark added or removed (ILNewsDiff's one exception to
  ignoring one-letter edits); quotation marks added or removed (around anything but a
  name); a sentence added or removed (NewsEdits: added and deleted sentences carry the
  news); or most of the words changed ("rewritten").
- added / removed: a field that appears or disappears is named so (never "0 % similar");
  the change counts it as substantive for text fields, rewording for category and tags.

A change takes the highest class of its fields and the highest score. The score places
the change inside its class's band (style up to 0.1, rewording 0.2-0.5, substantive
0.6-1.0) by the share of words changed on a log curve (EDGI's significance scoring: a few
words matter more than their share) and, for substantive edits, by how many reasons fired.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from tracker.compare import diff
from tracker.compare.significance_rules import _RULES, _question_reasons, _quote_reasons
from tracker.compare.significance_style import (
    _cut_short,
    _folded_words,
    _style_reasons,
    changed_share,
    fold,
)

STYLE, REWORDING, SUBSTANTIVE = "style", "rewording", "substantive"
CLASSES = (STYLE, REWORDING, SUBSTANTIVE)  # least to most significant
ADDED, REMOVED = "added", "removed"  # a field's own kind when it appears or disappears
METADATA_FIELDS = frozenset({"category", "tags"})  # retagging is never substantive alone

REWRITTEN_SHARE = 0.6  # at least this share of the words changed: "rewritten"
_BANDS = {STYLE: (0.0, 0.1), REWORDING: (0.2, 0.5), SUBSTANTIVE: (0.6, 1.0)}


@dataclass(frozen=True)
class FieldJudgement:
    """One field's edit: its kind (a class, or added/removed), score and reasons."""

    kind: str
    score: float
    reasons: tuple[str, ...] = ()

    @property
    def classification(self) -> str:
        """The class this field gives the change."""
        return self.kind if self.kind in CLASSES else SUBSTANTIVE


@dataclass(frozen=True)
class Judgement:
    """A change's class (the highest of its fields), score (the highest) and reasons,
    each "field: reason"."""

    classification: str
    score: float
    reasons: list[str] = field(default_factory=list)
    fields: dict[str, FieldJudgement] = field(default_factory=dict)


# --- judging -----------------------------------------------------------------------------


def _curve(share: float) -> float:
    """A log curve over the share changed: the first words changed count the most."""
    return math.log1p(20 * share) / math.log1p(20)


def _score(kind: str, share: float, reasons: int = 0) -> float:
    low, high = _BANDS[kind]
    weight = max(_curve(share), min(1.0, reasons / 4)) if kind == SUBSTANTIVE else _curve(share)
    return round(low + (high - low) * weight, 3)


def judge_text(old: str, new: str, ops: Sequence[diff.Op] | None = None) -> FieldJudgement:
    """Judge one text field's edit from `old` to `new` (ops: their word diff, if known)."""
    if ops is None:
        ops = diff.diff_text(old, new)
    if not old.strip() and new.strip():
        return FieldJudgement(ADDED, _BANDS[SUBSTANTIVE][0], ("added",))
    if old.strip() and not new.strip():
        return FieldJudgement(REMOVED, _BANDS[SUBSTANTIVE][0], ("removed",))
    cut = _cut_short(old, new)
    if cut:
        return FieldJudgement(STYLE, _BANDS[STYLE][0], (cut,))
    # The same words once folded: only quoting and questions can still make it matter.
    same_words = "".join(_folded_words(old)) == "".join(_folded_words(new))
    rules = (_question_reasons, _quote_reasons) if same_words else _RULES
    reasons = [reason for rule in rules for reason in rule(old, new)]
    share = changed_share(ops)
    if not reasons:
        style = _style_reasons(old, new, ops)
        if style is not None:
            return FieldJudgement(STYLE, _score(STYLE, share), tuple(style))
        if share < REWRITTEN_SHARE:
            return FieldJudgement(
                REWORDING, _score(REWORDING, share), (f"reworded: {share:.0%} of words",)
            )
    if share >= REWRITTEN_SHARE:
        reasons.append(f"rewritten: {share:.0%} of words")
    return FieldJudgement(SUBSTANTIVE, _score(SUBSTANTIVE, share, len(reasons)), tuple(reasons))


def judge_list(name: str, ops: Sequence[diff.Op]) -> FieldJudgement:
    """Judge a list field (tags, sources): entries added or removed."""
    removed = [e for op, e in ops if op == diff.DELETE]
    added = [e for op, e in ops if op == diff.INSERT]
    if {fold(e) for e in removed} == {fold(e) for e in added}:
        return FieldJudgement(STYLE, _BANDS[STYLE][0], ("spelling of entries",))
    kind = REWORDING if name in METADATA_FIELDS else SUBSTANTIVE
    if not any(op == diff.EQUAL for op, _ in ops):
        kind = ADDED if not removed else REMOVED if not added else kind
    reasons = [f"+{e}" for e in added] + [f"−{e}" for e in removed]
    low, high = _BANDS[REWORDING if name in METADATA_FIELDS else SUBSTANTIVE]
    return FieldJudgement(kind, low, tuple(reasons))


def judge(field_ops: Mapping[str, Sequence[diff.Op]]) -> Judgement | None:
    """The judgement of a change from its fields' diffs; None when no field changed."""
    fields: dict[str, FieldJudgement] = {}
    for name, ops in field_ops.items():
        if not diff.changed(ops):
            continue
        if isinstance(ops, diff.ListOps):
            fields[name] = judge_list(name, ops)
        else:
            fields[name] = judge_text(diff.old_text(ops), diff.new_text(ops), ops)
    if not fields:
        return None
    classes = [_change_class(name, judged) for name, judged in fields.items()]
    reasons = [f"{name}: {reason}" for name, j in fields.items() for reason in _shown(j)]
    return Judgement(
        classification=max(classes, key=CLASSES.index),
        score=max(judged.score for judged in fields.values()),
        reasons=reasons,
        fields=fields,
    )


def _change_class(name: str, judged: FieldJudgement) -> str:
    """A field that appears or goes is substantive, but category and tags are metadata."""
    if judged.kind in (ADDED, REMOVED) and name in METADATA_FIELDS:
        return REWORDING
    return judged.classification


def _shown(judged: FieldJudgement) -> Iterable[str]:
    if judged.kind in (ADDED, REMOVED) and judged.reasons in (("added",), ("removed",)):
        return [judged.kind]
    if judged.kind in (ADDED, REMOVED):
        return [f"{judged.kind}: {', '.join(judged.reasons)}"]
    return judged.reasons
