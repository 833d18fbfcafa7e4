"""Bad input never ends in a 500 or a traceback (issue 15, "500s and tracebacks").

HTTP answers a 4xx with a JSON `detail` (or the HTML pages' message page), and the CLI
prints one line starting `redline:` on stderr and exits 2; nothing stored changes.
Each case is a reproduction from the issue; they run on SQLite and PostgreSQL, whose id
columns are 32-bit (ids above 2^31 - 1 used to fail there on every id route).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pytest_httpserver import HTTPServer
from sqlalchemy.engine import Engine
from werkzeug import Request, Response

from feeds.api import paging
from feeds.app import create_app
from feeds.settings import ServiceSettings
from tests.databases import Backend

from .conftest import (
    TWO_ITEM_RSS,
    Site,
    cli_on,
    filled_per_module,
    redline_command,
    shared_copy,
)
from .test_tracking import START, add, check_all

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

TOKEN = "correct-horse-battery-staple"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
ABOVE_64_BITS = "99999999999999999999999"
ABOVE_32_BITS = str(2**31)  # PostgreSQL's INTEGER ids end at 2^31 - 1
SUPERSCRIPT_TWO = "%C2%B2"  # "²": str.isdigit() says yes, int() says no


def seed(site: Site, engine: Engine) -> None:
    """Source 1, a feed with items 1 and 2; item 1 edited once (change ids 1 to 3)."""
    url = site.publish("/feed.xml", TWO_ITEM_RSS, "application/rss+xml")
    add(engine, url)
    check_all(engine, START)
    site.publish("/feed.xml", TWO_ITEM_RSS.replace("First headline", "First, edited"))
    check_all(engine, START + timedelta(hours=1))


# Seeded once for the module: a test asking for `seeded` gets a copy of its own (db_url).
filled_database, db_url = filled_per_module("errors", seed, {"seeded"})


@pytest.fixture
def seeded(engine: Engine) -> Engine:
    """The test's engine, on its copy of the seeded database."""
    return engine


@pytest.fixture
def client(seeded: Engine) -> Iterator[TestClient]:
    with TestClient(create_app(seeded, ServiceSettings(api_token=TOKEN))) as client:
        yield client


@pytest.fixture(scope="module")
def read_only(backend: Backend, filled_database: tuple[str, None]) -> Iterator[Engine]:
    """One copy of the seeded database, shared by the tests that only read it (a hundred
    GETs and twenty refused commands a backend: a copy each cost as much as the cases)."""
    with shared_copy(backend, filled_database, "errors-read") as engine:
        yield engine


@pytest.fixture(scope="module")
def reader(read_only: Engine) -> Iterator[TestClient]:
    """A client on the shared copy, for the tests that only send GETs."""
    with TestClient(create_app(read_only, ServiceSettings(api_token=TOKEN))) as client:
        yield client


def cursor(kind: str, **state: object) -> str:
    return paging.encode_cursor({"k": kind, **state})


# -- HTTP: ids, numbers and URLs in the request's path and query -----------------------

FEEDS = ["/feeds/edits.atom", "/feeds/sources/1.atom", "/feeds/items/1.atom", "/feeds/tags/x.atom"]


@pytest.mark.parametrize(
    ("path", "status"),
    [
        # before= above 2^63 (and above the id columns) on every feed: a validation error
        *[(f"{feed}?before={ABOVE_64_BITS}", 422) for feed in FEEDS],
        *[(f"{feed}?before={ABOVE_32_BITS}", 422) for feed in FEEDS],
        # an id no row can have is no row: 404, as for any unknown id
        ("/feeds/sources/9223372036854775808.atom", 404),
        (f"/feeds/sources/{ABOVE_32_BITS}.atom", 404),
        (f"/feeds/items/{ABOVE_32_BITS}.atom", 404),
        (f"/api/items/{ABOVE_32_BITS}", 404),
        (f"/api/items/{ABOVE_64_BITS}", 404),
        (f"/api/items/{ABOVE_32_BITS}/versions", 404),
        (f"/api/items/{ABOVE_32_BITS}/diff", 404),
        (f"/api/sources/{ABOVE_32_BITS}", 404),
        (f"/api/sources/{ABOVE_32_BITS}/checks", 404),
        (f"/items/{ABOVE_64_BITS}", 404),
        (f"/items/{ABOVE_32_BITS}", 404),
        (f"/items/{SUPERSCRIPT_TWO}", 404),
        # ids in query parameters and cursors
        (f"/api/items?source={ABOVE_32_BITS}", 422),
        (f"/?before={SUPERSCRIPT_TWO}", 400),
        (f"/?before={ABOVE_64_BITS}", 400),
        (f"/?before={ABOVE_32_BITS}", 400),
        (f"/api/items/1/diff?from={SUPERSCRIPT_TWO}", 400),
        (f"/api/items/1/diff?to={SUPERSCRIPT_TWO}", 400),
        (f"/api/items?cursor={cursor('items', before=2**31)}", 400),
        (f"/api/sources/1/checks?cursor={cursor('checks', before=2**31)}", 400),
        (f"/api/changes?since={cursor('changes', after=2**31, gaps=[])}", 400),
        # URLs urllib cannot split
        ("/api/items?url=http://%5B::1", 400),
        ("/api/items?url=http://a:99999/", 400),
        # NUL, which PostgreSQL refuses in text
        ("/api/items?q=a%00b", 400),
        ("/api/items?tag=a%00b", 400),
        ("/api/items?url=http://a/%00", 400),
        ("/feeds/tags/a%00b.atom", 400),
        ("/?q=a%00b", 400),
    ],
)
def test_bad_ids_and_urls_in_requests_are_4xx(reader: TestClient, path: str, status: int) -> None:
    response = reader.get(path)
    assert response.status_code == status, response.text
    if response.headers["content-type"].startswith("application/json"):
        assert response.json()["detail"]


