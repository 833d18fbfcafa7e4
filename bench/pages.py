"""Offstream-style item pages for the benchmarks: generated, seeded, served by a static server.

Each page follows the site's Markdown (``.md``) item template, as in the real pages of
tests/fixtures/offstream/ (e.g. the Borneo boat page): a ``Formats:`` line, the
``### [2018-01-1](/news/2018/01/1/index.md)`` date heading, a ``##### Category`` heading, the
``# Headline``, a summary paragraph, ``### Sources:``, ``### Changes:`` (the page's own
history; about one page in five lists an earlier headline) and ``### Related:`` (five other
items with their ``_Context:_`` tags). Headlines, summaries and related items are drawn from
``bench.words.COMMON_WORDS`` and a few names, so every page differs; the path is
``/news/YYYY/MM/D/<slug>.md`` with the slug made from the first headline, as on the site.
redline reads these pages with its "offstream" extractor.

Pages are spread over ``hosts`` (loopback addresses standing for separate sites); one
directory holds them all, and one static server listening on every host serves it, so a
page's URL is ``http://<host>:<port>/<path>``.

``edit_pages`` rewrites a fraction of the pages in place (a word or two of the headline and
of the summary) and moves the files' modification time forward, so that a server deriving
ETag and Last-Modified from it (nginx) announces a new version. The URL stays the same (the
real site moved a page whose headline changed to a new slug; a polling benchmark needs the
same URLs from round to round).

    pages = write_item_pages(root, 2000, seed=1, hosts=[f"127.0.0.{i}" for i in range(1, 21)])
    edited = edit_pages(root, pages, fraction=0.05, seed=2)
"""

from __future__ import annotations

import datetime
import os
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from bench.words import COMMON_WORDS

_NAMES_TEXT = """
Syria Palmyra Borneo Indonesia Congress Reuters Monday Tuesday Wednesday Thursday Friday
London Paris Moscow Beijing Kyiv Brussels Ankara Jakarta Nairobi Lagos Ottawa Canberra
Mexico Brazil Chile Peru Kenya Ghana Norway Sweden Japan Korea India Egypt Iran Iraq Yemen
"""
NAMES = _NAMES_TEXT.split()
# Category headings ("##### Syrian Civil War"); "_" stands for a space.
_CATEGORIES_TEXT = """
Syrian_Civil_War Indonesia Yemeni_Civil_War Brexit European_Union United_Nations
Elections Climate_change Public_health Stock_markets Earthquakes Aviation_accidents
"""
CATEGORIES = [name.replace("_", " ") for name in _CATEGORIES_TEXT.split()]
SOURCE_SITES = [
    ("BBC", "http://www.bbc.com/news/world-{n}"),
    ("Reuters", "https://www.reuters.com/article/idUS{n}"),
    ("Al Jazeera", "https://www.aljazeera.com/news/{n}.html"),
    ("AP", "https://apnews.com/{n}"),
    ("The Guardian", "https://www.theguardian.com/world/{n}"),
]


@dataclass(frozen=True)
class ItemPage:
    """One generated item page: where it is and what it currently says."""

    host: str  # the loopback address standing for the page's site
    path: str  # URL path, "/news/2018/01/1/<slug>.md"; the file is root / path[1:]
    day: datetime.date
    category: str
    headline: str
    summary: str
    sources: tuple[str, ...]  # Markdown list lines, "1. [BBC](http://…)"
    earlier: tuple[str, ...]  # Changes lines before the current version
    related: tuple[str, ...] = field(repr=False)  # Related list lines
    edits: int = 0  # how many times edit_pages changed it

    def url(self, port: int) -> str:
        return f"http://{self.host}:{port}{self.path}"

    def file(self, root: Path) -> Path:
        return root / self.path.lstrip("/")


def write_item_pages(
    root: Path, count: int, seed: int, hosts: Sequence[str] = ("127.0.0.1",)
) -> list[ItemPage]:
    """Write `count` item pages under `root`, spread evenly over `hosts` (round robin).

    The same seed gives the same pages, byte for byte; mtimes are set to one fixed time.
    """
    rng = random.Random(seed)
    pages: list[ItemPage] = []
    paths: set[str] = set()
    for i in range(count):
        page = _new_page(rng, hosts[i % len(hosts)])
        while page.path in paths:  # a repeated slug (rare): draw another headline
            page = _new_page(rng, page.host)
        paths.add(page.path)
        pages.append(page)
    start = datetime.datetime(2018, 3, 1, tzinfo=datetime.UTC).timestamp()
    for page in pages:
        _write(root, page, start)
    return pages


