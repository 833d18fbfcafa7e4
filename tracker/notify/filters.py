"""Which changes a subscription wants: its filter, checked against each recorded change.

A filter is a JSON object of lists; a key left out means any, except `classes` (edits of
these significance classes; default substantive only) and `kinds` (default: edits and
headline tests). Everything given must match: a change of source 3 with tag "Politics"
matches {"sources": [3], "tags": ["Politics"]}; `fields` and `classes` apply to edits.
Health alerts (kind "health") are chosen by `sources` and `sites` only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tracker.errors import UserError

if TYPE_CHECKING:  # the CLI's parser reads this module's names: no database for that
    from storage import Change

# A change's kind -> the kind of change a subscription names (headline flips, the later
# switches of a headline test, and fields first shown are no news: never sent).
KIND_OF_CHANGE = {
    "edited": "edits",
    "headline_test": "headline-tests",
    "removed": "removals",
    "restored": "removals",
    "created": "new",
}
# "health": a source gone quiet, and back (tracker/notify/quiet.py).
KINDS = ("edits", "headline-tests", "removals", "new", "health")
CLASSES = ("substantive", "rewording", "style")
DEFAULT_KINDS = ("edits", "headline-tests")
DEFAULT_CLASSES = ("substantive",)
# key -> the type of its values
KEYS: dict[str, type] = {
    "sources": int,
    "sites": str,
    "tags": str,
    "items": int,
    "fields": str,
    "classes": str,
    "kinds": str,
}
MAX_VALUES = 100


def parse_filters(raw: Mapping[str, Any]) -> dict[str, list[Any]]:
    """The filter as stored (keys sorted, values checked); a one-line UserError if bad."""
    parsed: dict[str, list[Any]] = {}
    for key, values in raw.items():
        if key not in KEYS:
            raise UserError(f"not a filter: {key!r} (filters: {', '.join(KEYS)})")
        if values is None:
            continue
        if isinstance(values, (str, int)) and not isinstance(values, bool):
            values = [values]
        if not isinstance(values, Sequence) or isinstance(values, str):
            raise UserError(f"filter {key}: a list of values, not {values!r}")
        if len(values) > MAX_VALUES:
            raise UserError(f"filter {key}: at most {MAX_VALUES} values")
        parsed[key] = [_value(key, value) for value in values]
    for key, allowed in (("kinds", KINDS), ("classes", CLASSES)):
        wrong = [value for value in parsed.get(key, []) if value not in allowed]
        if wrong:
            raise UserError(f"filter {key}: {wrong[0]!r} is none of {', '.join(allowed)}")
    return {key: sorted(set(values)) for key, values in sorted(parsed.items())}


def _value(key: str, value: Any) -> Any:
    wanted = KEYS[key]
    if wanted is int:
        text = str(value).strip()
        if isinstance(value, bool) or not (text.isascii() and text.isdigit() and len(text) < 12):
            raise UserError(f"filter {key}: not an id: {value!r}")
        return int(text)
    if not isinstance(value, (str, int)) or isinstance(value, bool) or not str(value).strip():
        raise UserError(f"filter {key}: not a name: {value!r}")
    text = str(value).strip()
    if len(text) > 200 or "\x00" in text:
        raise UserError(f"filter {key}: not a name: {text[:40]!r}")
    return text


@dataclass(frozen=True)
class Filter:
    sources: frozenset[int] | None = None
    sites: frozenset[str] | None = None
    tags: frozenset[str] | None = None
    items: frozenset[int] | None = None
    fields: frozenset[str] | None = None
    classes: frozenset[str] = frozenset(DEFAULT_CLASSES)
    kinds: frozenset[str] = frozenset(DEFAULT_KINDS)

    @classmethod
    def from_stored(cls, stored: Mapping[str, list[Any]]) -> Filter:
        given = {key: frozenset(values) for key, values in stored.items() if key in KEYS}
        return cls(**given)  # type: ignore[arg-type]

    def matches(self, change: Change, site: str | None, tags: Sequence[str] | None) -> bool:
        kind = KIND_OF_CHANGE.get(change.kind)
        if kind is None or kind not in self.kinds:
            return False
        if self.sources is not None and change.source_id not in self.sources:
            return False
        if self.items is not None and change.item_id not in self.items:
            return False
        if self.sites is not None and site not in self.sites:
            return False
        if self.tags is not None and self.tags.isdisjoint(tags or ()):
            return False
        if kind == "edits":
            if change.classification not in self.classes:
                return False
            if self.fields is not None and self.fields.isdisjoint(change.fields):
                return False
        return True

    def wants_health(self, source_id: int, site: str | None) -> bool:
        """Whether it asks for this source's health alerts (gone quiet, and back)."""
        if "health" not in self.kinds:
            return False
        if self.sources is not None and source_id not in self.sources:
            return False
        return self.sites is None or site in self.sites


def describe(stored: Mapping[str, list[Any]]) -> str:
    """The filter in words, for `redline notify list`: "kinds edits; classes substantive"."""
    shown = {"kinds": list(DEFAULT_KINDS), "classes": list(DEFAULT_CLASSES), **stored}
    return "; ".join(f"{key} {', '.join(map(str, values))}" for key, values in shown.items())