def test_ids_up_to_the_column_range_are_still_found(reader: TestClient) -> None:
    assert reader.get("/api/items/1").status_code == 200
    assert reader.get("/items/1").status_code == 200
    assert reader.get("/feeds/sources/1.atom?before=2147483647").status_code == 200
    assert reader.get("/?before=2147483647").status_code == 200
    assert reader.get("/api/items?source=2147483647").json()["items"] == []


# -- HTTP: write bodies ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "body"),
    [
        ("POST", b'{"url": "http://example.org/\\u0000"}'),
        ("POST", b'{"url": "http://example.org/", "name": "a\\u0000"}'),
        ("POST", b'{"url": "http://example.org/", "options": {"map": {"id": "\\u0000"}}}'),
        ("PATCH", b'{"name": "a\\u0000"}'),
        ("POST", b'{"url": "http://example.org/\\ud800"}'),
        ("PATCH", b'{"name": "\\udfff"}'),
        ("POST", b'{"url": "http://[::1/x"}'),
        ("POST", b'{"url": "http://example.org/", "options": {"id_pattern": "x{99999999999}"}}'),
        ("POST", b'{"url": "http://example.org/", "surprise": NaN}'),
        ("PATCH", b'{"name": "x", "surprise": Infinity}'),
        ("PATCH", b'{"name": "x", "surprise": 1e400}'),
        # intervals the interval column (seconds, 32-bit) or a timedelta cannot hold
        ("POST", b'{"url": "http://example.org/", "every": 3237931977941133.0}'),
        ("POST", b'{"url": "http://example.org/", "every": 9900000000}'),
        ("PATCH", b'{"every": 1e13}'),
        ("PATCH", b'{"every": "99999999d"}'),
        ("PATCH", b'{"enabled": 0}'),
        ("PATCH", b'{"enabled": "yes"}'),
    ],
)
def test_bad_write_bodies_are_4xx_and_change_nothing(
    client: TestClient, method: str, body: bytes
) -> None:
    before = client.get("/api/sources").json()
    path = "/api/sources" if method == "POST" else "/api/sources/1"
    headers = AUTH | {"Content-Type": "application/json"}
    response = client.request(method, path, content=body, headers=headers)
    assert response.status_code in (400, 422), response.text
    assert response.json()["detail"]
    assert client.get("/api/sources").json() == before


def test_enabled_takes_only_true_or_false(client: TestClient) -> None:
    paused = client.patch("/api/sources/1", json={"enabled": False}, headers=AUTH)
    assert (paused.status_code, paused.json()["enabled"]) == (200, False)


def test_a_content_length_int_cannot_read_is_400(client: TestClient) -> None:
    headers = AUTH | {"Content-Type": "application/json", "Content-Length": "9" * 5000}
    response = client.post("/api/sources", content=b"{}", headers=headers)
    assert response.status_code == 400, response.text


# -- the CLI ---------------------------------------------------------------------------


