"""Counts in words, for every message that says how many: "1 item", "2 items"."""

from __future__ import annotations


def plural(count: int, noun: str, many: str | None = None) -> str:
    """ "1 item", "0 items", "3 items"; `many` for nouns that do not just add an s
    ("1 new version" is plural(1, "new version"))."""
    return f"{count} {noun if count == 1 else (many or noun + 's')}"