def edit_pages(root: Path, pages: list[ItemPage], fraction: float, seed: int) -> list[ItemPage]:
    """Edit round(fraction × len(pages)) pages in place; return them as they now read.

    Each edited page gets one word of its headline and one to three of its summary
    replaced (its Changes "(Current version)" line follows the headline), and its file a
    modification time later than before. `pages` is updated in place too.
    """
    rng = random.Random(seed)
    chosen = sorted(rng.sample(range(len(pages)), round(fraction * len(pages))))
    edited = []
    for i in chosen:
        old = pages[i]
        page = replace(
            old,
            headline=_edit_words(rng, old.headline, 1),
            summary=_edit_words(rng, old.summary, rng.randint(1, 3)),
            edits=old.edits + 1,
        )
        mtime = max(old.file(root).stat().st_mtime + 1, datetime.datetime.now().timestamp())
        _write(root, page, mtime)
        pages[i] = page
        edited.append(page)
    return edited


# --- generation -----------------------------------------------------------------------------


def _word(rng: random.Random) -> str:
    return rng.choice(NAMES) if rng.random() < 0.08 else rng.choice(COMMON_WORDS)


def _sentence(rng: random.Random, low: int, high: int) -> str:
    words = [_word(rng) for _ in range(rng.randint(low, high))]
    words[0] = words[0][:1].upper() + words[0][1:]
    return " ".join(words) + "."


def _slug(headline: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", headline.lower()).strip("-")[:140].rstrip("-")


def _day_path(day: datetime.date) -> str:
    return f"/news/{day.year}/{day.month:02d}/{day.day}"


def _new_page(rng: random.Random, host: str) -> ItemPage:
    day = datetime.date(2018, 1, 1) + datetime.timedelta(days=rng.randrange(59))
    headline = _sentence(rng, 10, 22)
    summary = " ".join(_sentence(rng, 12, 24) for _ in range(rng.randint(1, 3)))
    sources = []
    for n in range(rng.randint(1, 4)):
        name, link = rng.choice(SOURCE_SITES)
        sources.append(f"{n + 1}. [{name}]({link.format(n=rng.randrange(10**7, 10**8))})")
    earlier: list[str] = []
    if rng.random() < 0.2:  # the site kept an earlier headline (at its own, older slug)
        old = _edit_words(rng, headline, 1)
        at = f"{day.isoformat()} {rng.randrange(6, 22):02d}:{rng.randrange(60):02d}:05"
        earlier.append(f"1. [{old} ]({_day_path(day)}/{_slug(old)}.md) _{at} (First version)_")
    related = []
    for n in range(5):
        other = datetime.date(2005, 1, 1) + datetime.timedelta(days=rng.randrange(4700))
        text = _sentence(rng, 12, 40)
        tags = ", ".join(sorted({rng.choice(NAMES) for _ in range(rng.randint(1, 3))}))
        related.append(f"{n + 1}. [{text} ]({_day_path(other)}/{_slug(text)}.md) _Context: {tags}_")
    return ItemPage(
        host=host,
        path=f"{_day_path(day)}/{_slug(headline)}.md",
        day=day,
        category=rng.choice(CATEGORIES),
        headline=headline,
        summary=summary,
        sources=tuple(sources),
        earlier=tuple(earlier),
        related=tuple(related),
    )


def _edit_words(rng: random.Random, text: str, edits: int) -> str:
    """Replace `edits` words (not the last, which carries the full stop) with other words."""
    words = text.split(" ")
    for _ in range(edits):
        i = rng.randrange(max(1, len(words) - 1))
        new = _word(rng)
        while new.lower() == words[i].lower():
            new = _word(rng)
        words[i] = new[:1].upper() + new[1:] if i == 0 else new
    return " ".join(words)


def render(page: ItemPage) -> str:
    """The page's Markdown, in the site's item template."""
    base = page.path.removesuffix(".md")
    day = f"{page.day.year}-{page.day.month:02d}-{page.day.day}"
    formats = "  ".join(f"[{kind.upper()}]({base}.{kind})" for kind in ("html", "json", "xml"))
    changes = [
        *page.earlier,
        f"{len(page.earlier) + 1}. [{page.headline} ]({page.path}) _(Current version)_",
    ]
    return "\n".join(
        [
            "",
            f"Formats: {formats}  ",
            "",
            f"### [{day}]({_day_path(page.day)}/index.md)",
            "",
            f"##### {page.category}",
            f"# {page.headline} ",
            "",
            page.summary,
            "",
            "",
            "### Sources:",
            "",
            *page.sources,
            "",
            "### Changes:",
            "",
            *changes,
            "",
            "### Related:",
            "",
            *page.related,
            "",
        ]
    )


def _write(root: Path, page: ItemPage, mtime: float) -> None:
    file = page.file(root)
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_text(render(page), encoding="utf-8")
    os.utime(file, (mtime, mtime))
