"""How much an edit matters: a class, a 0-1 score and the reasons, field by field.

Pure text in, judgement out (nothing here reads or writes storage), so the rules can be
measured on their own (bench/significance.py) the way EDGI keeps web-monitoring-diff apart
from its store.

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
import re
import string
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

from tracker import diff

STYLE, REWORDING, SUBSTANTIVE = "style", "rewording", "substantive"
CLASSES = (STYLE, REWORDING, SUBSTANTIVE)  # least to most significant
ADDED, REMOVED = "added", "removed"  # a field's own kind when it appears or disappears
METADATA_FIELDS = frozenset({"category", "tags"})  # retagging is never substantive alone

TYPO_MAX_CHARS = 2  # a word edit of at most this many letters is a typo
TYPO_MAX_SHARE = 0.02  # ... and all of them together at most this share of the field
REWRITTEN_SHARE = 0.6  # at least this share of the words changed: "rewritten"
_BANDS = {STYLE: (0.0, 0.1), REWORDING: (0.2, 0.5), SUBSTANTIVE: (0.6, 1.0)}

_PUNCTUATION = set(string.punctuation) | set("\u2018\u2019\u201a\u201c\u201d\u201e\u2013\u2014«»…")
_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")
# A number as written: 8, 4.300, 1,5, a score or range 0-0 / 12-24; not the 86 of "x86".
_NUMBER = re.compile(r"(?<![^\W\d_])\d+(?:[.,]\d+)*(?:\s?[-–]\s?\d+(?:[.,]\d+)*)?(?![^\W\d_]{3})")


def _vocabulary(words: str) -> frozenset[str]:
    return frozenset(words.split())


_SPELLED = {
    word: str(value)
    for value, words in {
        2: "two zwei",
        3: "three drei",
        4: "four vier",
        5: "five fünf",
        6: "six sechs",
        7: "seven sieben",
        8: "eight acht",
        9: "nine neun",
        10: "ten zehn",
        11: "eleven elf",
        12: "twelve zwölf",
        20: "twenty zwanzig",
        100: "hundred hundert",
        1000: "thousand tausend",
    }.items()
    for word in words.split()
}
# Quantities without a figure: "several dead" -> "12 dead" is a number changed.
_VAGUE = _vocabulary(
    "several dozens hundreds thousands millions mehrere zahlreiche dutzende hunderte tausende"
)
_NEGATIONS = _vocabulary(
    "not no never nobody nothing none neither nor without cannot nicht kein keine keinen "
    "keinem keiner keines nie niemals niemand nichts ohne weder"
)
_HEDGES = _vocabulary(
    "alleged allegedly reportedly reported reports claims claimed claim suspected "
    "apparently purportedly purported possibly likely unconfirmed rumoured rumored feared "
    "believed angeblich angeblichen angeblicher angebliches mutmaßlich mutmaßliche "
    "mutmaßlichen mutmaßlicher offenbar offensichtlich vermutlich möglicherweise "
    "berichten berichte berichtet soll sollen"
)
_ATTRIBUTIONS = _vocabulary(
    "says say said tells told accuses accused laut sagt sagen sagte zufolge"
)
_SOURCE_NOUNS = _vocabulary("police prosecutors officials sources witnesses ministers reports")
# What happened to whom: news turns on these ("injured" → "dies", "face" → "beat"). An
# outcome named in one version and in no form in the other is a fact changed. Folded
# words (no case, no accents); "passed away" counts as a death.
_OUTCOMES = {
    "death": _vocabulary(
        "dies died dying dead death deaths deadly kill kills killed killing fatal "
        "stirbt starb sterben gestorben tot tote toten todesopfer getotet todlich"
    ),
    "injury": _vocabulary(
        "injured injures injuring injury injuries wounded wounding verletzt verletzte "
        "verletzten verletzter schwerverletzt schwerverletzte verletzungen"
    ),
    "win": _vocabulary(
        "win wins won winning beat beats victory victorious sieg siegt siegen gewinnt "
        "gewinnen gewonnen besiegt"
    ),
    "defeat": _vocabulary("lose loses losing lost defeat defeated verliert verloren niederlage"),
    "draw": _vocabulary("draw draws drew drawn unentschieden remis"),
    "equaliser": _vocabulary(
        "equalise equalises equalised equaliser equalize equalizes equalized equalizer "
        "ausgleich gleicht"
    ),
    "arrest": _vocabulary(
        "arrest arrests arrested detained charged convicted jailed sentenced festgenommen "
        "festnahme festnahmen verhaftet angeklagt verurteilt"
    ),
    "resignation": _vocabulary(
        "resign resigns resigned resignation quits rucktritt zurucktreten zuruckgetreten"
    ),
    "invasion": _vocabulary("invade invades invaded invading invasion einmarsch einmarschiert"),
}
_ARTICLES = _vocabulary("a an the der die das den dem des ein eine einen einem einer")
_TAIL = re.compile(r"\s[–-]\s([^\s–-][^–-]*)$")  # "... - Ukraine": the source of a claim
_QUOTE_CHARS = str.maketrans({c: '"' for c in "“”„«»‟"})
_SINGLE_QUOTED = re.compile(r"(?:(?<=\s)|^)['‘‚]([^'‘’‚]+?)['’](?=[\s.,:;!?)]|$)")
_DOUBLE_QUOTED = re.compile(r'"([^"]+)"')
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[\"“„'‘«(]?[A-ZÄÖÜ0-9])")
_ELLIPSIS = re.compile(r"\s*(?:\.\.\.|…)\s*$")


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


# --- words -------------------------------------------------------------------------------


def fold(text: str) -> str:
    """Text with case, accents, punctuation and spacing removed: what a style edit keeps."""
    # Each rule folds the same two texts again: short ones (headlines, summaries) are
    # kept; a body is folded afresh rather than held in memory.
    return _folded_short(text) if len(text) <= _SHORT_TEXT else _fold(text)


_SHORT_TEXT = 1000


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    kept = (
        ch
        for ch in decomposed
        if not unicodedata.combining(ch)
        and ch not in _PUNCTUATION
        and unicodedata.category(ch)[0] != "P"
    )
    return " ".join("".join(kept).split())


_folded_short = lru_cache(maxsize=512)(_fold)


def _words(text: str) -> list[str]:
    return _WORD.findall(text)


def _folded_words(text: str) -> list[str]:
    """Folded words with spelled-out numbers as figures: "eight" and "8" are one word."""
    return [_SPELLED.get(w, w) for w in fold(text).split()]


def _edit_distance(a: str, b: str) -> int:
    from diff_match_patch import diff_match_patch

    dmp = diff_match_patch()
    return dmp.diff_levenshtein(dmp.diff_main(a, b, False))


# --- the rules ---------------------------------------------------------------------------


def _numbers(text: str) -> Counter[str]:
    """Numbers as written, keyed by value: "4.300" and "4,300" are one, "eight" is 8."""
    found: Counter[str] = Counter()
    for match in _NUMBER.finditer(text):
        found[re.sub(r"\s", "", match.group()).replace(",", ".")] += 1
    for word in _words(text):
        lowered = word.casefold()
        if lowered in _SPELLED:
            found[_SPELLED[lowered]] += 1
        elif lowered in _VAGUE:
            found[lowered] += 1
    return found


def _number_reasons(old: str, new: str) -> list[str]:
    gone, came = _numbers(old) - _numbers(new), _numbers(new) - _numbers(old)
    if gone and came:
        return [f"number changed: {', '.join(gone)} → {', '.join(came)}"]
    if came:
        return [f"number added: {', '.join(came)}"]
    if gone:
        return [f"number removed: {', '.join(gone)}"]
    return []


def _title_case(words: Sequence[str]) -> bool:
    """Most words capitalised ("Zig 0.7.0 Released"): capitals then say nothing of names."""
    long = [w for w in words[1:] if len(w) > 3]
    return bool(long) and sum(w[0].isupper() for w in long) > 0.75 * len(long)


_GERMAN_COMMON = _vocabulary(
    "der die das den dem des und mit von für nach bei ist im "
    "auf zu zum zur aus ein eine einen nicht sich wird hat als auch "
    "über vor gegen wie keine "
)
_ENGLISH_COMMON = _vocabulary("the of and")


def _german(words: Sequence[str]) -> bool:
    """German capitalises every noun: capitals say nothing of names there either."""
    folded = {w.casefold() for w in words}
    return not folded.isdisjoint(_GERMAN_COMMON) and folded.isdisjoint(_ENGLISH_COMMON)


def _plain(text: str) -> bool:
    """Capitals mark names here: neither Title Case nor German."""
    words = _words(text)
    return not (_title_case(words) or _german(words))


def _names(text: str) -> set[str]:
    """Capitalised words not opening a sentence or segment, and acronyms (folded)."""
    plain = _plain(text)
    names = set()
    for match in _WORD.finditer(text):
        word = re.sub(r"['’]s$", "", match.group())  # "iSH’s" is iSH
        before = match.start() - 1  # the last character before the word but spaces
        while before >= 0 and text[before].isspace():
            before -= 1
        opens = before < 0 or text[before] in ".:!?–-\"“„'‘«("
        acronym = sum(ch.isupper() for ch in word) >= 2
        if acronym or (plain and word[0].isupper() and not opens):
            names.add(fold(word))
    return names


def _initials(text: str) -> set[str]:
    """The initials of every run of two to five words: "Frequently Asked Questions" -> faq."""
    words = _folded_words(text)
    return {
        "".join(w[0] for w in words[i : i + n])
        for n in range(2, 6)
        for i in range(len(words) - n + 1)
    }


def _abbreviated(text: str, other: str) -> set[str]:
    """Words of runs in `text` that `other` writes as an acronym ("United States" / "U.S.")."""
    words, acronyms = _folded_words(text), set(_folded_words(other))
    return {
        word
        for n in range(2, 6)
        for i in range(len(words) - n + 1)
        if "".join(w[0] for w in words[i : i + n]) in acronyms
        for word in words[i : i + n]
    }


def _pair(what: str, came: Iterable[str], gone: Iterable[str]) -> list[str]:
    """ "WHAT added: A, B" and "WHAT removed: C", each only when it has something."""
    shown = ((verb, ", ".join(words)) for verb, words in (("added", came), ("removed", gone)))
    return [f"{what} {verb}: {words}" for verb, words in shown if words]


def _name_reasons(old: str, new: str) -> list[str]:
    # A name that went is one whose word is gone entirely (not merely lower-cased), and
    # an acronym of words on the other side ("FAQ", "U.S.") is no new name, nor the reverse.
    # (The words and acronyms of a side are worked out only when a name may have come
    # or gone: most edits keep their names, and this rule is the judge's dearest.)
    old_names, new_names = _names(old), _names(new)
    came, gone = sorted(new_names - old_names), sorted(old_names - new_names)
    if came:
        old_words = set(_folded_words(old)) | _initials(old) | _abbreviated(new, old)
        came = [n for n in came if n not in old_words]
    if gone:
        new_words = set(_folded_words(new)) | _initials(new) | _abbreviated(old, new)
        gone = [n for n in gone if n not in new_words]
    # A name respelled by a letter or two ("Trebeck" -> "Trebek") is a typo fixed.
    for name in list(came):
        twin = next((g for g in gone if _edit_distance(g, name) <= TYPO_MAX_CHARS), None)
        if twin is not None:
            came.remove(name)
            gone.remove(twin)
    return _pair("name", came, gone)


def _marked(text: str, vocabulary: set[str]) -> Counter[str]:
    found: Counter[str] = Counter()
    for word in _words(text):
        lowered = word.casefold().replace("’", "'")
        if lowered in vocabulary:
            found[lowered] += 1
        elif vocabulary is _NEGATIONS and lowered.endswith("n't"):
            found["not"] += 1
    return found


def _negation_reasons(old: str, new: str) -> list[str]:
    was, now = _marked(old, _NEGATIONS), _marked(new, _NEGATIONS)
    return _pair("negation", now - was, was - now)


def _source_tail(text: str) -> str | None:
    """The "- Source" of a headline such as "Officer was reckless - prosecutors" (not in
    Title Case or German, where a dash more often opens a second headline)."""
    match = _TAIL.search(text.strip())
    if not match or not _plain(text):
        return None
    tail = match.group(1).strip()
    words = tail.split()
    if len(words) > 2 or any(ch.isdigit() for ch in tail):
        return None
    return tail if tail[0].isupper() or words[-1].casefold() in _SOURCE_NOUNS else None


def _attributed(text: str) -> bool:
    lowered = fold(text)
    return (
        bool(_marked(text, _ATTRIBUTIONS))
        or "according to" in lowered
        or "berichten zufolge" in lowered
        or _source_tail(text) is not None
    )


def _hedging_reasons(old: str, new: str) -> list[str]:
    was, now = _marked(old, _HEDGES), _marked(new, _HEDGES)
    reasons = _pair("hedging", now - was, was - now)
    # Attribution swapped for another ("accuses" -> "says") is wording; gained or lost is not.
    attributed_before, attributed_now = _attributed(old), _attributed(new)
    if attributed_now and not attributed_before:
        reasons.append("attribution added")
    elif attributed_before and not attributed_now:
        reasons.append("attribution removed")
    return reasons


def _outcomes(text: str) -> set[str]:
    words = set(fold(text).split())
    found = {outcome for outcome, forms in _OUTCOMES.items() if words & forms}
    return found | ({"death"} if "passed away" in fold(text) else set())


def _outcome_reasons(old: str, new: str) -> list[str]:
    was, now = _outcomes(old), _outcomes(new)
    return _pair("outcome", sorted(now - was), sorted(was - now))


def _question_reasons(old: str, new: str) -> list[str]:
    if ("?" in old) == ("?" in new):
        return []
    return ["question mark added" if "?" in new else "question mark removed"]


def _quoted(text: str) -> dict[str, str]:
    """Folded span -> span, of the spans inside quotation marks, except names („Fox News“)."""
    text = text.translate(_QUOTE_CHARS)
    spans = _DOUBLE_QUOTED.findall(text) + _SINGLE_QUOTED.findall(text)
    return {fold(span): span.strip() for span in spans if _words(span) and not _is_name(span)}


def _is_name(span: str) -> bool:
    """A short span of capitalised words: a product, a channel, a party."""
    words = _words(span)
    return 0 < len(words) <= 3 and all(w[0].isupper() for w in words)


def _quote_reasons(old: str, new: str) -> list[str]:
    was, now = _quoted(old), _quoted(new)
    came = [f"“{now[k]}”" for k in now if not any(_same_quote(k, other) for other in was)]
    gone = [f"“{was[k]}”" for k in was if not any(_same_quote(k, other) for other in now)]
    return _pair("quotation", came, gone)


def _same_quote(a: str, b: str) -> bool:
    """One quotation with a word or two edited inside (an accent repaired) is still one."""
    words_a, words_b = a.split(), b.split()
    return len(set(words_a) & set(words_b)) >= 0.6 * max(len(words_a), len(words_b))


_ABBREVIATION = re.compile(r"(?:\b[A-Z]\.)+$|\b(?:Mr|Mrs|Ms|Dr|St|No|Nr|Gen|Sen|Rep)\.$")


def _sentences(text: str) -> list[str]:
    """Sentences, not cut after "U.S." or "Dr."."""
    pieces: list[str] = []
    for piece in _SENTENCE_END.split(text.strip()):
        if pieces and _ABBREVIATION.search(pieces[-1]):
            pieces[-1] += " " + piece
        else:
            pieces.append(piece)
    return [s for s in pieces if _words(s)]


def _sentence_reasons(old: str, new: str) -> list[str]:
    """Sentences of one side with no close match (half their words) on the other."""
    before, after = _sentences(old), _sentences(new)
    if max(len(before), len(after)) < 2:
        return []
    old_sets = [set(_folded_words(s)) for s in before]
    new_sets = [set(_folded_words(s)) for s in after]

    def unmatched(ours: list[set[str]], theirs: list[set[str]]) -> int:
        return sum(not any(len(a & b) >= 0.5 * max(len(a), len(b)) for b in theirs) for a in ours)

    added, removed = unmatched(new_sets, old_sets), unmatched(old_sets, new_sets)
    reasons = []
    if added:
        reasons.append(f"{_count(added, 'sentence')} added")
    if removed:
        reasons.append(f"{_count(removed, 'sentence')} removed")
    return reasons


def _count(n: int, thing: str) -> str:
    return f"{n} {thing}" if n == 1 else f"{n} {thing}s"


# --- style -------------------------------------------------------------------------------


def _style_reasons(old: str, new: str, ops: Sequence[diff.Op]) -> list[str] | None:
    """What a style-only edit changed; None when the edit is more than style."""
    a, b = _folded_words(old), _folded_words(new)
    if a == b or "".join(a) == "".join(b):
        return _cosmetics(old, new)
    if [w for w in a if w not in _ARTICLES] == [w for w in b if w not in _ARTICLES]:
        return ["article added" if len(b) > len(a) else "article removed"]
    if _typo_sized(ops, new):
        return ["typo"]
    return None


def _cut_short(old: str, new: str) -> str | None:
    """A listing that cuts a text short ("... saw startling…") is not an edit of it."""
    cut_old, cut_new = _ELLIPSIS.search(old), _ELLIPSIS.search(new)
    if cut_new and not cut_old and fold(old).startswith(fold(new[: cut_new.start()])):
        return "cut short by the page"
    if cut_old and not cut_new and fold(new).startswith(fold(old[: cut_old.start()])):
        return "no longer cut short"
    return None


def _cosmetics(old: str, new: str) -> list[str]:
    """Which kinds of style change turn `old` into `new`."""
    gone, came = set(_words(old)) - set(_words(new)), set(_words(new)) - set(_words(old))
    found = []
    if {w.casefold() for w in gone} & {w.casefold() for w in came}:
        found.append("case")
    if {_strip_accents(w) for w in gone} & {_strip_accents(w) for w in came}:
        found.append("accents")
    if any(w.casefold() in _SPELLED for w in gone | came):
        found.append("spelled-out number")
    for name, chars in (("quotes", "\"“”„«»‟'‘’‚"), ("dashes", "-–—"), ("punctuation", ".,:;!…")):
        if [ch for ch in old if ch in chars] != [ch for ch in new if ch in chars]:
            found.append(name)
    respaced = "".join(old.split()) == "".join(new.split()) and old.split() != new.split()
    if respaced or _folded_words(old) != _folded_words(new):  # "any more" -> "anymore"
        found.append("spacing")
    return found or ["spacing"]


def _strip_accents(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def _typo_sized(ops: Sequence[diff.Op], new: str) -> bool:
    """Every word edit at most two letters, all of them at most 2 % of the field."""
    edits = _word_edits(ops)
    if not edits:
        return False
    if any(abs(len(fold(o)) - len(fold(n))) > TYPO_MAX_CHARS for o, n in edits):
        return False  # no need to run the (pure-Python) edit distance on a long stretch
    distances = [_edit_distance(fold(o), fold(n)) for o, n in edits]
    budget = max(TYPO_MAX_CHARS, TYPO_MAX_SHARE * len(fold(new)))
    return max(distances) <= TYPO_MAX_CHARS and sum(distances) <= budget


def _word_edits(ops: Sequence[diff.Op]) -> list[tuple[str, str]]:
    """The runs of edits between equal parts, as (deleted text, inserted text) pairs."""
    edits: list[tuple[str, str]] = []
    deleted = inserted = ""
    for op, text in [*ops, (diff.EQUAL, "")]:
        if op == diff.DELETE:
            deleted += text
        elif op == diff.INSERT:
            inserted += text
        elif deleted or inserted:
            edits.append((deleted, inserted))
            deleted = inserted = ""
    return edits


def changed_share(ops: Sequence[diff.Op]) -> float:
    """The share of words changed, counting only edits that change the folded words."""
    total = len(_folded_words(diff.old_text(ops))) + len(_folded_words(diff.new_text(ops)))
    if total == 0:
        return 0.0
    changed = 0
    for deleted, inserted in _word_edits(ops):
        gone, came = _folded_words(deleted), _folded_words(inserted)
        if gone != came:
            changed += len(gone) + len(came)
    return min(1.0, changed / total)


# --- judging -----------------------------------------------------------------------------

_RULES = (
    _number_reasons,
    _name_reasons,
    _negation_reasons,
    _hedging_reasons,
    _outcome_reasons,
    _question_reasons,
    _quote_reasons,
    _sentence_reasons,
)


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
