"""Views of a field diff: plain text, inline HTML, side-by-side HTML, coloured terminal.

HTML escapes every text it shows (a headline containing <script> stays text) and styles
<ins>/<del> inline, since feed readers strip <style> blocks and class attributes.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence

from storage import Version
from tracker.compare import paragraphs
from tracker.compare.diff import DELETE, EQUAL, INSERT, ListOps, Op, changed, patch_text
from tracker.record import history

DEL_STYLE = "background:#ffe6e6;color:#b30000;text-decoration:line-through"
INS_STYLE = "background:#e6ffe6;color:#006600;text-decoration:none"
# A moved paragraph: neither deleted nor inserted, so neither red nor green.
MOVED_STYLE = "background:#e6f0ff;color:#003d99;text-decoration:none"
MOVED_NOTE_STYLE = "color:#003d99;font-style:italic"
MOVE_EXCERPT_WORDS = 8  # words of a moved paragraph quoted where it used to be
# Visible markers inside <del>/<ins>, for readers that drop both the elements and their
# styles (text-mode feed readers, mail clients): "[−gone−]" and "[+new+]" still read.
DEL_MARKS = ("[\u2212", "\u2212]")  # U+2212 MINUS SIGN: the same width as the plus
INS_MARKS = ("[+", "+]")

# ANSI SGR: red with strike-through for deletions, green with underline for insertions,
# so the view also reads without colour (e.g. for colour-blind users).
ANSI_DELETE = "\x1b[31;9m"
ANSI_INSERT = "\x1b[32;4m"
ANSI_MOVED = "\x1b[36m"  # cyan: a moved paragraph's note
ANSI_FIELD = "\x1b[1m"
ANSI_RESET = "\x1b[0m"


def _label(name: str) -> str:
    return name[:1].upper() + name[1:]


def move_notes(ops: Sequence[Op]) -> dict[int, str]:
    """For each op of a moved paragraph (tracker.compare.paragraphs.find_moves), by index, the note
    shown in its place: where it went ("[↓ moved below: “First words…”]") or where it
    came from ("[↑ moved here from above]"), the paragraph itself following that one."""
    if isinstance(ops, ListOps):
        return {}
    notes = {}
    for index, partner in paragraphs.find_moves(ops).items():
        op, text = ops[index]
        if op == DELETE:
            arrow, where = ("↓", "below") if partner > index else ("↑", "above")
            words = text.split()
            excerpt = " ".join(words[:MOVE_EXCERPT_WORDS])
            if len(words) > MOVE_EXCERPT_WORDS:
                excerpt += "…"
            notes[index] = f"[{arrow} moved {where}: “{excerpt}”]"
        else:
            arrow, where = ("↓", "above") if partner < index else ("↑", "below")
            notes[index] = f"[{arrow} moved here from {where}]"
    return notes


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
            notes = move_notes(ops)
            body = "".join(
                _terminal_move(op, text, notes[i])
                if i in notes
                else f"{colours[op]}{text}{ANSI_RESET}"
                if op in colours
                else text
                for i, (op, text) in enumerate(ops)
            )
            blocks.append(f"{head} {body}")
    return "\n".join(blocks)


def _terminal_move(op: int, text: str, note: str) -> str:
    """A moved paragraph: its note in cyan; where it landed, the paragraph after it."""
    return _text_move(op, text, f"{ANSI_MOVED}{note}{ANSI_RESET}")


def render_side_by_side(fields: Mapping[str, Sequence[Op]]) -> str:
    """Changed fields as an HTML table: the old version on the left, the new on the right."""
    rows = []
    for name, ops in fields.items():
        if not changed(ops):
            continue
        if isinstance(ops, ListOps):
            old = "<br>".join(_html_op(op, e) for op, e in ops if op != INSERT)
            new = "<br>".join(_html_op(op, e) for op, e in ops if op != DELETE)
        else:
            notes = move_notes(ops)
            old = "".join(
                _html_op(op, t, notes.get(i)) for i, (op, t) in enumerate(ops) if op != INSERT
            )
            new = "".join(
                _html_op(op, t, notes.get(i)) for i, (op, t) in enumerate(ops) if op != DELETE
            )
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
            notes = move_notes(ops)
            shown = (
                _text_move(op, text, notes[i]) if i in notes else wrap[op].format(text)
                for i, (op, text) in enumerate(ops)
            )
            blocks.append(f"{name}: " + "".join(shown))
    return "".join(block + "\n" for block in blocks)


def _around(text: str) -> tuple[str, str, str]:
    """Leading whitespace, the rest, trailing whitespace."""
    core = text.strip()
    if not core:
        return text, "", ""
    start = text.index(core)
    return text[:start], core, text[start + len(core) :]


def _text_move(op: int, text: str, note: str) -> str:
    """A moved paragraph as text: the note where it was, the note and it where it is; its
    line breaks kept, so the layout around it stays."""
    lead, core, trail = _around(text)
    return f"{lead}{note}{trail}" if op == DELETE else f"{lead}{note} {core}{trail}"


def _html_text(text: str) -> str:
    """Escaped for element content, line breaks kept (a body's paragraphs would run
    together in HTML). Quotes stay as they are: they need no escape outside attributes,
    and some text-mode readers (Debian's html2text) show &#x27; as it is."""
    return html.escape(text, quote=False).replace("\n", "<br>\n")


def _html_op(op: int, text: str, note: str | None = None, markers: bool = False) -> str:
    """One op as HTML; `note`: the op is a moved paragraph (see move_notes); `markers`:
    visible [−…−] / [+…+] inside <del> / <ins> (see DEL_MARKS)."""
    if note is not None:
        lead, core, trail = map(_html_text, _around(text))
        shown = f'<span style="{MOVED_NOTE_STYLE}">{_html_text(note)}</span>'
        if op == INSERT:
            shown += f' <span style="{MOVED_STYLE}">{core}</span>'
        return f"{lead}{shown}{trail}"
    if op == EQUAL:
        return _html_text(text)
    shown = _html_text(text)
    if markers:  # the markers hug the words, whitespace around them stays outside
        lead, core, trail = map(_html_text, _around(text) if text.strip() else ("", text, ""))
        start, end = (_mark(mark) for mark in (DEL_MARKS if op == DELETE else INS_MARKS))
        shown = f"{lead}{start}{core}{end}{trail}"
    if op == DELETE:
        return f'<del style="{DEL_STYLE}">{shown}</del>'
    return f'<ins style="{INS_STYLE}">{shown}</ins>'


def _mark(mark: str) -> str:
    """A marker in a span a page can style quieter (class "mark"); readers drop the
    class and show the text."""
    return f'<span class="mark">{mark}</span>'


def render_html(ops: Sequence[Op], markers: bool = False) -> str:
    """Text ops as escaped HTML with inline-styled <del> and <ins>; a moved paragraph as
    a note where it was and a note before it where it is now. markers: see _html_op."""
    notes = move_notes(ops)
    return "".join(_html_op(op, text, notes.get(i), markers) for i, (op, text) in enumerate(ops))


def render_fields_html(fields: Mapping[str, Sequence[Op]], markers: bool = False) -> str:
    """Changed fields as HTML paragraphs; list fields as a <ul> of added/removed entries.
    markers: visible [−…−] / [+…+] around each edit (see DEL_MARKS)."""
    parts = []
    for name, ops in fields.items():
        if not changed(ops):
            continue
        label = html.escape(name[:1].upper() + name[1:])
        if _is_list(ops):
            items = "".join(
                f"<li>{_html_op(op, e, markers=markers)}</li>" for op, e in ops if op != EQUAL
            )
            parts.append(f"<p><strong>{label}</strong>:</p><ul>{items}</ul>")
        else:
            parts.append(f"<p><strong>{label}</strong>: {render_html(ops, markers)}</p>")
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
