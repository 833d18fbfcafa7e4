"""A source's tuning of its identity and headline-test rules, in one table: the option
each sets (kept in source.options; None: the default), its [[source]] key in
redline.toml, its flag on `redline add` and `redline source edit`, and its range."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tracker.errors import UserError

MAX_HEADLINE_TEST_HOURS = 168.0  # a week
MAX_MATCH_WINDOW_HOURS = 168  # fuzzy identity looks back at most a week


@dataclass(frozen=True)
class Tuning:
    option: str  # the key in source.options
    config_key: str  # its key in a [[source]] table
    flag: str  # the CLI's flag
    meaning: str  # the flag's help
    highest: float  # values run from 0 to this
    rule: str  # what a bad value is told

    def check(self, value: Any) -> float:
        """The value as a number, or a UserError naming the flag and its range."""
        try:
            number = float(value)
        except (TypeError, ValueError):
            number = float("nan")
        if isinstance(value, bool) or not 0 <= number <= self.highest:  # NaN fails too
            raise UserError(f"{self.flag} is {self.rule}, not {str(value)[:40]}")
        return number


TUNINGS = (
    Tuning(
        "headline_test_hours",
        "headline_test_window",
        "--headline-test-window",
        "headline tests: window in hours (0: off)",
        MAX_HEADLINE_TEST_HOURS,
        f"hours from 0 (off) to {MAX_HEADLINE_TEST_HOURS:g} (a week)",
    ),
    Tuning(
        "match_threshold",
        "match_threshold",
        "--match-threshold",
        "fuzzy identity: similarity 0-1 (above 1: off)",
        2,
        "a similarity between 0 and 1 (above 1: off)",
    ),
    Tuning(
        "match_window_hours",
        "match_window",
        "--match-window",
        "fuzzy identity: window in hours",
        MAX_MATCH_WINDOW_HOURS,
        f"hours from 0 to {MAX_MATCH_WINDOW_HOURS} (a week)",
    ),
)
BY_OPTION = {tuning.option: tuning for tuning in TUNINGS}
BY_CONFIG_KEY = {tuning.config_key: tuning for tuning in TUNINGS}


def check_tuning(option: str, value: Any) -> float:
    """A tuning option's value as a number, or a UserError naming the option as the CLI
    spells it and its range."""
    return BY_OPTION[option].check(value)
