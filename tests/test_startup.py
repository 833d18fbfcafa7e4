"""Start-up stays light: a command that reads no HTML or feed does not import the
libraries that read them (trafilatura alone takes a tenth of a second)."""

from __future__ import annotations

import subprocess
import sys


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
