"""docs/architecture.md stays true: what it names exists, and what exists it names."""

from __future__ import annotations

import re
from pathlib import Path

from feeds import feed_query
from tracker.record.history import VERSION_MAKING_KINDS

ROOT = Path(__file__).resolve().parent.parent
MAP = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")


def table_after(heading: str) -> list[str]:
    """The first column (without backquotes) of the first table under a heading."""
    section = MAP.split(heading, 1)[1]
    rows = re.findall(r"^\| `([^`]+)` \|", section.split("\n## ", 1)[0], re.MULTILINE)
    assert rows, f"no table under {heading!r}"
    return rows


def test_every_path_the_map_names_exists() -> None:
    paths = set(re.findall(r"`((?:storage|tracker|feeds|bench|tests|docs)/[\w./]*)`", MAP))
    assert len(paths) > 25  # the map names its modules
    missing = sorted(path for path in paths if not (ROOT / path).exists())
    assert missing == []


def test_every_tracker_module_is_on_the_map() -> None:
    """By its path: the base's modules and each stage's (extract's and notify's are named
    by their own rows of the layout table)."""
    tracker = ROOT / "tracker"
    paths = [*tracker.glob("*.py"), *tracker.glob("*/*.py")]
    modules = {
        path.relative_to(ROOT).as_posix()
        for path in paths
        if path.name not in ("__init__.py", "__main__.py")
        and path.parent.name not in ("extract", "notify")
    }
    named = set(re.findall(r"tracker/[\w/]+\.py", MAP))
    assert len(modules) > 40
    assert sorted(modules - named) == []


def test_the_change_kinds_are_the_ones_recorded() -> None:
    recorded = {*VERSION_MAKING_KINDS, *feed_query.LISTING_KINDS}
    assert set(table_after("### Change kinds")) == recorded


def test_the_feed_kinds_are_the_ones_served() -> None:
    assert tuple(table_after("## What each feed carries")) == feed_query.KINDS
