"""What `redline check` and `redline import` print, in words: a line per source, the
summary line, and the plain reporters for pipes and files (tracker/run/progress.py chooses
the reporter; the bars of a terminal are tracker/run/progress_bars.py).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Self, TextIO

from tracker.words import plural

if TYPE_CHECKING:
    from tracker.run.check import CheckResult

NOTHING_DUE = "no source is due (use --all to check every source now)"
# Outcome, label in the summary; "skipped" (another worker took the source) is added
# only when it happened, so the usual line stays as it always was.
LABELS = (
    ("changed", "changed"),
    ("unchanged", "unchanged"),
    ("not_modified", "not modified"),
    ("error", "error"),  # counted: "1 error", "2 errors"
)
COUNTED = {"error"}  # labels that are nouns, pluralised with their count
STYLES = {"changed": "green", "error": "red", "skipped": "yellow", "local_error": "red"}
# A source's line starts with its outcome in words, in a column this wide (the widest).
OUTCOME_WIDTH = len("not modified")
# Checks not recorded because this service's own database failed (disk full...): said
# apart from the sources' errors, and only when it happened.
LOCAL_ERRORS = "not recorded: this service's database failed"


def result_line(result: CheckResult) -> str:
    """One source's outcome: the outcome in words (as the manual and the summary say
    them), the URL, and what was found; an error's message on the next line, under the URL."""
    word = dict(LABELS).get(result.outcome, result.outcome)
    if result.outcome in ("error", "skipped", "local_error"):
        return f"{word:<{OUTCOME_WIDTH}} {result.url}\n{'':<{OUTCOME_WIDTH}} {result.error}"
    found = result.stats
    return (
        f"{word:<{OUTCOME_WIDTH}} {result.url} "
        f"({plural(found.items_seen, 'item')}, {plural(found.versions_added, 'new version')})"
    )


def tally_word(count: int, outcome: str, label: str) -> str:
    """ "2 changed", "1 not modified", "1 error", "3 errors"."""
    return plural(count, label) if outcome in COUNTED else f"{count} {label}"


def summary_line(results: Sequence[CheckResult]) -> str:
    outcomes = Counter(result.outcome for result in results)
    tally = ", ".join(tally_word(outcomes[outcome], outcome, label) for outcome, label in LABELS)
    if outcomes["skipped"]:
        tally += f", {outcomes['skipped']} skipped"
    if outcomes["local_error"]:
        tally += f", {outcomes['local_error']} {LOCAL_ERRORS}"
    new_versions = sum(result.stats.versions_added for result in results)
    return (
        f"checked {plural(len(results), 'source')}: {tally}; {plural(new_versions, 'new version')}"
    )


class ClosedOnExit:
    """`with reporter:` closes it however the round ends."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        pass


class PlainReporter(ClosedOnExit):
    """A line per source and the summary: what `redline check` prints into a pipe."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def start(self, total: int) -> None:
        pass

    def advance(self, result: CheckResult) -> None:
        # Flushed per source, so a log tailing the output sees each check as it ends.
        print(result_line(result), file=self.stream, flush=True)

    def finish(self, results: Sequence[CheckResult]) -> None:
        print(summary_line(results) if results else NOTHING_DUE, file=self.stream)


class QuietImport(ClosedOnExit):
    def set_total(self, total: int) -> None:
        pass

    def advance(self, snapshot: object, result: CheckResult | None) -> None:
        pass
