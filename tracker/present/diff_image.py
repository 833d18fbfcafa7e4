"""A picture of an edit: the old headline with the words that went struck through in red,
the new one with the words that came marked in green, the source and the time in small
type; a PNG sized for social cards (1200 × 630), and alt text saying the same in words.

Drawn with Pillow, no browser. The font is DejaVu Sans where the system has it (Debian's
fonts-dejavu-core; it covers Latin, Greek and Cyrillic), else the font Pillow ships.
Nothing is downloaded.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from tracker.words import cut

WIDTH, HEIGHT = 1200, 630
MARGIN = 60
FONT_FILES = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
)
INK = (20, 20, 20)
MUTED = (100, 100, 100)
GONE = (178, 34, 34)  # deleted words: red, struck through
GONE_BACK = (253, 226, 226)
CAME = (22, 110, 52)  # inserted words: green, on a pale green
CAME_BACK = (220, 245, 226)
SIZES = (44, 38, 32, 27, 23)  # the headlines' type, largest that fits first
MAX_ALT = 1000

# diff-match-patch ops: -1 deleted, 0 kept, 1 inserted.
Ops = Sequence[Sequence[object]]


@dataclass(frozen=True)
class Piece:
    text: str
    mark: int  # 0 kept, -1 gone (old side), 1 came (new side)


def sides(ops: Ops) -> tuple[list[Piece], list[Piece]]:
    """The old headline's pieces (kept and gone) and the new one's (kept and came)."""
    old, new = [], []
    for op, text in ops:
        piece = Piece(str(text), int(op))  # type: ignore[call-overload]
        if piece.mark <= 0:
            old.append(piece)
        if piece.mark >= 0:
            new.append(piece)
    return old, new


def alt_text(field: str, ops: Ops, where: str | None) -> str:
    """What the picture shows, in words: for screen readers and posts' image descriptions."""
    old, new = ("".join(piece.text for piece in side) for side in sides(ops))
    said = f"{field.capitalize()} changed from “{old}” to “{new}”"
    return cut(said + (f" ({where})" if where else "") + ".", MAX_ALT)


def render_png(field: str, ops: Ops, source: str | None, when: datetime | None) -> bytes:
    """The card for an edit of one field (the headline, mostly), given as diff ops."""
    old, new = sides(ops)
    image = Image.new("RGB", (WIDTH, HEIGHT), "white")
    draw = ImageDraw.Draw(image)
    small = _font(22)
    draw.text((MARGIN, MARGIN - 20), f"{field.capitalize()} edited", font=_font(26), fill=MUTED)
    width = WIDTH - 2 * MARGIN
    room = (HEIGHT - 2 * MARGIN - 120) // 2  # each headline's height
    size = next(
        (s for s in SIZES if max(_height(draw, p, s, width) for p in (old, new)) <= room),
        SIZES[-1],
    )
    top = MARGIN + 30
    for label, pieces in (("Before", old), ("After", new)):
        draw.text((MARGIN, top), label, font=small, fill=MUTED)
        _flow(draw, pieces, _font(size), MARGIN, top + 32, width, room)
        top += room + 50
    footer = " · ".join(
        part for part in (source, when.strftime("%Y-%m-%d %H:%M UTC") if when else None) if part
    )
    draw.text((MARGIN, HEIGHT - MARGIN + 10), f"redline · {footer}" if footer else "redline",
              font=small, fill=MUTED)  # fmt: skip
    out = io.BytesIO()
    image.save(out, "PNG", optimize=True)
    return out.getvalue()


@lru_cache(maxsize=16)
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    for path in FONT_FILES:
        if Path(path).exists():
            return ImageFont.truetype(path, size)
    return ImageFont.load_default(size)


def _words(pieces: Sequence[Piece]) -> list[Piece]:
    """The pieces cut at spaces, so lines break between words; a space stays with the
    word before it."""
    words: list[Piece] = []
    for piece in pieces:
        start = 0
        for end, char in enumerate(piece.text):
            if char == " ":
                words.append(Piece(piece.text[start : end + 1], piece.mark))
                start = end + 1
        if start < len(piece.text):
            words.append(Piece(piece.text[start:], piece.mark))
    return words


def _lines(draw: ImageDraw.ImageDraw, pieces: Sequence[Piece], font: object, width: int):
    line: list[tuple[Piece, float]] = []
    used = 0.0
    for word in _words(pieces):
        size = draw.textlength(word.text, font=font)  # type: ignore[arg-type]
        joins = line and not line[-1][0].text.endswith(" ")  # inside a word split by the diff
        if used + size > width and line and not joins:
            yield line
            line, used = [], 0.0
        line.append((word, size))
        used += size
    if line:
        yield line


def _height(draw: ImageDraw.ImageDraw, pieces: Sequence[Piece], size: int, width: int) -> int:
    return len(list(_lines(draw, pieces, _font(size), width))) * int(size * 1.3)


def _flow(
    draw: ImageDraw.ImageDraw,
    pieces: Sequence[Piece],
    font: ImageFont.FreeTypeFont | ImageFont.ImageFont,
    left: int,
    top: int,
    width: int,
    room: int,
) -> None:
    size = getattr(font, "size", 24)
    step = int(size * 1.3)
    y = top
    for line in _lines(draw, pieces, font, width):
        if y + step > top + room + step // 2:
            draw.text((left, y), "…", font=font, fill=MUTED)
            return
        x = float(left)
        for word, length in line:
            shown = word.text.rstrip(" ") if word.mark else word.text
            inked = draw.textlength(shown, font=font)
            if word.mark:
                back = GONE_BACK if word.mark < 0 else CAME_BACK
                draw.rectangle((x - 2, y - 2, x + inked + 2, y + size * 1.15), fill=back)
            colour = GONE if word.mark < 0 else CAME if word.mark > 0 else INK
            draw.text((x, y), shown, font=font, fill=colour)
            if word.mark < 0:  # struck through
                middle = y + size * 0.6
                draw.line((x, middle, x + inked, middle), fill=GONE, width=max(2, size // 14))
            x += length
        y += step
