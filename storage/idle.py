"""Which database a command opens, and whether `redline check` has anything to do there,
read with the standard library's sqlite3 alone.

A `redline check` from cron usually finds nothing due. Importing SQLAlchemy takes about
0.2 s, two thirds of such a command's start-up (issue 18 asks for 0.3 s in all), so
that answer is read here first, before anything imports it. Only a plain SQLite file at
the newest schema revision, with nothing pending that the full path would do, is read
this way; anything else (PostgreSQL, a file that is not there yet, another revision, a
damaged file, something due) is left to the full path (`nothing_to_do` returns None or
False), which reads the same conditions through SQLAlchemy (storage/due.py).
tests/test_idle.py checks that both say the same of every kind of source and delivery.
"""

from __future__ import annotations

import os
import sqlite3
import time
from urllib.parse import unquote

DEFAULT_DB_URL = "sqlite:///./redline.db"
# The newest migration (storage/migrations/versions/); tests/test_idle.py checks it is
# Alembic's head, so a new migration cannot leave it behind.
HEAD_REVISION = "0016"
# How long a SQLite connection waits for another's lock (storage/db.py's PRAGMA too).
SQLITE_BUSY_TIMEOUT_MS = 10_000

# storage/due.py's due(), active() and the pending deliveries, as SQLite reads them: a
# boolean is 0 or 1, a time an integer count of microseconds since 1970 UTC
# (storage/types.py UTCDateTime).
_IDLE_QUERY = """
SELECT
  EXISTS (SELECT 1 FROM source WHERE enabled IS 1 AND retired_at IS NULL
          AND (next_check_at IS NULL OR next_check_at <= ?)),
  EXISTS (SELECT 1 FROM delivery WHERE state = 'pending'),
  EXISTS (SELECT 1 FROM subscription WHERE from_config IS 1)
"""


def database_url(explicit: str | None = None, configured: str | None = None) -> str:
    """--db wins, then REDLINE_DB, then the configuration file's db, then ./redline.db."""
    return explicit or os.environ.get("REDLINE_DB") or configured or DEFAULT_DB_URL


def sqlite_file(url: str) -> str | None:
    """The path of an existing SQLite file the URL names plainly (sqlite:///path, no
    driver, no query); None for anything else."""
    prefix = "sqlite:///"
    if not url.startswith(prefix) or "?" in url:
        return None
    path = unquote(url[len(prefix) :])
    if not path or path == ":memory:" or not os.path.isfile(path):
        return None
    return path


def nothing_to_do(path: str, from_config_counts: bool, now_us: int | None = None) -> bool | None:
    """Whether a `redline check` round on this SQLite file has nothing to check and nothing
    to send at now_us (default: now): no source due, leased or not (storage/due.py's
    nothing_to_do), no delivery pending, and, if from_config_counts (a configuration file
    without [[notify]] tables, which would remove them), no subscription made from one.
    None: the file is not one to answer for here (another schema revision, damaged,
    unreadable); the full path then reads it and says what is wrong, if anything."""
    now_us = time.time_ns() // 1000 if now_us is None else now_us
    try:
        connection = sqlite3.connect(path, timeout=SQLITE_BUSY_TIMEOUT_MS / 1000)
    except sqlite3.Error:
        return None
    try:
        revision = connection.execute("SELECT version_num FROM alembic_version").fetchall()
        if revision != [(HEAD_REVISION,)]:
            return None
        due, pending, from_config = connection.execute(_IDLE_QUERY, (now_us,)).fetchone()
        if due or pending or (from_config_counts and from_config):
            return False  # the full path checks the file (once) and runs the round
        # As storage/db.py's ensure_intact before any writing command (check is one).
        if connection.execute("PRAGMA quick_check").fetchall() != [("ok",)]:
            return None
    except sqlite3.Error:
        return None
    finally:
        connection.close()
    return True
