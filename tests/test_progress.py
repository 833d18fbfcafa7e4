"""`redline check`'s reporting: plain lines into a pipe, a rich progress bar on a terminal.

The terminal path runs the real command on a pseudo-terminal and reads what it drew.
"""

from __future__ import annotations

import fcntl
import io
import os
import pty
import re
import select
import struct
import subprocess
import termios
import time
from pathlib import Path

import pytest

from tracker.record.ingest_state import IngestStats
from tracker.run.check import CheckResult
from tracker.run.progress import choose_reporter
from tracker.run.progress_bars import BarReporter, TallyColumn
from tracker.run.progress_text import PlainReporter

from .conftest import TWO_ITEM_RSS as RSS
from .conftest import Site, redline_command

# What is tested here does not depend on the database (see conftest.py).
pytestmark = pytest.mark.one_database


def result(outcome: str, url: str, versions: int = 0, error: str | None = None) -> CheckResult:
    found = IngestStats(items_seen=2, versions_added=versions)
    return CheckResult(source_id=1, url=url, outcome=outcome, error=error, stats=found)


ROUND = [
    result("changed", "https://a.example/feed", versions=3),
    result("unchanged", "https://b.example/feed"),
    result("not_modified", "https://c.example/feed"),
    result("error", "https://d.example/page", error="HTTP 404 Not Found"),
]


def test_plain_reporter_prints_a_line_per_source_and_the_summary() -> None:
    out = io.StringIO()
    with PlainReporter(out) as reporter:
        reporter.start(4)
        for each in ROUND:
            reporter.advance(each)
        reporter.finish(ROUND)
    # Outcomes in the README's words, URLs in one column (issue 15: `not_modified` shifted it).
    assert out.getvalue() == (
        "changed      https://a.example/feed (2 items, 3 new versions)\n"
        "unchanged    https://b.example/feed (2 items, 0 new versions)\n"
        "not modified https://c.example/feed (2 items, 0 new versions)\n"
        "error        https://d.example/page\n"
        "             HTTP 404 Not Found\n"
        "checked 4 sources: 1 changed, 1 unchanged, 1 not modified, 1 error; 3 new versions\n"
    )
    nothing = io.StringIO()
    PlainReporter(nothing).finish([])
    assert nothing.getvalue() == "no source is due (use --all to check every source now)\n"


def test_counts_of_one_are_singular() -> None:
    """ "1 items", "1 new versions", "checked 1 sources" (issue 15)."""
    one = CheckResult(
        source_id=1,
        url="https://a.example/page",
        outcome="changed",
        stats=IngestStats(items_seen=1, versions_added=1),
    )
    out = io.StringIO()
    with PlainReporter(out) as reporter:
        reporter.advance(one)
        reporter.finish([one])
    assert out.getvalue() == (
        "changed      https://a.example/page (1 item, 1 new version)\n"
        "checked 1 source: 1 changed, 0 unchanged, 0 not modified, 0 errors; 1 new version\n"
    )


def test_summary_names_skipped_sources_only_when_there_are_some() -> None:
    out = io.StringIO()
    skipped = result("skipped", "https://e.example/", error="the lease is now held by w2")
    PlainReporter(out).finish([*ROUND, skipped])
    assert out.getvalue().endswith("1 not modified, 1 error, 1 skipped; 3 new versions\n"), (
        out.getvalue()
    )


def test_bar_grows_past_a_low_estimate_and_ends_full() -> None:
    out = io.StringIO()
    with BarReporter(out) as reporter:
        reporter.start(2)
        for each in ROUND[:3]:
            reporter.advance(each)
        [task] = reporter.progress.tasks
        assert (task.completed, task.total) == (3, 3)  # 3 done of an estimated 2
        assert str(TallyColumn().render(task)) == (
            "1 changed, 1 unchanged, 1 not modified, 0 errors"
        )
        reporter.advance(ROUND[3])
        assert str(TallyColumn().render(task)).endswith("1 not modified, 1 error")
        reporter.finish(ROUND)
    assert out.getvalue().endswith(
        "checked 4 sources: 1 changed, 1 unchanged, 1 not modified, 1 error; 3 new versions\n"
    )

    # Fewer than estimated (another worker took one): the finished bar is full, not 1/2.
    with BarReporter(io.StringIO()) as reporter:
        reporter.start(2)
        reporter.advance(ROUND[0])
        reporter.finish(ROUND[:1])
        [task] = reporter.progress.tasks
        assert (task.completed, task.total) == (1, 1)


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_reporter_is_chosen_by_the_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TERM", "xterm-256color")
    assert isinstance(choose_reporter(io.StringIO()), PlainReporter)
    assert isinstance(choose_reporter(FakeTerminal()), BarReporter)
    monkeypatch.setenv("TERM", "dumb")  # cannot redraw a line: plain it is
    assert isinstance(choose_reporter(FakeTerminal()), PlainReporter)


