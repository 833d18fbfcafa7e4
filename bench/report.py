"""Shared by the benchmarks: the machine description and writing a section of RESULTS.md."""

from __future__ import annotations

import datetime
import os
import platform
import re
import statistics
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "RESULTS.md"


def machine_lines() -> list[str]:
    """Markdown bullet lines: date, CPUs, CPU model, Python."""
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return [
        f"- Date: {now}",
        f"- Machine: {cpus} CPUs (`nproc`), {model}, {platform.machine()}",
        f"- Python {platform.python_version()} ({platform.python_implementation()}), "
        f"{platform.system()} {platform.release()}",
        # Other work on the machine skews timings: say how busy it was when writing.
        "- Load average (1, 5, 15 min) when written: "
        + ", ".join(f"{load:.2f}" for load in os.getloadavg()),
    ]


def write_section(heading: str, text: str) -> None:
    """Replace the section starting with `heading` (a "## " line) in RESULTS.md, or append it."""
    old = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n"
    pattern = re.compile(rf"^{re.escape(heading)}\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(old):
        new = pattern.sub(lambda _: text.rstrip("\n") + "\n\n", old, count=1)
    else:
        new = old.rstrip("\n") + "\n\n" + text
    RESULTS.write_text(new.rstrip("\n") + "\n")


# Frequent English words with a news slant: generated headlines and summaries draw on them.
_COMMON_TEXT = """
the of and to a in that is was he for it with as his on be at by had are but from or have an
they which one you were her all she there would their we him been has when who will more no
if out so said what up its about into than them can only other new some could time these two
may then do first any my now such like our over man me even most made after also did many
before must through back years where much your way well down should because each just those
people how too little state good very make world still own see men work long get here between
both life being under never day same another know while last might us great old year off come
since against go came right used take three government officials police minister president
army forces city country military security week report told statement killed attack people
talks election party leader court law support health company market percent million billion
"""
COMMON_WORDS = _COMMON_TEXT.split()


def median_and_spread(samples: list[float]) -> tuple[float, float, float]:
    """Median, minimum and maximum of repeated runs (the spread reported beside a median)."""
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[0], ordered[-1]


def publish(heading: str, text: str, write: bool) -> None:
    """Print a benchmark's section; with --write, also replace it in RESULTS.md."""
    print()
    print(text)
    if write:
        write_section(heading, text)
        print(f"wrote the {heading!r} section of {RESULTS.relative_to(ROOT)}")
