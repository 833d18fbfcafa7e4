"""How `redline check` reports its round and `redline import` its snapshots: a live bar on a
terminal, plain lines otherwise.

A reporter is told the round's expected size (start), each result as it comes
(advance) and the results at the end (finish, which prints the summary line). The
plain reporter (tracker/run/progress_text.py) prints one line per source, for logs and
pipes; the bar reporter (tracker/run/progress_bars.py, imported only for a terminal: rich
takes a while to import) draws a rich progress bar with the outcome counts so far, and
prints only the sources worth a look (changed, failed) above it.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Protocol, TextIO

from tracker.run.progress_text import PlainReporter, QuietImport

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from tracker.run.check import CheckResult
    from tracker.run.progress_bars import ImportBar


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
        from tracker.run.progress_bars import BarReporter  # rich: only for a terminal

        return BarReporter(stream)
    return PlainReporter(stream)


def round_size(engine: Engine, all_sources: bool) -> int:
    """How many sources the round is expected to check (an estimate: workers running
    beside it may claim some first, and reporters cope with any difference)."""
    from sqlmodel import Session

    from storage import stats, utcnow

    now = utcnow()
    with Session(engine) as session:  # a read: no write lock (see storage.db.transaction)
        return stats.due_count(session, None if all_sources else now, now)


def import_reporter(stream: TextIO | None = None) -> ImportBar | QuietImport:
    stream = stream or sys.stdout
    if stream.isatty() and os.environ.get("TERM") != "dumb":
        from tracker.run.progress_bars import ImportBar  # rich: only for a terminal

        return ImportBar(stream)
    return QuietImport()
