"""Words in messages: counts ("1 item", "2 items"), and text cut to fit ("…").

`cut` and `one_line` are the one way text is shortened for a message, a label, a post
or a stored field: what is cut ends in CUT.
"""

from __future__ import annotations

CUT = "…"


def cut(text: str, cap: int) -> str:
    """The text, or its first cap - 1 characters (trailing spaces dropped) and CUT."""
    if len(text) <= cap:
        return text
    return text[: cap - len(CUT)].rstrip() + CUT


def one_line(text: str, cap: int) -> str:
    """The text with its runs of whitespace (newlines too) as single spaces, cut to cap."""
    return cut(" ".join(text.split()), cap)


def plural(count: int, noun: str, many: str | None = None) -> str:
    """ "1 item", "0 items", "3 items"; `many` for nouns that do not just add an s
    ("1 new version" is plural(1, "new version"))."""
    return f"{count} {noun if count == 1 else (many or noun + 's')}"
