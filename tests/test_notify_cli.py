"""`redline notify` as a user runs it, [[notify]] tables in redline.toml, and the daemon
sending through a crash: SIGKILL mid-send loses nothing and repeats only within the
delivery id."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from werkzeug import Request, Response

from storage import Delivery
from tests.tools import LocalServer
from tracker.notify import targets

from .conftest import Site, redline_command
from .test_notify import storm_edited


class Hook:
    """A webhook receiver; `hold` makes it keep each request until `release`."""

    def __init__(self) -> None:
        self.server = LocalServer(host="127.0.0.1", port=0, threaded=True)
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.arrived = threading.Event()
        self.hold = False
        self.released = threading.Event()
        self.server.expect_request("/hook", method="POST").respond_with_handler(self.handle)
        self.server.expect_request("/apprise", method="POST").respond_with_handler(self.handle)

    def handle(self, request: Request) -> Response:
        self.received.append((dict(request.headers), request.get_data()))
        self.arrived.set()
        if self.hold:
            self.released.wait(30)
        return Response("ok")

    def url(self, path: str = "/hook") -> str:
        return self.server.url_for(path)


@pytest.fixture
def hook() -> Iterator[Hook]:
    made = Hook()
    made.server.start()
    yield made
    made.released.set()
    made.server.clear()
    if made.server.is_running():
        made.server.stop()


def test_notify_add_list_test_and_remove(cli: Callable, hook: Hook) -> None:
    bad = cli("notify", "add", "nonsense://x", check=False)
    assert bad.code == 2 and bad.stdout == ""
    assert bad.stderr.count("\n") == 1 and "not a notification target" in bad.stderr
    no_filter = cli("notify", "add", hook.url(), "--kind", "gossip", check=False)
    assert no_filter.code == 2 and "'gossip' is none of" in no_filter.stderr

    added = cli("notify", "add", hook.url(), "--name", "desk", "--tag", "Politics")
    assert "subscription 1: 'desk' webhook http://127.0.0.1:" in added.stdout
    secret = added.stdout.split("not shown again): ", 1)[1].strip()
    [listed] = json.loads(cli("notify", "list", "--json").stdout)
    assert listed["target"] == f"http://127.0.0.1:{hook.server.port}/…"  # no path shown
    assert (listed["kind"], listed["filters"]) == ("webhook", {"tags": ["Politics"]})
    assert listed["deliveries"] == {"pending": 0, "sent": 0, "dead": 0}

    tested = cli("notify", "test", "desk")
    assert "test sent" in tested.stdout
    [(headers, body)] = hook.received
    assert headers["Redline-Event"] == "test"
    assert targets.verify_signature(secret, headers["Redline-Signature"], body)
    assert json.loads(body)["item"]["headline"] == "Storm leaves 12 dead"

    assert "removed subscription 1" in cli("notify", "remove", "desk").stdout
    assert json.loads(cli("notify", "list", "--json").stdout) == []
    gone = cli("notify", "test", "desk", check=False)
    assert gone.code == 2 and "no subscription 'desk'" in gone.stderr


def test_notify_tables_in_redline_toml_are_kept_in_step(
    cli: Callable, hook: Hook, tmp_path: Path
) -> None:
    config = tmp_path / "redline.toml"
    target = f"json://127.0.0.1:{hook.server.port}/apprise"
    config.write_text(
        f'[[notify]]\nname = "desk"\ntarget = "{target}"\nkinds = ["edits", "removals"]\n'
    )
    [listed] = json.loads(cli("--config", str(config), "notify", "list", "--json").stdout)
    assert (listed["name"], listed["kind"], listed["from_config"]) == ("desk", "apprise", True)
    assert listed["filters"] == {"kinds": ["edits", "removals"]}
    refused = cli("--config", str(config), "notify", "remove", "desk", check=False)
    assert refused.code == 2 and "remove it there" in refused.stderr

    config.write_text("")  # the table removed: so is the subscription
    assert json.loads(cli("--config", str(config), "notify", "list", "--json").stdout) == []

    config.write_text('[[notify]]\nname = "desk"\n')
    bad = cli("--config", str(config), "notify", "list", check=False)
    assert bad.code == 2 and "[[notify]] number 1 needs a name and a target" in bad.stderr


def test_status_counts_the_deliveries(
    cli: Callable, site: Site, engine: Engine, hook: Hook
) -> None:
    storm_edited(site, engine, hook.url())
    told = json.loads(cli("status", "--json").stdout)["notifications"]
    assert told == {"subscriptions": 1, "pending": 1, "sent": 0, "dead": 0}
    sent = cli("notify", "send")
    assert "1 notification sent" in sent.stdout
    assert "0 pending, 1 sent, 0 given up" in cli("status").stdout


@pytest.mark.slow  # over 2.5 s (--durations, 2026-12-07): left out by `make quick`
def test_a_daemon_killed_mid_send_sends_again_with_the_same_delivery_id(
    site: Site, engine: Engine, db_url: str, hook: Hook, tmp_path: Path
) -> None:
    storm_edited(site, engine, hook.url())  # committed, not sent: as if killed here
    config = tmp_path / "redline.toml"
    config.write_text('[notifications]\nclaim = "1s"\n')
    hook.hold = True  # the first POST is kept waiting: the daemon is killed meanwhile

    first = launch(db_url, config, tmp_path / "first.log")
    try:
        assert hook.arrived.wait(60), (tmp_path / "first.log").read_text()
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    finally:
        if first.poll() is None:
            first.kill()
    hook.hold = False
    hook.released.set()
    [claimed] = deliveries_of(engine)
    assert claimed.state == "pending" and claimed.claimed_by  # sent, not recorded

    second = launch(db_url, config, tmp_path / "second.log")
    try:
        deadline = time.monotonic() + 60
        while deliveries_of(engine)[0].state != "sent":
            assert time.monotonic() < deadline, (tmp_path / "second.log").read_text()
            time.sleep(0.1)
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(30)
    keys = [headers["Redline-Delivery"] for headers, _ in hook.received]
    assert keys == [claimed.key, claimed.key]  # twice, with the one delivery id


def launch(db_url: str, config: Path, log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [*redline_command(), "--db", db_url, "--config", str(config), "run", "--tick", "1s"],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "REDLINE_DB": ""},
        )


def deliveries_of(engine: Engine) -> list[Delivery]:
    with Session(engine) as session:
        return list(session.exec(select(Delivery)).all())
