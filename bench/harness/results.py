"""The machine description, and writing a benchmark's section of RESULTS.md."""

from __future__ import annotations

import datetime
import os
import platform
import re
from pathlib import Path

from bench.harness.paths import ROOT

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


def publish(heading: str, text: str, write: bool) -> None:
    """Print a benchmark's section; with --write, also replace it in RESULTS.md."""
    print()
    print(text)
    if write:
        write_section(heading, text)
        print(f"wrote the {heading!r} section of {RESULTS.relative_to(ROOT)}")


def load_line(load: tuple[float, float, float], when: str) -> str:
    """A bullet line of the load average (1, 5, 15 min) taken at a moment of the run."""
    return f"- Load average {when}: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
