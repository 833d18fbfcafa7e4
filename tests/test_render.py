"""The terminal and side-by-side views of a field diff."""

from __future__ import annotations

from html.parser import HTMLParser

from tracker.compare import diff
from tracker.present.render import (
    ANSI_DELETE,
    ANSI_INSERT,
    ANSI_RESET,
    render_side_by_side,
    render_terminal,
)

BOAT = (
    "A boat capsizes in the north of Indonesian Borneo, with at least 8 people dead.",
    "A boat capsizes in the north of Indonesian Borneo, leaving at least 8 people dead.",
)


def test_terminal_view_colours_deletions_and_insertions() -> None:
    fields = {
        "headline": diff.diff_text(*BOAT),
        "summary": diff.diff_text("Unchanged.", "Unchanged."),
        "tags": diff.diff_list(["Indonesia", "Borneo"], ["Indonesia", "Malaysia"]),
    }
    out = render_terminal(fields)
    assert out.splitlines()[0].endswith(
        f"A boat capsizes in the north of Indonesian Borneo, {ANSI_DELETE}with{ANSI_RESET}"
        f"{ANSI_INSERT}leaving{ANSI_RESET} at least 8 people dead."
    )
    assert "summary" not in out  # unchanged fields are left out
    assert (
        f"{ANSI_INSERT}+ Malaysia{ANSI_RESET}" in out
        and f"{ANSI_DELETE}- Borneo{ANSI_RESET}" in out
    )
    assert render_terminal({"headline": diff.diff_text("same", "same")}) == ""


class _Cells(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.cells: list[str] = []
        self._in_cell = False

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag == "td":
            self._in_cell = True
            self.cells.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == "td":
            self._in_cell = False

    def handle_data(self, data: str) -> None:
        if self._in_cell:
            self.cells[-1] += data


def test_side_by_side_shows_each_version_whole_and_escaped() -> None:
    evil = BOAT[1].replace("leaving", "<script>alert(1)</script>")
    table = render_side_by_side({"headline": diff.diff_text(BOAT[0], evil)})
    assert "<script>" not in table and "&lt;script&gt;" in table
    parser = _Cells()
    parser.feed(table)
    assert parser.cells == [BOAT[0], evil]  # text of the left cell is the old, right the new
    assert '<del style="' in table and '<ins style="' in table
    assert render_side_by_side({"headline": diff.diff_text("a", "a")}) == ""
