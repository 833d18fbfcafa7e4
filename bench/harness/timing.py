"""Timing repeated runs: the median and spread reported beside each other."""

from __future__ import annotations

import statistics


def median_and_spread(samples: list[float]) -> tuple[float, float, float]:
    """Median, minimum and maximum of repeated runs (the spread reported beside a median)."""
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[0], ordered[-1]