def one_error_line(result) -> str:
    """The single `redline: ...` line a refused command prints; exit status 2."""
    assert result.code == 2, (result.code, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("redline: "), result.stderr
    return lines[0]


def words_alone(args: list[str], message: str) -> object:
    """A case refused for its words alone, whatever the database: on SQLite only (a
    `serve` or `run` starts a process of its own, ~0.5 s each)."""
    return pytest.param(args, message, marks=pytest.mark.one_database)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["add", "http://[::1/x"], "redline: not a URL redline can fetch: 'http://[::1/x'"),
        (["history", "http://[::1"], "redline: not a URL: 'http://[::1' (Invalid IPv6 URL)"),
        (["history", "http://a:99999/"], "redline: not a URL: 'http://a:99999/'"),
        (["history", "\u00b2"], "redline: not an item id or URL: '\u00b2'"),
        (["history", ABOVE_64_BITS], f"redline: no item {ABOVE_64_BITS}"),
        (["history", ABOVE_32_BITS], f"redline: no item {ABOVE_32_BITS}"),
        (["diff", "1", "--from", "\u00b2"], "redline: not a version: '\u00b2'"),
        (["diff", "1", "--to", "9" * 5000], "redline: no version 99999999999999999999:"),
        (["export", "--source", ABOVE_64_BITS], f"redline: no source {ABOVE_64_BITS}"),
        (["export", "--source", ABOVE_32_BITS], f"redline: no source {ABOVE_32_BITS}"),
        (
            ["import", "dir", ".", "--pattern", "*.csv", "--source", ABOVE_64_BITS],
            f"redline: no source {ABOVE_64_BITS}",
        ),
        words_alone(["serve", "--port", "80000"], "redline: not a port: '80000' (1 to 65535)"),
        words_alone(["serve", "--workers", "0"], "redline: not a number of workers: '0' (1 to 64)"),
        # argparse's own refusals: one line too, naming the help.
        words_alone(
            ["feed", "--kind", "typos"], "redline: argument --kind: invalid choice: 'typos'"
        ),
        words_alone(
            ["serve", "--port", "abc"], "redline: argument --port: invalid int value: 'abc'"
        ),
        words_alone(["frobnicate"], "redline: argument COMMAND: invalid choice: 'frobnicate'"),
        words_alone(["history"], "redline: the following arguments are required: item"),
        words_alone(
            ["serve", "--workers", "two"], "redline: not a number of workers: 'two' (1 to 64)"
        ),
        words_alone(
            ["run", "--serve", "--port", "80000"], "redline: not a port: '80000' (1 to 65535)"
        ),
        words_alone(["run", "--tick", "abc"], "redline: not a duration: 'abc'"),
        (["add", "http://example.org/", "--id-pattern", "x{99999999999}"], "redline: --id-pattern"),
    ],
)
def test_bad_arguments_are_one_line(read_only: Engine, args: list[str], message: str) -> None:
    cli = cli_on(read_only.url.render_as_string(hide_password=False))  # refused: none writes
    assert one_error_line(cli(*args, check=False)).startswith(message)


def test_feed_into_a_missing_folder_is_one_line(cli, tmp_path: Path) -> None:
    target = tmp_path / "missing" / "feeds" / "x.atom"
    line = one_error_line(cli("feed", "--out", str(target), check=False))
    assert line == f"redline: cannot write {target}: the folder {target.parent} does not exist"


def test_a_missing_sqlite_folder_is_named(cli, tmp_path: Path) -> None:
    missing = tmp_path / "missing" / "dir"
    result = cli("--db", f"sqlite:///{missing}/x.db", "items", check=False)
    assert one_error_line(result) == (
        f"redline: cannot open the SQLite database {missing}/x.db: the folder {missing} "
        "does not exist (create it first)"
    )


@pytest.mark.one_database  # what is refused does not depend on the database
@pytest.mark.parametrize("verb", [["serve"], ["run", "--serve"]])
def test_serving_on_a_port_in_use_is_one_line_before_any_banner(cli, verb: list[str]) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        result = cli(*verb, "--port", str(port), check=False)
    assert one_error_line(result) == (
        f"redline: cannot listen on http://127.0.0.1:{port}: Address already in use"
    )


# -- Ctrl-C ----------------------------------------------------------------------------


def interrupted(process: subprocess.Popen) -> tuple[int, str]:
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    return process.returncode, stderr


def test_ctrl_c_during_check_is_one_line(httpserver: HTTPServer, db_url: str, cli) -> None:
    fetching, release = threading.Event(), threading.Event()

    def slow_feed(_request: Request) -> Response:
        fetching.set()
        release.wait(60)
        return Response(TWO_ITEM_RSS, content_type="application/rss+xml")

    httpserver.expect_request("/feed.xml").respond_with_handler(slow_feed)
    cli("add", httpserver.url_for("/feed.xml"), "--kind", "feed")
    env = {**os.environ, "REDLINE_DB": db_url}
    check = subprocess.Popen(
        [*redline_command(), "check"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert fetching.wait(60), "the check never fetched"
        check.send_signal(signal.SIGINT)
    finally:
        release.set()  # the fetch in flight finishes; the process then exits
    _, stderr = check.communicate(timeout=60)
    assert (check.returncode, stderr) == (130, "redline: interrupted\n")


def test_ctrl_c_during_import_is_one_line(db_url: str, tmp_path: Path) -> None:
    # A stand-in for git: it lists one commit; asked for the file, it says so on stderr
    # and never answers. Its shell keeps the answer pipe open (cat's output goes
    # elsewhere), so redline waits there until interrupted; closing stdin ends cat.
    fake = tmp_path / "bin" / "git"
    fake.parent.mkdir()
    fake.write_text(
        "#!/bin/sh\n"
        'case "$3" in\n'
        '  log) echo "0123456789abcdef0123456789abcdef01234567 1600000000" ;;\n'
        '  cat-file) echo "fake git: reading" >&2; cat >/dev/null ;;\n'
        "esac\n"
    )
    fake.chmod(0o755)
    env = {**os.environ, "REDLINE_DB": db_url, "PATH": f"{fake.parent}:{os.environ['PATH']}"}
    command = ["import", "git", str(tmp_path), "--path", "feed.xml", "--url", "http://a.example/"]
    replay = subprocess.Popen(
        [*redline_command(), *command],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert replay.stderr is not None
    assert replay.stderr.readline() == "fake git: reading\n"
    assert interrupted(replay) == (130, "redline: interrupted\n")
