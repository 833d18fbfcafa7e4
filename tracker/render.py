"""More views of a field diff: side-by-side HTML and a coloured terminal view.

(Inline HTML, plain text and patch text live beside the diff engine in tracker.diff.)
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence

from tracker import diff

# ANSI SGR: red with strike-through for deletions, green with underline for insertions,
# so the view also reads without colour (e.g. for colour-blind users).
ANSI_DELETE = "\x1b[31;9m"
ANSI_INSERT = "\x1b[32;4m"
ANSI_FIELD = "\x1b[1m"
ANSI_RESET = "\x1b[0m"


def _label(name: str) -> str:
    return name[:1].upper() + name[1:]


def render_terminal(fields: Mapping[str, Sequence[diff.Op]]) -> str:
    """Changed fields with ANSI colours; "" if nothing changed."""
    blocks = []
    for name, ops in fields.items():
        if not diff.changed(ops):
            continue
        head = f"{ANSI_FIELD}{name}:{ANSI_RESET}"
        if isinstance(ops, diff.ListOps):
            lines = [
                f"  {ANSI_DELETE}- {entry}{ANSI_RESET}"
                if op == diff.DELETE
                else f"  {ANSI_INSERT}+ {entry}{ANSI_RESET}"
                for op, entry in ops
                if op != diff.EQUAL
            ]
            blocks.append("\n".join([head, *lines]))
        else:
            colours = {diff.DELETE: ANSI_DELETE, diff.INSERT: ANSI_INSERT}
            body = "".join(
                f"{colours[op]}{text}{ANSI_RESET}" if op in colours else text for op, text in ops
            )
            blocks.append(f"{head} {body}")
    return "\n".join(blocks)


def render_side_by_side(fields: Mapping[str, Sequence[diff.Op]]) -> str:
    """Changed fields as an HTML table: the old version on the left, the new on the right."""
    rows = []
    for name, ops in fields.items():
        if not diff.changed(ops):
            continue
        if isinstance(ops, diff.ListOps):
            old = "<br>".join(_cell_op(op, e) for op, e in ops if op != diff.INSERT)
            new = "<br>".join(_cell_op(op, e) for op, e in ops if op != diff.DELETE)
        else:
            old = "".join(_cell_op(op, t) for op, t in ops if op != diff.INSERT)
            new = "".join(_cell_op(op, t) for op, t in ops if op != diff.DELETE)
        rows.append(
            f'<tr><th scope="row" style="{_TH}">{html.escape(_label(name))}</th>'
            f'<td style="{_TD}">{old}</td><td style="{_TD}">{new}</td></tr>'
        )
    if not rows:
        return ""
    head = f'<tr><th></th><th style="{_TH}">Before</th><th style="{_TH}">After</th></tr>'
    return f'<table style="border-collapse:collapse">{head}{"".join(rows)}</table>'


_TH = "text-align:left;vertical-align:top;padding:4px 8px"
_TD = "vertical-align:top;padding:4px 8px;border-top:1px solid #ddd"


def _cell_op(op: int, text: str) -> str:
    if op == diff.EQUAL:
        return html.escape(text)
    return diff.render_html([(op, text)])
