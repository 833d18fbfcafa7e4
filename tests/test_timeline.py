"""The item page's timeline strip (feeds/timeline.py), built from plain data, no server."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

import pytest

from feeds import timeline
from feeds.timeline import StripEvent

START = datetime(2026, 3, 1, tzinfo=UTC)
SVG = "{http://www.w3.org/2000/svg}"


def event(
    minutes: float, kind: str = "edited", cls: str | None = "rewording", n: int = 1
) -> StripEvent:
    return StripEvent(START + timedelta(minutes=minutes), kind, cls, f"version {n}", f"v{n}")


def parsed(strip: timeline.Strip) -> ET.Element:
    """The SVG as XML: it must be well-formed to be parsed at all."""
    return ET.fromstring(str(strip.svg))


def marks(strip: timeline.Strip) -> list[ET.Element]:
    return parsed(strip).findall(f"{SVG}a")


def centre(mark: ET.Element) -> float:
    rect = mark.find(f"{SVG}rect")
    assert rect is not None
    return float(rect.get("x", "nan")) + float(rect.get("width", "nan")) / 2


def test_marks_are_placed_in_time_order_left_to_right() -> None:
    # Given out of order: the strip sorts them by time, spacing them by elapsed time.
    events = [event(60 * 24, n=3), event(0, "created", None, n=1), event(60, n=2)]
    strip = timeline.build(events, START, START + timedelta(days=1), "label")
    found = marks(strip)
    assert [m.get("href") for m in found] == ["#v1", "#v2", "#v3"]
    xs = [centre(m) for m in found]
    assert xs == sorted(xs) and len(set(xs)) == 3
    assert xs[0] == pytest.approx(timeline.PAD, abs=0.1)
    assert xs[2] == pytest.approx(timeline.WIDTH - timeline.PAD, abs=0.1)
    # An hour of a day is 1/24 of the way along.
    expected = timeline.PAD + (timeline.WIDTH - 2 * timeline.PAD) / 24
    assert xs[1] == pytest.approx(expected, abs=0.1)


def test_position_is_monotone_and_inside_the_strip() -> None:
    end = START + timedelta(days=30)
    xs = [timeline.position(START + timedelta(hours=h), START, end) for h in range(0, 721, 7)]
    assert all(a < b for a, b in zip(xs, xs[1:], strict=False))
    assert min(xs) >= timeline.PAD and max(xs) <= timeline.WIDTH - timeline.PAD


@pytest.mark.parametrize(
    ("kind", "cls", "tone"),
    [
        ("edited", "substantive", "substantive"),
        ("edited", "rewording", "rewording"),
        ("edited", "style", "style"),
        ("edited", "minor", "style"),  # the old name of style
        ("edited", None, "other"),  # an edit stored before classes were
        ("headline_test", None, "headline"),
        ("headline_flip", None, "headline"),
        ("removed", None, "listing"),
        ("restored", None, "listing"),
        ("created", None, "other"),
        ("shown", None, "other"),
    ],
)
def test_each_class_has_its_colour(kind: str, cls: str | None, tone: str) -> None:
    strip = timeline.build([event(0, kind, cls)], START, START, "label")
    [mark] = marks(strip)
    [rect] = mark.findall(f"{SVG}rect")
    assert rect.get("fill") == timeline.TONE_BY_NAME[tone].colour
    assert mark.get("data-tone") == tone
    assert [entry.tone.name for entry in strip.legend] == [tone]
    # The title says the class in words, not only in colour.
    assert timeline.TONE_BY_NAME[tone].label in (mark.findtext(f"{SVG}title") or "")


def test_colours_and_labels_are_distinct() -> None:
    assert len({tone.colour for tone in timeline.TONES}) == len(timeline.TONES)
    assert len({tone.label for tone in timeline.TONES}) == len(timeline.TONES)
    heights = {tone.name: tone.height for tone in timeline.TONES}
    assert heights["substantive"] > heights["rewording"] > heights["style"]


def test_one_version_is_one_mark_in_the_middle() -> None:
    strip = timeline.build([event(0, "created", None)], START, START, "label")
    [mark] = marks(strip)
    assert centre(mark) == pytest.approx(timeline.WIDTH / 2)
    assert mark.get("data-count") == "1"


def test_changes_at_one_instant_share_one_mark_that_counts_them() -> None:
    events = [
        event(0, "created", None, n=1),
        event(0, "edited", "substantive", n=2),
        event(0, "edited", "style", n=3),
        event(0, "edited", "style", n=4),
    ]
    strip = timeline.build(events, START, START, "label")
    [mark] = marks(strip)
    assert mark.get("data-count") == "4"
    assert mark.get("href") == "#v1"  # the first of them
    assert mark.get("data-tone") == "substantive"  # the most significant it holds
    fills = [rect.get("fill") for rect in mark.findall(f"{SVG}rect")]
    wanted = [timeline.TONE_BY_NAME[name].colour for name in ("substantive", "style", "other")]
    assert fills == wanted  # stacked, most significant on top
    heights = [float(rect.get("height", "0")) for rect in mark.findall(f"{SVG}rect")]
    assert heights[1] == pytest.approx(2 * heights[0])  # two style edits, one substantive
    title = mark.findtext(f"{SVG}title") or ""
    assert title.startswith("4 changes, 2026-03-01 00:00 UTC: 1 substantive edit, 2 style")
    assert {entry.tone.name: entry.count for entry in strip.legend} == {
        "substantive": 1,
        "style": 2,
        "other": 1,
    }


def test_hundreds_of_versions_never_overlap() -> None:
    # 600 edits a minute apart over ten hours, then one a week later.
    events = [event(m, cls=("substantive", "style")[m % 2], n=m + 1) for m in range(600)]
    events.append(event(60 * 24 * 7, cls="rewording", n=601))
    strip = timeline.build(events, START, START + timedelta(days=7), "label")
    found = marks(strip)
    xs = [centre(m) for m in found]
    assert all(b - a >= timeline.MIN_GAP for a, b in zip(xs, xs[1:], strict=False))
    assert len(found) <= timeline.WIDTH / timeline.MIN_GAP + 1
    assert sum(int(m.get("data-count", "0")) for m in found) == 601  # none lost
    assert found[-1].get("href") == "#v601" and found[-1].get("data-count") == "1"
    # A long run's title names a few and counts the rest.
    title = found[0].findtext(f"{SVG}title") or ""
    assert title.count("\n") <= timeline.MAX_TITLE_LINES + 1
    assert re.search(r"and \d+ more$", title)
    assert len(str(strip.svg)) < 60_000  # bounded by the marks, not the versions


def test_headlines_in_titles_are_escaped() -> None:
    hostile = '</title><script>alert(1)</script><a href="javascript:x">" & \'q\''
    strip = timeline.build(
        [StripEvent(START, "edited", "substantive", hostile, 'v1"><script>')],
        START,
        START,
        'a "label" <b>',
    )
    svg = str(strip.svg)
    assert "<script>" not in svg and "</title><" not in svg.split("<title>")[1][:20]
    root = parsed(strip)  # still well-formed
    [mark] = root.findall(f"{SVG}a")
    assert hostile in (mark.findtext(f"{SVG}title") or "")  # shown as text, whole
    assert mark.get("href") == '#v1"><script>'
    assert root.get("aria-label") == 'a "label" <b>'


def test_a_long_description_is_shortened() -> None:
    long = "word " * 200
    strip = timeline.build([StripEvent(START, "edited", "style", long, "v1")], START, START, "x")
    title = marks(strip)[0].findtext(f"{SVG}title") or ""
    assert len(title) < timeline.MAX_LABEL_CHARS + 60 and title.endswith("…")


def test_the_axis_covers_changes_outside_the_given_span() -> None:
    # A removal seen after the item's last sighting still lands inside the strip.
    late = event(60 * 48, "removed", None, n=9)
    strip = timeline.build(
        [event(0, "created", None), late], START, START + timedelta(hours=1), "x"
    )
    xs = [centre(m) for m in marks(strip)]
    assert xs[-1] == pytest.approx(timeline.WIDTH - timeline.PAD, abs=0.1)


def test_no_changes_is_an_empty_strip() -> None:
    strip = timeline.build([], START, START, "x")
    assert strip.marks == [] and strip.legend == [] and marks(strip) == []
