"""`redline check` with nothing to do, answered with sqlite3 before SQLAlchemy is imported
(storage/idle.py): it says what the full path (storage/due.py) says, of every kind of
source, delivery and subscription, and the command says it as the full path does."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import update
from sqlalchemy.engine import Engine

from storage import Delivery, Source, Subscription, due, idle, transaction, utcnow
from storage.schema import head_revision
from storage.types import to_microseconds
from tracker.run.progress_text import NOTHING_DUE
from tracker.run.sources import add_source

pytestmark = pytest.mark.one_database  # a SQLite file is the only kind read this way


def test_the_idle_reads_revision_is_alembics_head() -> None:
    assert head_revision() == idle.HEAD_REVISION


def _source(**values: object) -> Callable[[Engine], None]:
    def make(engine: Engine) -> None:
        with transaction(engine) as session:
            source, _ = add_source(session, "https://example.org/feed.xml")
            session.flush()
            if values:
                session.exec(update(Source).where(Source.id == source.id).values(**values))  # type: ignore[call-overload, arg-type]

    return make


def _subscription(from_config: bool, delivery: str | None = None) -> Callable[[Engine], None]:
    def make(engine: Engine) -> None:
        with transaction(engine) as session:
            subscription = Subscription(target="https://hooks.example/x", from_config=from_config)
            session.add(subscription)
            session.flush()
            if delivery:
                assert subscription.id is not None
                session.add(Delivery(key="k", subscription_id=subscription.id, state=delivery))

    return make


LATER, EARLIER = timedelta(hours=1), -timedelta(hours=1)
STATES: dict[str, Callable[[Engine], None]] = {
    "empty": lambda engine: None,
    "never checked": _source(),
    "due": _source(next_check_at=utcnow() + EARLIER),
    "not due yet": _source(next_check_at=utcnow() + LATER),
    "due, leased elsewhere": _source(
        next_check_at=utcnow() + EARLIER, leased_by="w", lease_until=utcnow() + LATER
    ),
    "due, disabled": _source(next_check_at=utcnow() + EARLIER, enabled=False),
    "due, retired": _source(next_check_at=utcnow() + EARLIER, retired_at=utcnow()),
    "a delivery pending": _subscription(False, "pending"),
    "a delivery sent": _subscription(False, "sent"),
    "a subscription from a config file": _subscription(True),
    "a subscription made by hand": _subscription(False),
}


@pytest.mark.parametrize("state", list(STATES))
def test_the_idle_read_says_what_the_full_path_says(
    state: str, engine: Engine, db_url: str
) -> None:
    STATES[state](engine)
    now = utcnow() + timedelta(seconds=1)
    path = idle.sqlite_file(db_url)
    assert path is not None
    full = due.nothing_to_do(engine, now)
    from_config = due.any_from_config(engine)
    for counts in (False, True):
        expected = full and not (counts and from_config)
        assert idle.nothing_to_do(path, counts, to_microseconds(now)) is expected, counts


def test_only_a_plain_existing_sqlite_file_at_the_newest_revision_is_read(
    engine: Engine, db_url: str, tmp_path: Path
) -> None:
    path = idle.sqlite_file(db_url)
    assert path is not None and idle.nothing_to_do(path, True) is True
    assert idle.sqlite_file(f"sqlite:///{tmp_path / 'missing.db'}") is None
    assert idle.sqlite_file(f"{db_url}?mode=ro") is None
    assert idle.sqlite_file("postgresql+psycopg://postgres@127.0.0.1/test") is None
    (tmp_path / "not.db").write_bytes(b"not a database at all" * 100)
    assert idle.nothing_to_do(str(tmp_path / "not.db"), True) is None
    with engine.begin() as connection:
        connection.exec_driver_sql("UPDATE alembic_version SET version_num = '0015'")
    assert idle.nothing_to_do(path, True) is None


def _check(db_url: str, *extra: str) -> tuple[subprocess.CompletedProcess[str], str]:
    """`redline check` as a user runs it, with -X importtime: what it printed, and the
    modules it imported."""
    command = [sys.executable, "-X", "importtime", "-m", "tracker", "--db", db_url, "check"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("REDLINE_")}
    done = subprocess.run([*command, *extra], capture_output=True, text=True, env=env)
    imported = "\n".join(
        line for line in done.stderr.splitlines() if line.startswith("import time:")
    )
    return done, imported


def test_check_with_nothing_due_answers_without_sqlalchemy(engine: Engine, db_url: str) -> None:
    _source(next_check_at=utcnow() + LATER)(engine)
    done, imported = _check(db_url)
    assert done.returncode == 0 and done.stdout.strip() == NOTHING_DUE
    assert " sqlalchemy" not in imported and " sqlmodel" not in imported
    # Something due: the full path checks it (an error: loopback is not fetched unless
    # REDLINE_ALLOW_NETWORKS says so, and nothing is sent anywhere).
    with transaction(engine) as session:
        due_now = {"next_check_at": utcnow() + EARLIER, "url": "http://127.0.0.1:9/a.md"}
        session.exec(update(Source).values(**due_now))  # type: ignore[call-overload]
    done, imported = _check(db_url)
    assert done.returncode == 0 and "checked 1 source" in done.stdout, done.stdout
    assert " sqlalchemy" in imported
    # An older schema: the full path says so, as it always did.
    with engine.begin() as connection:
        connection.exec_driver_sql("UPDATE alembic_version SET version_num = '0015'")
    done, _ = _check(db_url)
    assert done.returncode == 2 and "0015" in done.stderr and NOTHING_DUE not in done.stdout
