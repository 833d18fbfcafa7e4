"""`redline run`: the APScheduler daemon checks due sources, survives errors, stops on signals."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterator
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


# SIGINT is stopped as SIGTERM is: its run is on SQLite only (SIGTERM's is on both).
@pytest.mark.parametrize(
    "stop_signal",
    [signal.SIGTERM, pytest.param(signal.SIGINT, marks=pytest.mark.one_database)],
)
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


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def serving(db_url: str, verb: list[str]) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """`redline VERB --port P` on the database, answering /healthz: (process, base URL);
    killed on the way out if the test has not stopped it."""
    import httpx

    port = free_port()
    server = subprocess.Popen(
        [*redline_command(), "--db", db_url, *verb, "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"

    def healthy() -> bool:
        try:
            return httpx.get(f"{base}/healthz", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    try:
        wait_for(healthy)
        yield server, base
    finally:
        if server.poll() is None:
            server.kill()


# `serve` alone on SQLite only: `run --serve` serves the same, beside the daemon, on both.
@pytest.mark.parametrize(
    "verb",
    [
        pytest.param(["serve"], marks=pytest.mark.one_database),
        ["run", "--serve", "--tick", "0.2s"],
    ],
)
def test_serve_answers_http_and_stops_on_sigterm(
    site: Site, engine: Engine, db_url: str, verb: list[str]
) -> None:
    import httpx

    good = site.publish(SEED_PATH, offstream_page("seeds/001_d715acd15c94cb49.txt"))
    with transaction(engine) as session:
        session.add(Source(url=good, kind="offstream"))
    with serving(db_url, verb) as (server, base):
        assert httpx.get(f"{base}/feeds/edits.atom").status_code == 200
        if "run" in verb:  # the daemon checks the source while the server answers
            wait_for(lambda: checked_urls(engine) == {good: "changed"})
            assert httpx.get(f"{base}/api/items").json()["items"][0]["versions"] == 2
        server.send_signal(signal.SIGTERM)
        _, stderr = server.communicate(timeout=20)
    assert server.returncode == 0, stderr
    assert f"feed of edits: {base}/feeds/edits.atom" in stderr


def test_serve_with_two_workers_runs_two_processes_and_stops_on_sigterm(
    engine: Engine, db_url: str
) -> None:
    """`redline serve --workers 2`: two worker processes share the address, each with
    its own app on the same database; SIGTERM stops them all."""
    import httpx

    if not Path("/proc/self/status").exists():
        pytest.skip("the worker processes are found in /proc (Linux)")

    with serving(db_url, ["serve", "--workers", "2"]) as (server, base):
        wait_for(lambda: len(spawned_children(server.pid)) == 2)
        running = spawned_children(server.pid)
        with transaction(engine) as session:
            session.add(Source(url="https://news.example/feed.xml", kind="feed"))
        for _ in range(10):  # each worker reads the database itself
            assert httpx.get(f"{base}/api/sources").json()["sources"][0]["kind"] == "feed"
        server.send_signal(signal.SIGTERM)
        _, stderr = server.communicate(timeout=30)
    assert server.returncode == 0, stderr
    assert not any(Path(f"/proc/{pid}").exists() for pid in running)


def spawned_children(parent_pid: int) -> list[int]:
    """The processes multiprocessing spawned for this one (a server's workers), by /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
            command = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        parent = next(line for line in status.splitlines() if line.startswith("PPid:"))
        if int(parent.split()[1]) == parent_pid and b"spawn_main" in command:
            found.append(int(entry.name))
    return found
