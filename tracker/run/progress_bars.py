"""The progress bars of `redline check` and `redline import` on a terminal (rich), apart
from tracker/run/progress.py so that a command printing into a pipe does not import rich.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING, TextIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.text import Text

from tracker.run.progress_text import (
    LABELS,
    LOCAL_ERRORS,
    NOTHING_DUE,
    STYLES,
    ClosedOnExit,
    result_line,
    summary_line,
    tally_word,
)
from tracker.words import plural

if TYPE_CHECKING:
    from tracker.run.check import CheckResult


class TallyColumn(ProgressColumn):
    """The outcome counts so far, worded as in the summary line: "2 changed, 5 unchanged,
    0 not modified, 1 error"."""

    def render(self, task: Task) -> Text:
        tally: Counter[str] = task.fields.get("tally", Counter())
        text = Text()
        shown_if_any = (("skipped", "skipped"), ("local_error", LOCAL_ERRORS))
        for index, (outcome, label) in enumerate((*LABELS, *shown_if_any)):
            count = tally[outcome]
            if outcome in ("skipped", "local_error") and not count:
                continue
            if index:
                text.append(", ")
            style = STYLES.get(outcome, "") if count else ""
            text.append(tally_word(count, outcome, label), style=style)
        return text


class BarReporter(ClosedOnExit):
    """A live progress bar: sources done / expected, outcome counts, time taken."""

    def __init__(self, stream: TextIO) -> None:
        self.console = Console(
            file=stream,
            highlight=False,  # URLs and counts are not code; no guessed colours
            no_color=bool(os.environ.get("NO_COLOR")) or None,
        )
        self.progress = Progress(
            TextColumn("checking"),
            BarColumn(),
            MofNCompleteColumn(),
            TallyColumn(),
            TimeElapsedColumn(),
            console=self.console,
        )
        self.task: TaskID | None = None
        self.stopped = False
        self.total = 0
        self.done = 0
        self.tally: Counter[str] = Counter()

    def close(self) -> None:
        # Also on Ctrl-C or an error: give the terminal its cursor back.
        self._stop()

    def start(self, total: int) -> None:
        self.total = total
        if total > 0:
            self._show()

    def advance(self, result: CheckResult) -> None:
        self.done += 1
        self.tally[result.outcome] += 1
        # The estimate was low (sources fell due meanwhile): grow the bar, never overflow it.
        self.total = max(self.total, self.done)
        self._show()
        assert self.task is not None
        self.progress.update(
            self.task, completed=self.done, total=self.total, tally=Counter(self.tally)
        )
        if result.outcome in STYLES:  # the ones worth a look; unchanged ones only count
            line = Text(result_line(result))
            line.stylize(STYLES[result.outcome], 0, len(result.outcome))
            # soft_wrap: long URLs stay whole for copying; the terminal wraps them.
            self.progress.console.print(line, soft_wrap=True)

    def finish(self, results: Sequence[CheckResult]) -> None:
        if self.task is not None:
            # Fewer than expected (another worker took some): the round is still complete.
            self.progress.update(self.task, completed=self.done, total=self.done)
        self._stop()
        summary = summary_line(results) if results else NOTHING_DUE
        self.console.print(summary, markup=False, soft_wrap=True)

    def _show(self) -> None:
        if self.task is None:
            self.progress.start()
            self.task = self.progress.add_task(
                "checking", total=self.total, tally=Counter(self.tally)
            )

    def _stop(self) -> None:
        if self.task is not None and not self.stopped:
            self.stopped = True
            self.progress.stop()


# `redline import`: a bar with snapshots done out of how many there are, their rate and
# the versions found, on a terminal; nothing but the final summary (printed by the
# command) otherwise.


class ImportBar(ClosedOnExit):
    def __init__(self, stream: TextIO) -> None:
        self.console = Console(
            file=stream, highlight=False, no_color=bool(os.environ.get("NO_COLOR")) or None
        )
        self.progress = Progress(
            TextColumn("importing"),
            BarColumn(),  # pulses until the total is known
            MofNCompleteColumn(),
            TextColumn("snapshots"),
            TextColumn("{task.fields[rate]}"),
            TextColumn("{task.fields[versions]}"),
            TimeElapsedColumn(),
            console=self.console,
        )
        self.task: TaskID | None = None
        self.total: int | None = None  # until set_total
        self.done = 0
        self.versions = 0

    def set_total(self, total: int) -> None:
        """How many snapshots there are, once known (a git history: after `git log`)."""
        self.total = total
        if self.task is not None:
            self.progress.update(self.task, total=max(total, self.done))

    def advance(self, snapshot: object, result: CheckResult | None) -> None:
        if self.task is None:
            self.progress.start()
            self.task = self.progress.add_task(
                "import", total=self.total, versions=self._found(), rate=""
            )
        self.done += 1
        if result is not None:
            self.versions += result.stats.versions_added
        task = self.progress.tasks[0]
        rate = f"{task.speed:.0f}/s" if task.speed else ""
        # A snapshot more than announced (a file added meanwhile): grow the bar.
        total = max(self.total, self.done) if self.total is not None else None
        self.progress.update(
            self.task, completed=self.done, total=total, versions=self._found(), rate=rate
        )

    def _found(self) -> str:
        return f"{plural(self.versions, 'version')} found"

    def close(self) -> None:
        if self.task is not None:
            self.progress.stop()