def test_check_into_a_pipe_prints_plain_lines(site: Site, cli) -> None:
    feed = site.publish("/feed.xml", RSS, "application/rss+xml")
    gone = site.url("/gone.md")
    cli("add", feed)
    cli("add", gone)

    lines = cli("check").stdout.splitlines()
    assert lines[0] == f"changed      {feed} (2 items, 2 new versions)"
    assert lines[1] == f"error        {gone}"
    assert lines[2].startswith("             HTTP 404")
    assert lines[3:] == [
        "checked 2 sources: 1 changed, 0 unchanged, 0 not modified, 1 error; 2 new versions"
    ]
    assert "\x1b" not in "\n".join(lines) and "━" not in "\n".join(lines)


def run_on_terminal(args: list[str], env: dict[str, str], log: Path) -> tuple[int, str]:
    """Run redline with a pseudo-terminal as stdin and stdout (120 columns); its exit
    status and everything it wrote there."""
    main, other = pty.openpty()
    fcntl.ioctl(other, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 120, 0, 0))
    with log.open("wb") as stderr:
        process = subprocess.Popen(
            [*redline_command(), *args], stdin=other, stdout=other, stderr=stderr, env=env
        )
    os.close(other)  # the child holds the only other end: reading ends when it exits
    written = bytearray()
    deadline = time.monotonic() + 120
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"redline {' '.join(args)} did not finish: {bytes(written)!r}")
            ready, _, _ = select.select([main], [], [], left)
            if not ready:
                continue
            try:
                chunk = os.read(main, 65536)
            except OSError:  # EIO: the terminal's other end closed
                break
            if not chunk:
                break
            written += chunk
    finally:
        os.close(main)
        if process.poll() is None:
            process.kill()
    return process.wait(timeout=30), written.decode("utf-8", "replace")


def colour_codes(text: str) -> list[str]:
    """The SGR escape sequences in text that set a foreground or background colour."""
    found = []
    for params in re.findall(r"\x1b\[([0-9;]*)m", text):
        numbers = [int(p) for p in params.split(";") if p]
        if any(30 <= n <= 49 or 90 <= n <= 107 for n in numbers):
            found.append(params)
    return found


@pytest.mark.parametrize("no_color", [False, True], ids=["colour", "NO_COLOR"])
def test_check_on_a_terminal_draws_a_bar(
    site: Site, cli, db_url: str, tmp_path: Path, no_color: bool
) -> None:
    feed = site.publish("/feed.xml", RSS, "application/rss+xml")
    cli("add", feed)
    cli("check")  # the feed is known now: next time it answers 304
    gone = site.url("/gone.md")
    cli("add", gone)

    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "COLUMNS", "LINES")}
    env.update(REDLINE_DB=db_url, TERM="xterm-256color")
    if no_color:
        env["NO_COLOR"] = "1"
    code, drawn = run_on_terminal(["check", "--all"], env, tmp_path / "stderr.log")
    assert code == 0, (tmp_path / "stderr.log").read_text()
    screen = re.sub(r"\x1b\[[0-9;]*m", "", drawn)  # the text, without its colours

    assert "━" in screen and "2/2" in screen  # rich's bar, done / total
    assert "\x1b[?25l" in drawn  # the live display hid the cursor while drawing...
    assert "\x1b[?25h" in drawn  # ...and gave it back
    assert "1 not modified, 1 error" in screen  # the tally beside the bar
    # Only the sources worth a look are printed above the bar.
    assert f"error        {gone}" in screen
    assert f"not modified {feed}" not in screen
    summary = "checked 2 sources: 0 changed, 0 unchanged, 1 not modified, 1 error; 0 new versions"
    assert summary in screen
    if no_color:
        assert colour_codes(drawn) == []
    else:
        assert colour_codes(drawn)  # the error line in red, the bar in colour
