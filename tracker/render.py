"""Views of a field diff: plain text, inline HTML, side-by-side HTML, coloured terminal.

HTML escapes every text it shows (a headline containing <script> stays text) and styles
<ins>/<del> inline, since feed readers strip <style> blocks and class attributes.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence

from storage import Version
from tracker import history
from tracker.diff import DELETE, EQUAL, INSERT, ListOps, Op, changed, patch_text

DEL_STYLE = "background:#ffe6e6;color:#b30000;text-decoration:line-through"
INS_STYLE = "background:#e6ffe6;color:#006600;text-decoration:none"

# ANSI SGR: red with strike-through for deletions, green with underline for insertions,
# so the view also reads without colour (e.g. for colour-blind users).
ANSI_DELETE = "\x1b[31;9m"
ANSI_INSERT = "\x1b[32;4m"
ANSI_FIELD = "\x1b[1m"
ANSI_RESET = "\x1b[0m"


def _label(name: str) -> str:
    return name[:1].upper() + name[1:]


def render_terminal(fields: Mapping[str, Sequence[Op]]) -> str:
    """Changed fields with ANSI colours; "" if nothing changed."""
    blocks = []
    for name, ops in fields.items():
        if not changed(ops):
            continue
        head = f"{ANSI_FIELD}{name}:{ANSI_RESET}"
        if isinstance(ops, ListOps):
            lines = [
                f"  {ANSI_DELETE}- {entry}{ANSI_RESET}"
                if op == DELETE
                else f"  {ANSI_INSERT}+ {entry}{ANSI_RESET}"
                for op, entry in ops
                if op != EQUAL
            ]
            blocks.append("\n".join([head, *lines]))
        else:
            colours = {DELETE: ANSI_DELETE, INSERT: ANSI_INSERT}
            body = "".join(
                f"{colours[op]}{text}{ANSI_RESET}" if op in colours else text for op, text in ops
            )
            blocks.append(f"{head} {body}")
    return "\n".join(blocks)


def render_side_by_side(fields: Mapping[str, Sequence[Op]]) -> str:
    """Changed fields as an HTML table: the old version on the left, the new on the right."""
    rows = []
    for name, ops in fields.items():
        if not changed(ops):
            continue
        if isinstance(ops, ListOps):
            old = "<br>".join(_cell_op(op, e) for op, e in ops if op != INSERT)
            new = "<br>".join(_cell_op(op, e) for op, e in ops if op != DELETE)
        else:
            old = "".join(_cell_op(op, t) for op, t in ops if op != INSERT)
            new = "".join(_cell_op(op, t) for op, t in ops if op != DELETE)
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
    if op == EQUAL:
        return html.escape(text)
    return render_html([(op, text)])


def _is_list(ops: Sequence[Op]) -> bool:
    return isinstance(ops, ListOps)


def render_text(fields: Mapping[str, Sequence[Op]]) -> str:
    """Changed fields as plain text, wdiff style ([-old-] {+new+}); "" if nothing changed."""
    blocks = []
    for name, ops in fields.items():
        if not changed(ops):
            continue
        if _is_list(ops):
            marks = {DELETE: "  - ", INSERT: "  + "}
            lines = [marks[op] + entry for op, entry in ops if op != EQUAL]
            blocks.append("\n".join([f"{name}:", *lines]))
        else:
            wrap = {DELETE: "[-{}-]", INSERT: "{{+{}+}}", EQUAL: "{}"}
            blocks.append(f"{name}: " + "".join(wrap[op].format(text) for op, text in ops))
    return "".join(block + "\n" for block in blocks)


def _html_op(op: int, text: str) -> str:
    text = html.escape(text)
    if op == DELETE:
        return f'<del style="{DEL_STYLE}">{text}</del>'
    if op == INSERT:
        return f'<ins style="{INS_STYLE}">{text}</ins>'
    return text


def render_html(ops: Sequence[Op]) -> str:
    """Text ops as escaped HTML with inline-styled <del> and <ins>."""
    return "".join(_html_op(op, text) for op, text in ops)


def render_fields_html(fields: Mapping[str, Sequence[Op]]) -> str:
    """Changed fields as HTML paragraphs; list fields as a <ul> of added/removed entries."""
    parts = []
    for name, ops in fields.items():
        if not changed(ops):
            continue
        label = html.escape(name[:1].upper() + name[1:])
        if _is_list(ops):
            items = "".join(f"<li>{_html_op(op, e)}</li>" for op, e in ops if op != EQUAL)
            parts.append(f"<p><strong>{label}</strong>:</p><ul>{items}</ul>")
        else:
            parts.append(f"<p><strong>{label}</strong>: {render_html(ops)}</p>")
    return "\n".join(parts)


def render_diff_document(
    item_id: int, old: Version, new: Version, field_ops: Mapping[str, list[Op]], fmt: str
) -> str:
    """What `redline diff --format fmt` prints (and the API serves) for text formats:
    text, color, html, side-by-side, patch."""
    if fmt == "html":
        return render_fields_html(field_ops) + "\n"
    if fmt == "side-by-side":
        return render_side_by_side(field_ops) + "\n"
    if fmt == "patch":
        old_fields, new_fields = history.comparable_fields(old, new)
        parts = []
        for name, ops in field_ops.items():
            if isinstance(old_fields[name], str) and changed(ops):
                parts.append(f"--- {name} (version {old.n})\n+++ {name} (version {new.n})\n")
                parts.append(patch_text(str(old_fields[name]), str(new_fields[name])))
        return "".join(parts)
    shown = render_terminal(field_ops) if fmt == "color" else render_text(field_ops)
    return (
        f"item {item_id}, version {old.n} → {new.n}\n{shown.rstrip(chr(10)) or 'no differences'}\n"
    )
