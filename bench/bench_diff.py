"""Benchmark of tracker.compare.diff.diff_text: the C++ raw diff (the hot path) against pure Python;
and of tracker.compare.paragraphs.diff_body (article bodies) against that word diff and difflib.

Run by hand from the repository root (never as a test):

    .venv/bin/python bench/bench_diff.py            # print the table
    .venv/bin/python bench/bench_diff.py --write    # also update bench/RESULTS.md
    .venv/bin/python bench/bench_diff.py --quick    # shorter runs, rougher numbers

Inputs are generated deterministically (seeded random) from a word list: headline pairs with
a 1-2 word edit, the real headline pairs from tests/test_diff.py, summary pairs (~60 words),
15 KB articles with ~40 scattered word edits, and fully rewritten 15 KB pairs (two
independent texts). Each case is timed call by call, with the garbage collector off as in
timeit, after a warm-up; the number of calls per case fits a time budget.

The second table times article bodies three ways in the same run: diff_body (paragraphs,
then sentences, then words inside changed blocks), the plain word diff of the whole text
(diff_text, what bodies used before), and difflib's SequenceMatcher over the same tokens.
"""

from __future__ import annotations

import argparse
import difflib
import os
import random
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# The project's own `tests` package, not the stray one fast-diff-match-patch's wheel installs.
sys.path.insert(0, str(ROOT))

from bench.harness.results import RESULTS, machine_lines, publish  # noqa: E402
from bench.harness.timing import gc_paused, p99  # noqa: E402
from bench.words import COMMON_WORDS  # noqa: E402
from tests.test_diff import (  # noqa: E402
    BORNEO_1,
    BORNEO_2,
    BORNEO_3,
    NUNES_NEW,
    NUNES_OLD,
    PALMYRA_NEW,
    PALMYRA_OLD,
)
from tracker.compare import diff, paragraphs  # noqa: E402

SECTION = "## Diffs"
COMMAND = ".venv/bin/python bench/bench_diff.py --write"

Pair = tuple[str, str]
DiffFn = Callable[[str, str], list[tuple[int, str]]]

# --- inputs -------------------------------------------------------------------------------

PLACE_AND_OTHER_NAMES = """
Syria Palmyra Borneo Indonesia Trump Congress Reuters Monday Tuesday Wednesday London Paris
Moscow Beijing Kyiv Brussels Bouaké Zürich Ankara Jakarta Nairobi Lagos Ottawa Canberra
"""
WORDS = COMMON_WORDS
NAMES = PLACE_AND_OTHER_NAMES.split()


