"""`redline run`: the APScheduler daemon checks due sources, survives errors, stops on signals."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import select

from storage import Check, Source, transaction

from .conftest import Site, offstream_page, redline_command

SEED_PATH = "/news/2016/02/25/khanasir.md"


def wait_for(condition, timeout: float = 30.0) -> None:
    """Poll a condition on the database (the daemon runs in another process)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for the daemon")
        time.sleep(0.1)


def checked_urls(engine: Engine) -> dict[str, str]:
    with transaction(engine) as session:
        rows = session.exec(select(Source.url, Check.outcome).join(Check)).all()
    return dict(rows)


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_daemon_checks_config_sources_and_stops_cleanly(
    site: Site, engine: Engine, db_url: str, tmp_path: Path, stop_signal: signal.Signals
) -> None:
    good = site.publish(SEED_PATH, offstream_page("seeds/001_d715acd15c94cb49.txt"))
    broken = site.fail("/news/broken.md", 500)
    config = tmp_path / "redline.toml"
    config.write_text(
        f'every = "1h"\n\n[[source]]\nurl = "{broken}"\n\n'
        f'[[source]]\nurl = "{good}"\nkind = "offstream"\nname = "Khanasir"\n'
    )
    daemon = subprocess.Popen(
        [*redline_command(), "--db", db_url, "run", "--config", str(config), "--tick", "0.2s"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "REDLINE_DB": ""},
    )
    try:
        # The failing source does not stop the round: both get a check.
        wait_for(lambda: len(checked_urls(engine)) == 2)
        assert checked_urls(engine) == {broken: "error", good: "changed"}
        daemon.send_signal(stop_signal)
        _, stderr = daemon.communicate(timeout=20)
    finally:
        if daemon.poll() is None:
            daemon.kill()
    assert daemon.returncode == 0, stderr
    assert "checking 2 sources" in stderr and "stopped" in stderr
    assert "outcome=error" in stderr and "HTTP 500" in stderr
    # Every 1h: the 0.2 s ticks did not check either source again.
    with transaction(engine) as session:
        assert len(session.exec(select(Check)).all()) == 2
