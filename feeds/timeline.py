"""The item page's timeline strip: an inline SVG of an item's changes along a time axis.

Pure: plain StripEvents in (feeds/pages.py makes them from stored changes), a Strip out
(the SVG as markup, and its legend as data). No script: each mark is an SVG link to the
version's row on the page, with a <title> for its tooltip and accessible name.

- x is proportional to time between `start` and `end` (the first and last time the item
  was observed); a span of zero (one version, or every change at one instant) puts the
  marks in the middle.
- Marks closer than MIN_GAP to the mark before merge into one: its segments stack the
  classes it holds (the most significant on top) and its title counts them, so hundreds
  of versions make at most WIDTH / MIN_GAP marks and never an overlapping smear.
- Colour is not the only signal: a mark's height grows with significance, titles say the
  class in words, and the page shows a legend with text labels.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from markupsafe import Markup, escape

from tracker.words import one_line

# The strip's geometry in SVG user units; it scales to the page's width.
WIDTH = 1000.0
HEIGHT = 48.0
PAD = 8.0  # room left and right so a mark at either end is whole
MARK_WIDTH = 6.0
MIN_GAP = 10.0  # marks closer than this merge
BASELINE = HEIGHT - 6.0
MAX_TITLE_LINES = 6  # a merged mark's title names this many changes, then counts the rest
MAX_LABEL_CHARS = 160


@dataclass(frozen=True)
class Tone:
    """A class of change as the strip shows it."""

    name: str
    label: str  # the legend's words
    colour: str
    height: float  # a mark's height: more significant, taller


# Most significant first: a merged mark stacks them in this order, top down.
TONES = (
    Tone("substantive", "substantive edit", "#b30000", 36.0),
    Tone("rewording", "rewording", "#e08a00", 28.0),
    Tone("style", "style or minor edit", "#2f8f4e", 18.0),
    Tone("headline", "headline test", "#7b3fb0", 28.0),
    Tone("listing", "removed or restored", "#1f5fbf", 22.0),
    Tone("other", "first version or other", "#8a8a94", 14.0),
)
TONE_BY_NAME = {tone.name: tone for tone in TONES}
_CLASS_TONES = {"substantive": "substantive", "rewording": "rewording", "style": "style"}
_KIND_TONES = {
    "headline_test": "headline",
    "headline_flip": "headline",
    "removed": "listing",
    "restored": "listing",
}


def tone_of(kind: str, classification: str | None) -> Tone:
    """The tone of a change: an edit's class (minor, the old name of style, is style);
    headline tests and their flips; removals and restorations; anything else is other."""
    if kind == "edited" and classification:
        name = _CLASS_TONES.get("style" if classification == "minor" else classification)
        return TONE_BY_NAME[name or "other"]
    return TONE_BY_NAME[_KIND_TONES.get(kind, "other")]


@dataclass(frozen=True)
class StripEvent:
    """One change, as plain data."""

    at: datetime
    kind: str  # created, edited, headline_test, ...
    classification: str | None  # an edit's class
    description: str  # short words for the tooltip: the version's headline, the reasons
    anchor: str  # the id of its element on the page (v3, change-12)

    @property
    def tone(self) -> Tone:
        return tone_of(self.kind, self.classification)


@dataclass(frozen=True)
class Mark:
    """One mark on the strip: one change, or several too close in time to tell apart."""

    x: float  # the centre, in user units
    events: tuple[StripEvent, ...]

    @property
    def tones(self) -> list[tuple[Tone, int]]:
        """The tones it holds with their counts, most significant first."""
        counts = Counter(event.tone.name for event in self.events)
        return [(tone, counts[tone.name]) for tone in TONES if counts[tone.name]]


@dataclass(frozen=True)
class LegendEntry:
    tone: Tone
    count: int


@dataclass(frozen=True)
class Strip:
    svg: Markup
    legend: list[LegendEntry]
    marks: list[Mark]


def when(value: datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC")


def position(at: datetime, start: datetime, end: datetime) -> float:
    """x of a moment: proportional between start and end, the middle when they are one."""
    span = (end - start).total_seconds()
    if span <= 0:
        return WIDTH / 2
    share = min(max((at - start).total_seconds() / span, 0.0), 1.0)
    return PAD + share * (WIDTH - 2 * PAD)


def layout(events: Sequence[StripEvent], start: datetime, end: datetime) -> list[Mark]:
    """The marks, left to right: events in time order (ties keep their given order),
    each merged into the mark before it when closer than MIN_GAP to that mark."""
    ordered = sorted(events, key=lambda event: event.at)  # stable
    marks: list[Mark] = []
    for event in ordered:
        x = position(event.at, start, end)
        if marks and x - marks[-1].x < MIN_GAP:
            marks[-1] = Mark(marks[-1].x, (*marks[-1].events, event))
        else:
            marks.append(Mark(x, (event,)))
    return marks


def _short(text: str) -> str:
    return one_line(text, MAX_LABEL_CHARS)


def title_of(mark: Mark) -> str:
    """The tooltip: time, class and description of each change (plain text, unescaped)."""
    if len(mark.events) == 1:
        [event] = mark.events
        return f"{when(event.at)} · {event.tone.label}: {_short(event.description)}"
    first, last = mark.events[0].at, mark.events[-1].at
    span = when(first) if first == last else f"{when(first)} to {when(last)}"
    counts = ", ".join(f"{count} {tone.label}" for tone, count in mark.tones)
    lines = [f"{len(mark.events)} changes, {span}: {counts}"]
    lines += [
        f"{when(e.at)} · {e.tone.label}: {_short(e.description)}"
        for e in mark.events[:MAX_TITLE_LINES]
    ]
    if len(mark.events) > MAX_TITLE_LINES:
        lines.append(f"and {len(mark.events) - MAX_TITLE_LINES} more")
    return "\n".join(lines)


def _mark_svg(mark: Mark) -> str:
    """An <a> to the first change's element holding a stack of one rect per tone."""
    tones = mark.tones
    total = tones[0][0].height  # the most significant tone sets the height
    left = mark.x - MARK_WIDTH / 2
    rects, top = [], BASELINE - total
    for tone, count in tones:
        height = total * count / len(mark.events)
        rects.append(
            f'<rect class="tone-{tone.name}" x="{left:.1f}" y="{top:.1f}" '
            f'width="{MARK_WIDTH:.1f}" height="{height:.1f}" fill="{tone.colour}"/>'
        )
        top += height
    return (
        f'<a class="mark" href="#{escape(mark.events[0].anchor)}" '
        f'data-count="{len(mark.events)}" data-tone="{tones[0][0].name}">'
        f"<title>{escape(title_of(mark))}</title>{''.join(rects)}</a>"
    )


def build(events: Sequence[StripEvent], start: datetime, end: datetime, label: str) -> Strip:
    """The strip of these events between start and end; label names it to screen readers."""
    start = min([start, *(event.at for event in events)])
    end = max([end, *(event.at for event in events)])
    marks = layout(events, start, end)
    axis = (
        f'<line class="axis" x1="{PAD}" y1="{BASELINE}" x2="{WIDTH - PAD}" y2="{BASELINE}" '
        'stroke="#9a9aa2" stroke-width="1"/>'
    )
    svg = (
        f'<svg class="strip" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH:g} '
        f'{HEIGHT:g}" role="group" aria-label="{escape(label)}" width="100%" '
        f'preserveAspectRatio="xMidYMid meet">'
        f"{axis}{''.join(_mark_svg(mark) for mark in marks)}</svg>"
    )
    counts = Counter(event.tone.name for event in events)
    legend = [LegendEntry(tone, counts[tone.name]) for tone in TONES if counts[tone.name]]
    return Strip(Markup(svg), legend, marks)
