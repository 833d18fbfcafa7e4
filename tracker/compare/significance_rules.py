"""The substantive rules of tracker.compare.significance: what in an edit's words makes it matter.

Each rule compares the old and new text and names its reasons: a number, a name or place,
a negation, hedging or attribution, an outcome (a death, a win, an arrest...), a question
mark, quotation marks or a sentence added, removed or changed. Pure text in, reasons out;
the per-field judgement that weighs them is tracker.compare.significance.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence

from tracker.compare.significance_style import (
    _SPELLED,
    _WORD,
    TYPO_MAX_CHARS,
    _edit_distance,
    _folded_words,
    _lowered_words,
    _vocabulary,
    _words,
    fold,
)

# A number as written: 8, 4.300, 1,5, a score or range 0-0 / 12-24; not the 86 of "x86".
_NUMBER = re.compile(r"(?<![^\W\d_])\d+(?:[.,]\d+)*(?:\s?[-–]\s?\d+(?:[.,]\d+)*)?(?![^\W\d_]{3})")
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
_TAIL = re.compile(r"\s[–-]\s([^\s–-][^–-]*)$")  # "... - Ukraine": the source of a claim
_QUOTE_CHARS = str.maketrans({c: '"' for c in "“”„«»‟"})
_SINGLE_QUOTED = re.compile(r"(?:(?<=\s)|^)['‘‚]([^'‘’‚]+?)['’](?=[\s.,:;!?)]|$)")
_DOUBLE_QUOTED = re.compile(r'"([^"]+)"')
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[\"“„'‘«(]?[A-ZÄÖÜ0-9])")


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
    old_numbers, new_numbers = _numbers(old), _numbers(new)
    gone, came = old_numbers - new_numbers, new_numbers - old_numbers
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
        word = match.group()
        if word.endswith(("'s", "’s")):  # "iSH’s" is iSH
            word = word[:-2]
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
    for lowered in _lowered_words(text):
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
