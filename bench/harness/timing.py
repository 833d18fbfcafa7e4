"""Timing: repeated runs' median and spread, the nearest-rank p99, calls timed with the
garbage collector off, and a command timed start to exit."""

from __future__ import annotations

import contextlib
import gc
import math
import statistics
import subprocess
import time
from collections.abc import Iterator, Sequence
from typing import Any


def median_and_spread(samples: Sequence[float]) -> tuple[float, float, float]:
    """Median, minimum and maximum of repeated runs (the spread reported beside a median)."""
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[0], ordered[-1]


def median_text(samples: Sequence[float], spec: str = ",.1f", unit: str = "") -> str:
    """The "median (min–max)" of repeated runs, each number formatted with `spec`, the unit
    after the median: median_text([2.0, 1.5, 3.25], ".2f", " s") is "2.00 s (1.50–3.25)"."""
    median, low, high = median_and_spread(samples)
    return f"{median:{spec}}{unit} ({low:{spec}}–{high:{spec}})"


def p99(samples: Sequence[float]) -> float:
    """The nearest-rank 99th percentile: the slowest sample when there are under 100."""
    ordered = sorted(samples)
    return ordered[math.ceil(0.99 * len(ordered)) - 1]


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """The block runs with the garbage collector off, after a collection (as timeit times),
    so that no collection lands in one timed call and not the next."""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def run_timed(command: list[str], **options: Any) -> tuple[float, subprocess.CompletedProcess]:
    """Run a command to its end (subprocess.run's options); its wall time, start to exit,
    and what it returned."""
    started = time.perf_counter()
    done = subprocess.run(command, **options)
    return time.perf_counter() - started, done
