"""One structured line per check: key=value text or JSON, with every field a user reads."""

from __future__ import annotations

import json
import logging

import pytest

from tracker.logs import JsonFormatter, TextFormatter, configure_logging
from tracker.record.ingest_state import IngestStats
from tracker.run.check import CheckResult
from tracker.run.daemon import log_result


def logged_line(formatter: logging.Formatter, result: CheckResult) -> str:
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    logger = logging.getLogger("redline.daemon")
    handler, level = Keep(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        log_result(result, worker="news1:42:run")
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    [record] = records
    return formatter.format(record)


CHANGED = CheckResult(
    source_id=7,
    url="https://news.example/a b.md",
    outcome="changed",
    stats=IngestStats(items_seen=1, versions_added=2, changes_added=2),
    http_status=200,
    bytes=3935,
    seconds=0.1264,
)
FAILED = CheckResult(
    source_id=8, url="https://news.example/gone", outcome="error", error='HTTP 404 "Not Found"',
    http_status=404, retired="not found: 404 on 3 checks in a row",
)  # fmt: skip


def test_text_lines_are_key_value_pairs_with_quoted_values() -> None:
    line = logged_line(TextFormatter(), CHANGED)
    assert line.endswith(
        'check source=7 url="https://news.example/a b.md" outcome=changed status=200 '
        "bytes=3935 duration_ms=126 items=1 new_versions=2 changes=2 worker=news1:42:run"
    )
    assert " INFO redline.daemon: " in line
    failed = logged_line(TextFormatter(), FAILED)
    assert " WARNING " in failed and "bytes=- " in failed
    assert 'error="HTTP 404 \\"Not Found\\""' in failed
    assert 'retired="not found: 404 on 3 checks in a row"' in failed


def test_json_lines_carry_the_same_fields() -> None:
    document = json.loads(logged_line(JsonFormatter(), FAILED))
    assert document["message"] == "check" and document["level"] == "warning"
    assert {k: document[k] for k in ("source", "outcome", "status", "bytes", "error")} == {
        "source": 8,
        "outcome": "error",
        "status": 404,
        "bytes": None,
        "error": 'HTTP 404 "Not Found"',
    }
    assert document["time"].endswith("+00:00")


def test_configured_level_and_quiet_http_client(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("WARNING", "json")
    logging.getLogger("redline.daemon").info("hidden")
    logging.getLogger("redline.daemon").warning("shown", extra={"fields": {"source": 1}})
    logging.getLogger("httpx").info("HTTP Request: GET ...")
    lines = capsys.readouterr().err.splitlines()
    assert [json.loads(line)["message"] for line in lines] == ["shown"]
    configure_logging("INFO")
    assert logging.getLogger("httpx").getEffectiveLevel() == logging.WARNING
    configure_logging("WARNING")


def test_library_warnings_stay_out_of_the_terminal_unless_verbose(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A `WARNING trafilatura.core` line reached the user's terminal (issue 15)."""
    configure_logging("WARNING")
    logging.getLogger("trafilatura.core").warning("discarding data: None")
    logging.getLogger("trafilatura.core").error("empty HTML tree: None")
    logging.getLogger("some.library").warning("chatter")
    logging.getLogger("some.library").error("a real failure")
    logging.getLogger("tracker.run.check").warning("redline's own warning")
    err = capsys.readouterr().err
    assert "trafilatura" not in err and "chatter" not in err
    assert "a real failure" in err and "redline's own warning" in err
    configure_logging("INFO", libraries=True)  # redline -v
    logging.getLogger("trafilatura.core").warning("discarding data: None")
    assert "WARNING trafilatura.core: discarding data" in capsys.readouterr().err
    configure_logging("WARNING")
