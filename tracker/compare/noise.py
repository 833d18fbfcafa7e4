"""Noise rules: what changes on a page without anyone editing it.

"Updated 5 minutes ago", a clock time, a view or comment counter, and a number ticking in
a long article body change from one check to the next by themselves. The rules take them
out of the *comparison* only: a sighting that differs from the item's latest version by
noise alone makes no version, and the text stored is always the text as seen.

Built-in rules apply to every text field but the headline (a number or a time in a
headline is news); a source's own patterns (`--ignore REGEX`, option "ignore") apply to
every field, the headline too.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

from storage import Version
from tracker.errors import UserError
from tracker.normalise import CONTENT_FIELDS, FieldValue, normalise_field

MAX_PATTERNS = 20
MAX_PATTERN_LENGTH = 500
# A body at least this long (about 150 words) compares with its digits masked: a ticking
# count in an article is not an edit there, a number changed in a headline is.
LONG_BODY_CHARS = 1000

_UNIT = r"(?:sec(?:ond)?s?|min(?:ute)?s?|h(?:ou)?rs?|days?|weeks?|months?|years?)"
_ZONE = r"(?:\s?(?:GMT|UTC|BST|CET|CEST|EET|EEST|EST|EDT|CST|CDT|PST|PDT|ET|PT|Z))?"
BUILTIN: tuple[tuple[str, re.Pattern[str]], ...] = (
    # "Updated 5 minutes ago", "posted an hour ago", "just now"
    (
        "relative time",
        re.compile(
            r"(?i)\b(?:(?:last\s+)?updated|published|posted|edited|modified)?:?\s*"
            rf"(?:\d+|an?|one|a\s+few)\s+{_UNIT}\s+ago\b|\bjust\s+now\b"
        ),
    ),
    # "Last updated on 24 February 2022": a line that only dates the page
    (
        "updated line",
        re.compile(
            r"(?im)^[ \t]*(?:last\s+)?(?:updated|modified|published|posted)(?:\s+(?:on|at))?"
            r":?[ \t]+[^\n]{0,50}\d[^\n]{0,30}$"
        ),
    ),
    # "2022-02-24T14:32:05Z", "14:32 GMT", "2.05pm"
    (
        "timestamp",
        re.compile(
            r"\b\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?"
            rf"|\b\d{{1,2}}:\d{{2}}(?::\d{{2}})?(?:\s?[ap]\.?m\b\.?)?{_ZONE}(?![\d.,]\d)"
            rf"|\b\d{{1,2}}(?:\.\d{{2}})?\s?[ap]\.?m\b\.?{_ZONE}",
            re.I,
        ),
    ),
    # "1,204 views", "32 comments", "Comments (12)", "Shares: 5k"
    (
        "counter",
        re.compile(
            r"(?i)\b\d[\d,.]*\s?[km]?\s+(?:views?|comments?|shares?|likes?|reads?|replies|"
            r"reactions?|retweets?)\b|\b(?:views?|comments?|shares?|likes?|replies)\s?[:(]\s?"
            r"\d[\d,.]*\s?[km]?\)?"
        ),
    ),
)
_DIGITS = re.compile(r"\d+")


def check_patterns(patterns: object) -> list[str]:
    """The source's ignore patterns if each is a valid regular expression; else a UserError
    (one line) naming the first bad one."""
    if isinstance(patterns, str):
        patterns = [patterns]
    if not isinstance(patterns, list) or not all(isinstance(p, str) for p in patterns):
        raise UserError("--ignore takes regular expressions (a list of strings)")
    if len(patterns) > MAX_PATTERNS:
        raise UserError(f"at most {MAX_PATTERNS} --ignore patterns, not {len(patterns)}")
    for pattern in patterns:
        if not pattern:
            raise UserError("an --ignore pattern cannot be empty")
        if len(pattern) > MAX_PATTERN_LENGTH:
            raise UserError(f"an --ignore pattern is at most {MAX_PATTERN_LENGTH} characters")
        try:
            re.compile(pattern)
        except (re.error, OverflowError) as error:
            shown = pattern if len(pattern) <= 60 else pattern[:60] + "..."
            message = str(error).splitlines()[0]
            raise UserError(
                f"--ignore {shown!r} is not a valid regular expression: {message}"
            ) from None
    return list(patterns)


@lru_cache(maxsize=256)
def _compiled(patterns: tuple[str, ...]) -> tuple[re.Pattern[str], ...]:
    return tuple(re.compile(pattern) for pattern in patterns)


def comparable(name: str, value: FieldValue, own: Sequence[str] = ()) -> FieldValue:
    """The field as compared: normalised, with noise taken out."""
    if value is None:
        return None
    # Noise first, on the text as seen (a rule may match whole lines), then the normal form.
    if isinstance(value, list):
        entries = normalise_field(name, [_quiet(name, entry, own) for entry in value])
        return [entry for entry in entries or () if entry] or None
    return normalise_field(name, _quiet(name, value, own)) or None


def _quiet(name: str, text: str, own: Sequence[str]) -> str:
    for pattern in _compiled(tuple(own)):
        text = pattern.sub(" ", text)
    if name != "headline":
        for _, pattern in BUILTIN:
            text = pattern.sub(" ", text)
        if name == "body" and len(text) >= LONG_BODY_CHARS:
            text = _DIGITS.sub("#", text)
    return text


def same_but_noise(
    latest: Version, fields: Mapping[str, FieldValue], options: Mapping[str, Any]
) -> bool:
    """Whether a sighting's fields differ from the latest version by noise alone."""
    own = tuple(options.get("ignore") or ())
    return all(
        comparable(name, getattr(latest, name), own) == comparable(name, fields.get(name), own)
        for name in CONTENT_FIELDS
    )
