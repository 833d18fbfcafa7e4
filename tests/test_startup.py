"""Start-up stays light: a command that reads no HTML or feed does not import the
libraries that read them (trafilatura alone takes a tenth of a second)."""

from __future__ import annotations

import gc
import subprocess
import sys
from pathlib import Path

import pytest

from tracker.errors import RedlineError


def test_the_cli_imports_no_html_or_feed_reader_until_one_is_needed() -> None:
    probe = (
        "import sys, tracker.cli.main, tracker.run.check, tracker.run.rounds, "
        "tracker.record.ingest; "
        "print(sorted(m for m in ('trafilatura', 'feedparser') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
    probe = "\n".join(
        [
            "import sys",
            "from tracker.extract import Page, extract",
            "try:",
            "    extract('auto', Page('https://example.org/', '<html><p>Hi</p></html>'))",
            "except Exception:",
            "    pass  # too short to be an article: it was read all the same",
            "print('trafilatura' in sys.modules)",
        ]
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert done.stdout.strip() == "True"  # an HTML page to read: now it is imported


def _imported_by(code: str, names: tuple[str, ...]) -> list[str]:
    """Which of these modules a fresh interpreter has imported once `code` has run."""
    probe = f"import sys\n{code}\nprint('imported:', *(m for m in {names!r} if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return done.stdout.splitlines()[-1].split()[1:]


def test_a_check_with_nothing_due_imports_no_fetching_reading_or_sending(tmp_path: Path) -> None:
    """`redline check` from cron mostly finds nothing due: it says so without importing
    the round, the HTTP client, the page readers, the notification sender, or even
    SQLAlchemy (storage/idle.py reads a SQLite file with the standard library's sqlite3)."""
    db = f"sqlite:///{tmp_path / 'redline.db'}"
    created = f"from tracker.cli.main import main\nmain(['--db', {db!r}, 'db', 'upgrade'])"
    _imported_by(created, ())  # the tables made (the migrations import the ORM)
    config = tmp_path / "redline.toml"  # settings, and no [[notify]] table to keep in step
    config.write_text("[daemon]\nconcurrency = 10\n\n[fetch]\nallow_networks = []\n")
    code = (
        "from tracker.cli.main import main\n"
        f"main(['--db', {db!r}, 'check'])\n"
        f"main(['--db', {db!r}, '--config', {str(config)!r}, 'check'])"
    )
    heavy = (
        "httpx",
        "lxml",
        "feedparser",
        "trafilatura",
        "tracker.run.rounds",
        "tracker.fetch.client",
        "tracker.notify.sender",
        "sqlmodel",
        "pydantic",
        "storage.models",
        "sqlalchemy",
        "alembic",
    )
    assert _imported_by(code, heavy) == []


def test_help_and_version_do_not_import_the_database_modules() -> None:
    for flag in ("--help", "--version"):
        code = "import contextlib\nfrom tracker.cli.main import main\n"
        code += f"with contextlib.suppress(SystemExit):\n    main([{flag!r}])"
        assert _imported_by(code, ("sqlalchemy", "sqlmodel", "storage")) == [], flag


def test_a_command_runs_with_fewer_collections_and_puts_the_threshold_back(
    db_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from tracker.cli import main

    during: list[tuple[int, ...]] = []
    monkeypatch.setattr(main, "cmd_status", lambda *args: during.append(gc.get_threshold()))
    before = gc.get_threshold()
    assert main.main(["--db", db_url, "status"]) == 0
    assert during == [(main.COLLECT_EVERY, *before[1:])]
    assert gc.get_threshold() == before

    def fail(*args: object) -> None:
        raise RedlineError("no")

    monkeypatch.setattr(main, "cmd_status", fail)
    assert main.main(["--db", db_url, "status"]) == 2
    assert capsys.readouterr().err == "redline: no\n"
    assert gc.get_threshold() == before  # put back on the way out of a failure too


def test_check_and_import_into_a_pipe_do_not_import_rich() -> None:
    code = (
        "import io\n"
        "from tracker.run.progress import choose_reporter, import_reporter\n"
        "choose_reporter(io.StringIO()); import_reporter(io.StringIO())"
    )
    assert _imported_by(code, ("rich",)) == []
