"""Logging: one line per event, as key=value text or JSON, at the configured level.

A record logged with extra={"fields": {...}} carries structured fields: the text
format appends them as key=value (values with spaces quoted), the JSON format puts
them in the object. `redline run` logs one such line per check.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields: dict[str, Any] = getattr(record, "fields", {})
        if fields:
            line += " " + " ".join(f"{key}={_text_value(value)}" for key, value in fields.items())
        return line


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        document: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        document.update(getattr(record, "fields", {}))
        if record.exc_info:
            document["exception"] = self.formatException(record.exc_info)
        return json.dumps(document, ensure_ascii=False, default=str)


# Loggers of redline itself (its packages, the daemon's "redline.*", migrations).
OWN_LOGGERS = frozenset({"tracker", "storage", "feeds", "redline", "alembic"})
# Libraries that read pages log what they make of a page, at any level ("WARNING
# trafilatura.core: discarding data"); the check's outcome already says what matters.
PAGE_LIBRARIES = frozenset({"trafilatura", "htmldate", "courlan", "justext"})


class LibraryFilter(logging.Filter):
    """Keeps other libraries' chatter out of the user's terminal: their errors only, and
    nothing of the page-reading libraries. `-v` (libraries=True) shows everything."""

    def filter(self, record: logging.LogRecord) -> bool:
        package = record.name.split(".", 1)[0]
        if package in OWN_LOGGERS:
            return True
        if package in PAGE_LIBRARIES:
            return False
        return record.levelno >= logging.ERROR


def configure_logging(
    level: str = "WARNING", log_format: str = "text", libraries: bool = False
) -> None:
    """Log to stderr in this format from this level on (replacing earlier handlers);
    other libraries' records only with libraries=True (`-v`), else their errors only."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    if not libraries:
        handler.addFilter(LibraryFilter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # httpx narrates every request at INFO; the check line already says what matters.
    for chatty in ("httpx", "httpcore"):
        logging.getLogger(chatty).setLevel(max(logging.WARNING, root.level))


def _text_value(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:g}"
    text = str(value)
    if not text or any(c.isspace() or c in '"=' for c in text):
        return json.dumps(text, ensure_ascii=False)
    return text