def make_word(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.06:
        return rng.choice(NAMES)
    if roll < 0.08:
        return rng.choice(NAMES) + "’s"
    if roll < 0.10:
        return str(rng.randint(2, 2024))
    return rng.choice(WORDS)


def make_sentence(rng: random.Random, length: int | None = None) -> str:
    words = [make_word(rng) for _ in range(length or rng.randint(8, 28))]
    words[0] = words[0][:1].upper() + words[0][1:]
    for i in range(1, len(words) - 1):
        if rng.random() < 0.07:
            words[i] += rng.choice([",", ",", ",", ";", " —"])
    if rng.random() < 0.1:
        i = rng.randrange(len(words) - 2)
        words[i] = "“" + words[i]
        words[i + 2] += "”"
    return " ".join(words) + rng.choice([".", ".", ".", ".", "?", "!", ":"])


def make_article(rng: random.Random, size: int) -> str:
    paragraphs, total = [], 0
    while total < size:
        paragraph = " ".join(make_sentence(rng) for _ in range(rng.randint(2, 6)))
        paragraphs.append(paragraph)
        total += len(paragraph) + 2
    return "\n\n".join(paragraphs)[:size].rstrip() + "."


def edit_words(rng: random.Random, text: str, edits: int) -> str:
    """`edits` word edits (replace, insert, delete, or swap with the next) at random spots."""
    words = text.split(" ")
    for _ in range(edits):
        i = rng.randrange(len(words))
        kind = rng.random()
        if kind < 0.5:
            words[i] = make_word(rng)
        elif kind < 0.75:
            words.insert(i, make_word(rng))
        elif kind < 0.9 and len(words) > 1:
            del words[i]
        elif i + 1 < len(words):
            words[i], words[i + 1] = words[i + 1], words[i]
    return " ".join(words)


def make_paragraph(rng: random.Random) -> str:
    return " ".join(make_sentence(rng) for _ in range(rng.randint(2, 6)))


def make_words_article(rng: random.Random, words: int) -> str:
    """Paragraphs of generated sentences, cut to exactly `words` words."""
    paras: list[str] = []
    count = 0
    while count < words:
        para = make_paragraph(rng).split(" ")[: words - count]
        paras.append(" ".join(para))
        count += len(para)
    return "\n\n".join(paras)


def edit_body(rng: random.Random, text: str, word_edits: int, new_paras: int = 0) -> str:
    """`word_edits` one-word edits, each in a random paragraph, and `new_paras` inserted
    paragraphs: edits that keep the paragraph breaks, as a copy editor's do."""
    paras = text.split("\n\n")
    for _ in range(word_edits):
        i = rng.randrange(len(paras))
        paras[i] = edit_words(rng, paras[i], 1)
    for _ in range(new_paras):
        paras.insert(rng.randrange(1, len(paras)), make_paragraph(rng))
    return "\n\n".join(paras)


def move_paragraph(rng: random.Random, text: str) -> str:
    paras = text.split("\n\n")
    moved = paras.pop(rng.randrange(len(paras) // 2))
    paras.insert(rng.randrange(len(paras) // 2, len(paras)), moved)
    return "\n\n".join(paras)


@dataclass
class Case:
    name: str
    pairs: list[Pair]
    target: float | None = None  # seconds, for the median of diff_text
    budget: float = 2.0  # seconds of timing per path, before the min/max call counts
    min_calls: int = 5
    max_calls: int = 20_000


def cases(quick: bool) -> list[Case]:
    rng = random.Random(20240503)
    headlines = []
    for _ in range(40):
        old = make_sentence(rng, 15)[:-1]
        headlines.append((old, edit_words(rng, old, rng.randint(1, 2))))
    summaries = []
    for _ in range(20):
        old = " ".join(make_sentence(rng, 20) for _ in range(3))
        summaries.append((old, edit_words(rng, old, rng.randint(2, 4))))
    articles = []
    for _ in range(3):
        old = make_article(rng, 15_000)
        articles.append((old, edit_words(rng, old, 40)))
    rewrites = [(make_article(rng, 15_000), make_article(rng, 15_000)) for _ in range(3)]
    scale = 0.25 if quick else 1.0
    headline_target = 50e-6
    return [
        Case("headline, 15 words, 1–2 word edits (40 pairs)", headlines, headline_target),
        Case("corpus headline: Palmyra prefix removed", [(PALMYRA_OLD, PALMYRA_NEW)], 50e-6),
        Case("corpus headline: Borneo with → leaving", [(BORNEO_1, BORNEO_2)], 50e-6),
        Case("corpus headline: Borneo 8 → eight", [(BORNEO_2, BORNEO_3)], 50e-6),
        Case("corpus headline: Nunes, 3 edits", [(NUNES_OLD, NUNES_NEW)], 50e-6),
        Case("summary, ~60 words, 2–4 word edits (20 pairs)", summaries),
        Case("article, 15 KB, 40 word edits (3 pairs)", articles, 3e-3, budget=4 * scale),
        Case(
            "article, 15 KB, fully rewritten (3 pairs)",
            rewrites,
            150e-3,
            budget=8 * scale,
            min_calls=3 if quick else 5,
        ),
    ]


def body_cases(quick: bool) -> list[Case]:
    rng = random.Random(20261121)
    scale = 0.25 if quick else 1.0
    typical = []
    for _ in range(3):
        old = make_words_article(rng, 5_000)
        typical.append((old, edit_body(rng, old, 5, new_paras=1)))
    moved = []
    for _ in range(3):
        old = make_words_article(rng, 5_000)
        moved.append((old, move_paragraph(rng, edit_body(rng, old, 2))))
    articles = []
    for _ in range(3):
        old = make_article(rng, 15_000)
        articles.append((old, edit_body(rng, old, 40)))
    rewrites = [(make_article(rng, 15_000), make_article(rng, 15_000)) for _ in range(2)]
    return [
        Case(
            "article, 5,000 words, 5 word edits + 1 inserted paragraph (3 pairs)",
            typical,
            3e-3,
            budget=3 * scale,
        ),
        Case("article, 5,000 words, 1 paragraph moved + 2 word edits (3 pairs)", moved),
        Case("article, 15 KB, 40 word edits in place (3 pairs)", articles, budget=2 * scale),
        Case(
            "article, 15 KB, fully rewritten (2 pairs)",
            rewrites,
            budget=4 * scale,
            min_calls=3,
        ),
    ]


# --- timing -------------------------------------------------------------------------------


def pure_python(old: str, new: str) -> list[tuple[int, str]]:
    return diff._diff_text(old, new, diff._raw_diff_python)


PATHS: dict[str, DiffFn] = {"C++": diff.diff_text, "pure Python": pure_python}


@dataclass
class Timing:
    calls: int
    median: float
    p99: float


def warm_up(fn: DiffFn, pairs: list[Pair]) -> tuple[list[list[tuple[int, str]]], float]:
    """Each pair once: the outputs, and the mean time of a call (a first estimate)."""
    start = time.perf_counter()
    outputs = [fn(old, new) for old, new in pairs]
    return outputs, (time.perf_counter() - start) / len(pairs)


def time_calls(fn: DiffFn, pairs: list[Pair], case: Case, scale: float) -> Timing:
    outputs, estimate = warm_up(fn, pairs)
    return time_warm(fn, pairs, case, scale, estimate)


def time_warm(fn: DiffFn, pairs: list[Pair], case: Case, scale: float, estimate: float) -> Timing:
    wanted = int(case.budget * scale / max(estimate, 1e-9))
    calls = max(case.min_calls, min(case.max_calls, wanted))
    samples = []
    with gc_paused():
        for i in range(calls):
            old, new = pairs[i % len(pairs)]
            t0 = time.perf_counter_ns()
            fn(old, new)
            samples.append(time.perf_counter_ns() - t0)
    return Timing(len(samples), statistics.median(samples) / 1e9, p99(samples) / 1e9)


def fmt(seconds: float) -> str:
    if seconds < 1e-3:
        return f"{seconds * 1e6:.1f} µs"
    if seconds < 1:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds:.2f} s"


def verdict(case: Case, timing: Timing) -> str:
    if case.target is None:
        return "—"
    if timing.median <= case.target:
        return f"≤ {fmt(case.target)}: **met** ({timing.median / case.target:.0%} of it)"
    over = timing.median - case.target
    return f"≤ {fmt(case.target)}: **missed** by {fmt(over)} (+{over / case.target:.0%})"


def size(pairs: list[Pair]) -> str:
    chars = statistics.mean(len(a) + len(b) for a, b in pairs) / 2
    tokens = statistics.mean(len(diff.tokenize(a)) + len(diff.tokenize(b)) for a, b in pairs) / 2
    return f"{chars:,.0f} chars, {tokens:,.0f} tokens"


def run(quick: bool) -> tuple[str, list[str]]:
    scale = 0.25 if quick else 1.0
    rows = [
        "| case | size (mean of a side) | diff_text, C++ raw diff: median | p99 | calls "
        "| pure-Python raw diff: median | p99 | calls | pure / C++ | target (C++ median) |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    notes = []
    for case in cases(quick):
        fast_out, fast_estimate = warm_up(PATHS["C++"], case.pairs)
        slow_out, slow_estimate = warm_up(PATHS["pure Python"], case.pairs)
        if fast_out != slow_out:  # the two paths must agree, or the timing means nothing
            raise SystemExit(f"C++ and pure-Python paths differ on {case.name}")
        fast = time_warm(PATHS["C++"], case.pairs, case, scale, fast_estimate)
        slow = time_warm(PATHS["pure Python"], case.pairs, case, scale, slow_estimate)
        rows.append(
            f"| {case.name} | {size(case.pairs)} | {fmt(fast.median)} | {fmt(fast.p99)} "
            f"| {fast.calls} | {fmt(slow.median)} | {fmt(slow.p99)} | {slow.calls} "
            f"| {slow.median / fast.median:,.1f}× | {verdict(case, fast)} |"
        )
        print(rows[-1], flush=True)
        if case.target is not None and case.target >= 100e-3:
            notes.append(raw_share(case, scale))
    return "\n".join(rows), notes


def difflib_diff(old: str, new: str) -> list[tuple[int, str]]:
    """difflib's SequenceMatcher over diff_text's tokens, as ops. autojunk off: on, it
    ignores tokens in over 1 % of a long text (spaces, "the") and gives a worse diff."""
    a, b = diff.tokenize(old), diff.tokenize(new)
    ops: list[tuple[int, str]] = []
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            ops.append((diff.EQUAL, "".join(a[i1:i2])))
            continue
        if i2 > i1:
            ops.append((diff.DELETE, "".join(a[i1:i2])))
        if j2 > j1:
            ops.append((diff.INSERT, "".join(b[j1:j2])))
    return ops


BODY_PATHS: dict[str, DiffFn] = {
    "diff_body": paragraphs.diff_body,
    "word diff": diff.diff_text,
    "difflib": difflib_diff,
}


def run_body(quick: bool) -> str:
    scale = 0.25 if quick else 1.0
    rows = [
        "| case | size (mean of a side) | diff_body: median | p99 | calls "
        "| word diff (diff_text): median | calls | difflib: median | calls "
        "| word diff / diff_body | difflib / diff_body | target (diff_body median) |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for case in body_cases(quick):
        timings = {}
        for name, fn in BODY_PATHS.items():
            outputs, estimate = warm_up(fn, case.pairs)
            for (old, new), ops in zip(case.pairs, outputs, strict=True):
                if diff.old_text(ops) != old or diff.new_text(ops) != new:
                    raise SystemExit(f"{name} does not give back both sides on {case.name}")
            timings[name] = time_warm(fn, case.pairs, case, scale, estimate)
        body, word, lib = timings["diff_body"], timings["word diff"], timings["difflib"]
        rows.append(
            f"| {case.name} | {size(case.pairs)} | {fmt(body.median)} | {fmt(body.p99)} "
            f"| {body.calls} | {fmt(word.median)} | {word.calls} | {fmt(lib.median)} "
            f"| {lib.calls} | {word.median / body.median:,.1f}× "
            f"| {lib.median / body.median:,.1f}× | {verdict(case, body)} |"
        )
        print(rows[-1], flush=True)
    return "\n".join(rows)


def raw_share(case: Case, scale: float) -> str:
    """How much of diff_text the C++ raw diff alone takes, for the long cases."""
    encoded = [diff._encode([old, new])[0] for old, new in case.pairs]
    pairs = [(old, new) for old, new in encoded]
    timing = time_calls(diff._raw_diff_cpp, pairs, case, scale)
    return (
        f"{case.name}: the C++ raw diff of the placeholder strings alone takes "
        f"{fmt(timing.median)} median (p99 {fmt(timing.p99)}, {timing.calls} calls); "
        "the rest of diff_text (tokenizing, encoding, cleanup, decoding) is the difference."
    )


# --- report -------------------------------------------------------------------------------


def libraries() -> str:
    names = ("fast-diff-match-patch", "diff-match-patch")
    return "- Libraries: " + ", ".join(f"{name} {metadata.version(name)}" for name in names)


def load_note() -> list[str]:
    """A warning when other work shared the CPUs while the tables were timed."""
    load, cpus = os.getloadavg()[0], os.cpu_count() or 1
    if load <= cpus:
        return []
    return [
        f"**The machine was busy** (load {load:.1f} on {cpus} CPUs, other agents' test "
        "runs): absolute times are inflated and a target missed here may be met on an idle "
        "machine; the columns of one row were timed in the same run, so their ratios hold "
        "better than the times.",
        "",
    ]


def section(table: str, notes: list[str], quick: bool, body_table: str) -> str:
    lines = [
        SECTION,
        "",
        *machine_lines(),
        libraries(),
        f"- Command: `{COMMAND}`" + (" (run with `--quick`: rougher numbers)" if quick else ""),
        "",
        *load_note(),
        "`diff_text` runs the raw diff of the placeholder strings in the C++ build "
        "(fast-diff-match-patch) and everything else in Python; the pure-Python column is "
        "the same function with dmp's pure-Python raw diff (the fallback when the C++ build "
        "is missing). Both give identical ops on every input here (checked before timing). "
        "Times are per call, one pair of texts; p99 is the nearest-rank 99th percentile "
        "(the slowest call when there are fewer than 100).",
        "",
        table,
        "",
        "Targets (issue 3), on the C++ path's median: a headline pair ≤ 50 µs, a 15 KB "
        "article with ~40 word edits ≤ 3 ms, a fully rewritten 15 KB pair ≤ 150 ms.",
        "",
        *[f"- {note}" for note in notes],
        "",
        "### Article bodies: paragraphs first (issue 17)",
        "",
        "`diff_body` (tracker/compare/paragraphs.py) aligns paragraphs, then sentences inside "
        "changed paragraphs, and word-diffs only the sentences that changed; a paragraph "
        "moved unchanged is one delete and one insert paired as a move. Beside it, in the "
        "same run on the same pairs: the plain word diff of the whole text (`diff_text`, "
        "what bodies used before) and difflib's `SequenceMatcher` over the same tokens "
        "(autojunk off). Ratios are of medians: how many times slower than `diff_body`. "
        "Every path's ops are checked to give back both texts before timing. Word edits "
        "are one word each in a random paragraph; paragraphs are 2–6 generated sentences.",
        "",
        body_table,
        "",
        "Target (issue 17), on diff_body's median: a 5,000-word article with 5 word edits "
        "and one inserted paragraph ≤ 3 ms.",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--write", action="store_true", help=f"update {RESULTS.name}")
    parser.add_argument("--quick", action="store_true", help="a quarter of the time budget")
    args = parser.parse_args()
    if diff._cpp_diff is None:
        raise SystemExit("fast-diff-match-patch is not installed: nothing to compare")
    table, notes = run(args.quick)
    body_table = run_body(args.quick)
    text = section(table, notes, args.quick, body_table)
    publish(SECTION, text, args.write)


if __name__ == "__main__":
    main()
