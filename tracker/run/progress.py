"""How `redline check` reports its round: a live bar on a terminal, plain lines otherwise.

A reporter is told the round's expected size (start), each result as it comes
(advance) and the results at the end (finish, which prints the summary line). The
plain reporter prints one line per source, for logs and pipes; the bar reporter draws
a rich progress bar with the outcome counts so far, and prints only the sources
worth a look (changed, failed) above it.
"""

from __future__ import annotations

import os
import sys
from collections import Counter
from collections.abc import Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Protocol, Self, TextIO

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
from sqlalchemy.engine import Engine
from sqlmodel import Session

from storage import stats, utcnow
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


class Reporter(Protocol):
    def start(self, total: int) -> None: ...

    def advance(self, result: CheckResult) -> None: ...

    def finish(self, results: Sequence[CheckResult]) -> None: ...

    def __enter__(self) -> Reporter: ...

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None: ...


def choose_reporter(stream: TextIO | None = None) -> Reporter:
    """The bar for a person at a terminal; plain lines for pipes, files and dumb terminals.

    NO_COLOR (no-color.org) keeps the bar but draws it without colour.
    """
    stream = stream or sys.stdout
    if stream.isatty() and os.environ.get("TERM") != "dumb":
        return BarReporter(stream)
    return PlainReporter(stream)


def round_size(engine: Engine, all_sources: bool) -> int:
    """How many sources the round is expected to check (an estimate: workers running
    beside it may claim some first, and reporters cope with any difference)."""
    now = utcnow()
    with Session(engine) as session:  # a read: no write lock (see storage.db.transaction)
        return stats.due_count(session, None if all_sources else now, now)


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


class _ClosedOnExit:
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


class PlainReporter(_ClosedOnExit):
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


class BarReporter(_ClosedOnExit):
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


class ImportBar(_ClosedOnExit):
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


class QuietImport(_ClosedOnExit):
    def set_total(self, total: int) -> None:
        pass

    def advance(self, snapshot: object, result: CheckResult | None) -> None:
        pass


def import_reporter(stream: TextIO | None = None) -> ImportBar | QuietImport:
    stream = stream or sys.stdout
    if stream.isatty() and os.environ.get("TERM") != "dumb":
        return ImportBar(stream)
    return QuietImport()
