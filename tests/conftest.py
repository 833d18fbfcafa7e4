"""Shared test fixtures: a fresh database, a local site that replays pages, the real CLI."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import os
import re
import signal
import subprocess
import sys
import threading
import tomllib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from typing import TypeVar
from unittest import mock

import pytest
from pytest_httpserver import HTTPServer
from sqlalchemy.engine import Engine
from werkzeug import Request, Response

from storage import make_engine, upgrade
from tests.databases import Backend, PostgresBackend, SqliteBackend
from tracker.extract.base import Observation
from tracker.notify.sender import Sender
from tracker.notify.settings import NotifySettings

from .tools import local_server

T = TypeVar("T")
FIXTURES = Path(__file__).parent / "fixtures"
# Tests serve pages from loopback, which redline refuses to fetch by default (see
# tracker/fetch/addresses.py). Set in the environment, the allowance reaches the `redline`
# subprocesses that tests start, too.
os.environ["REDLINE_ALLOW_NETWORKS"] = "127.0.0.0/8,::1/128"
# A minimal feed of two items, for tests about checking rather than extraction.
TWO_ITEM_RSS = """<?xml version="1.0"?>
<rss version="2.0"><channel><title>News</title><link>https://news.example/</link>
<description>d</description>
<item><guid>a</guid><title>First headline</title><link>https://news.example/a</link></item>
<item><guid>b</guid><title>Second headline</title><link>https://news.example/b</link></item>
</channel></rss>
"""
OFFSTREAM = FIXTURES / "offstream"


def pytest_configure(config: pytest.Config) -> None:
    # A suite started in the background (`make test &`, nohup) has SIGINT ignored, and so
    # would every redline it starts: the Ctrl-C tests would see their signal ignored. A
    # handler here (in each xdist worker too) gives the processes it starts the default.
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A module, test or case marked `one_database` tests what no database changes (a
    terminal's progress bar, a fake Mastodon, extractors, refused arguments): it runs on
    SQLite only, and its PostgreSQL runs are deselected. The modules that test database
    behaviour (queries, types, ids, transactions, leases, crashes) keep both."""
    kept, deselected = [], []
    for item in items:
        callspec = getattr(item, "callspec", None)
        on_postgresql = callspec is not None and callspec.params.get("backend") == "postgresql"
        one = on_postgresql and item.get_closest_marker("one_database") is not None
        (deselected if one else kept).append(item)
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = kept


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    """Each database kind redline supports; tests using a database run on every one."""
    if request.param == "sqlite":
        chosen: Backend = SqliteBackend(tmp_path_factory.mktemp("sqlite"))
    else:
        chosen = PostgresBackend.connect()
    yield chosen
    chosen.close()


@pytest.fixture(scope="session")
def migrated_url(backend: Backend) -> str:
    """A database with the newest schema, made once per run by the migrations (a new
    user's database is made from the models: test_schema checks both are one schema)."""
    url = backend.create("migrated")
    engine = make_engine(url)
    upgrade(engine, from_models=False)
    engine.dispose()
    return url


@pytest.fixture
def db_url(backend: Backend, migrated_url: str) -> Iterator[str]:
    yield from fresh_database(backend, migrated_url)


def fresh_database(backend: Backend, migrated_url: str) -> Iterator[str]:
    """A fresh database of this test's own, with the newest schema."""
    url = backend.fresh(migrated_url, "test")
    yield url
    backend.release(url)


@contextlib.contextmanager
def filled_once(
    backend: Backend, migrated_url: str, label: str, fill: Callable[[Site, Engine], T]
) -> Iterator[tuple[str, T]]:
    """A database filled once for a whole module (filling one through real checks takes
    a second or more), and what fill(site, engine) gave: the site is a server of its own,
    which stays up while the module runs, as the filled sources point at it."""
    site: Site
    with local_server(lambda request: site.handle(request)) as server:
        site = Site(server)
        template = backend.copy(migrated_url, label)
        try:
            engine = make_engine(template)
            try:
                value = fill(site, engine)
            finally:
                engine.dispose()
            yield template, value
        finally:
            backend.drop(template)


@contextlib.contextmanager
def shared_copy(backend: Backend, filled: tuple[str, object], label: str) -> Iterator[Engine]:
    """An engine on one copy of a module's filled database (filled_per_module), for a
    module-scoped fixture shared by the tests that only read it: a copy per test cost as
    much as such tests."""
    url = backend.copy(filled[0], label)
    engine = make_engine(url)
    try:
        yield engine
    finally:
        engine.dispose()
        backend.drop(url)


def filled_per_module(label: str, fill: Callable[[Site, Engine], T], readers: set[str]) -> tuple:
    """The two fixtures a module assigns to itself (`filled_database, db_url =
    filled_per_module(...)`) so that its tests read one database filled once: the
    module-scoped `filled_database` (the template's URL, and what fill gave), and a
    `db_url` that is a copy of it for a test using one of the reader fixtures, and a
    fresh empty database, as everywhere else, for the others."""

    @pytest.fixture(scope="module")
    def filled_database(backend: Backend, migrated_url: str) -> Iterator[tuple[str, T]]:
        with filled_once(backend, migrated_url, label, fill) as made:
            yield made

    @pytest.fixture
    def db_url(
        request: pytest.FixtureRequest, backend: Backend, migrated_url: str
    ) -> Iterator[str]:
        if readers & set(request.fixturenames):
            url = backend.copy(request.getfixturevalue("filled_database")[0], label)
            yield url
            backend.drop(url)
        else:
            yield from fresh_database(backend, migrated_url)

    return filled_database, db_url


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    engine = make_engine(db_url)
    yield engine
    engine.dispose()


@dataclass
class Site:
    """A news site on 127.0.0.1 whose pages the test publishes, edits and moves.

    Pages carry an ETag and answer a matching If-None-Match with 304, as real
    servers do; a moved page's old URL answers 301 to the new one.
    """

    server: HTTPServer
    pages: dict[str, tuple[bytes, str]] = field(default_factory=dict)
    redirects: dict[str, str] = field(default_factory=dict)
    statuses: dict[str, tuple[int, dict[str, str]]] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)

    def url(self, path: str) -> str:
        return self.server.url_for(path)

    def publish(
        self, path: str, text: str | bytes, content_type: str = "text/markdown; charset=utf-8"
    ) -> str:
        body = text.encode() if isinstance(text, str) else text
        self.pages[path] = (body, content_type)
        self.redirects.pop(path, None)
        return self.url(path)

    def move(self, old_path: str, new_path: str) -> None:
        """The page now lives at new_path; old_path (and anything moved to it) redirects there."""
        for source, target in list(self.redirects.items()):
            if target == old_path:
                self.redirects[source] = new_path
        self.pages.pop(old_path, None)
        self.redirects[old_path] = new_path

    def fail(self, path: str, status: int, headers: dict[str, str] | None = None) -> str:
        """The page answers with this error status (and headers, e.g. Retry-After)."""
        self.statuses[path] = (status, headers or {})
        return self.url(path)

    def heal(self, path: str) -> None:
        self.statuses.pop(path, None)

    def handle(self, request: Request) -> Response:
        path = request.path
        self.requests.append(path)
        if path in self.statuses:
            status, headers = self.statuses[path]
            return Response(f"error {status}", status=status, headers=headers)
        if path in self.redirects:
            return Response("", status=301, headers={"Location": self.url(self.redirects[path])})
        if path not in self.pages:
            return Response("not found", status=404)
        body, content_type = self.pages[path]
        etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
        if request.headers.get("If-None-Match") == etag:
            return Response(status=304, headers={"ETag": etag})
        return Response(body, status=200, headers={"ETag": etag, "Content-Type": content_type})


@pytest.fixture
def site(httpserver: HTTPServer) -> Site:
    site = Site(httpserver)
    httpserver.expect_request(re.compile(".*")).respond_with_handler(site.handle)
    return site


def text_fields(observations: Sequence[Observation]) -> list[str]:
    """Every string the observations hold (fields and list entries), for searching."""
    found: list[str] = []
    for observation in observations:
        for value in asdict(observation).values():
            if isinstance(value, str):
                found.append(value)
            elif isinstance(value, list):
                found.extend(v for v in value if isinstance(v, str))
    return found


def offstream_page(file: str) -> str:
    """A page of the Offstream corpus fixture, by its path under pages/ or seeds/."""
    return (OFFSTREAM / file).read_text(encoding="utf-8")


def own_story(page: str, tag: str) -> str:
    """The Khanasir seed page (seeds/001_...) as another story's: its headline and the
    URLs its Changes list names are its own. Pages of one site that name the same URLs
    are one item (tracker.identity.sites)."""
    slug = re.sub(r"[^a-z0-9]+", "-", tag.lower()).strip("-")
    return page.replace("Khanasir", f"Khanasir {tag}", 1).replace(
        "khanasir-from", f"khanasir-{slug}-from"
    )


def manifest_snapshots(chain: str) -> list[dict]:
    manifest = json.loads((OFFSTREAM / "manifest.json").read_text(encoding="utf-8"))
    return sorted(
        (s for s in manifest["snapshots"] if s["chain"] == chain), key=lambda s: s["order"]
    )


@dataclass
class CliResult:
    code: int
    stdout: str
    stderr: str

    def json(self) -> object:
        return json.loads(self.stdout)


def redline_command() -> list[str]:
    """The installed console script, as a user runs it; `python -m tracker` when there is
    none, or when it was installed from a tree whose entry point is not this one's (an
    editable install of another checkout, run with this tree on PYTHONPATH)."""
    script = Path(sys.executable).with_name("redline")
    if script.exists() and _installed_entry_point() == _entry_point():
        return [str(script)]
    return [sys.executable, "-m", "tracker"]


def _entry_point() -> str:
    """`redline`'s entry point as this tree's pyproject.toml names it."""
    pyproject = Path(__file__).resolve().parent.parent / "pyproject.toml"
    return tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]["scripts"]["redline"]


def _installed_entry_point() -> str | None:
    """`redline`'s entry point as the installed distribution names it."""
    found = entry_points(group="console_scripts", name="redline")
    return next((point.value for point in found), None)


# Commands that take over the process (signal handlers, a server, the daemon's loop)
# always run as a process of their own.
OWN_PROCESS_COMMANDS = frozenset({"run", "serve"})


@pytest.fixture
def cli(db_url: str) -> object:
    """`redline ARGS` on this test's database: its exit status, stdout and stderr. It
    calls tracker.cli.main in this process (a process of its own costs ~0.9 s of imports,
    most of the suite's time when every test started one); run and serve, and every
    command when REDLINE_TEST_CLI=process is set, start the installed script instead."""
    return cli_on(db_url)


def cli_on(db_url: str) -> Callable[..., CliResult]:
    """The `cli` fixture's runner, on the database at db_url."""

    def run(*args: str, check: bool = True) -> CliResult:
        env = {**os.environ, "REDLINE_DB": db_url}
        own_process = os.environ.get("REDLINE_TEST_CLI") == "process"
        if own_process or OWN_PROCESS_COMMANDS & set(args):
            done = subprocess.run(
                [*redline_command(), *args], capture_output=True, text=True, env=env, timeout=120
            )
            result = CliResult(done.returncode, done.stdout, done.stderr)
        else:
            result = run_main(args, env)
        if check and result.code != 0:
            raise AssertionError(
                f"redline {' '.join(args)} failed ({result.code}):\n{result.stderr}"
            )
        return result

    return run


def run_main(args: Sequence[str], env: dict[str, str]) -> CliResult:
    """tracker.cli.main(args) with this environment, its output captured as a process's
    would be (stdout with a byte buffer under it, for `redline feed`), and what it sets
    for the whole process (logging, the address policy) put back afterwards."""
    from tracker.cli.main import main
    from tracker.fetch import addresses

    stdout_bytes = io.BytesIO()
    stdout = io.TextIOWrapper(stdout_bytes, encoding="utf-8", newline="")
    stderr = io.StringIO()
    root = logging.getLogger()
    saved_logging = (list(root.handlers), root.level)
    quieted = {name: logging.getLogger(name).level for name in ("httpx", "httpcore", "alembic")}
    saved_policy = addresses._configured  # noqa: SLF001 (set by main from [fetch])
    try:
        with (
            mock.patch.dict(os.environ, env, clear=True),
            contextlib.redirect_stdout(stdout),
            contextlib.redirect_stderr(stderr),
        ):
            try:
                code = main(list(args))
            except SystemExit as exit:  # argparse: --help, --version, a bad argument
                code = exit.code if isinstance(exit.code, int) else 0 if exit.code is None else 1
                if isinstance(exit.code, str):
                    print(exit.code, file=sys.stderr)
            stdout.flush()
    finally:
        root.handlers[:] = saved_logging[0]
        root.setLevel(saved_logging[1])
        for name, level in quieted.items():
            logging.getLogger(name).setLevel(level)
        addresses.configure(saved_policy)
    # Read back as subprocess.run(text=True) reads a pipe: "\r\n" (csv's) becomes "\n".
    read = io.TextIOWrapper(io.BytesIO(stdout_bytes.getvalue()), encoding="utf-8").read()
    return CliResult(code, read, stderr.getvalue())


# -- notifications: a webhook receiver and a sender --------------------------------------


@dataclass
class Receiver:
    """A webhook receiver on 127.0.0.1: answers each POST with the next status queued
    (200 when none is), and keeps what it was sent."""

    server: HTTPServer = field(init=False)  # set by the fixture
    statuses: list[int] = field(default_factory=list)
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def handle(self, request: Request) -> Response:
        with self.lock:
            self.received.append((dict(request.headers), request.get_data()))
            status = self.statuses.pop(0) if self.statuses else 200
        return Response("ok" if status < 300 else "no", status=status)

    def url(self, path: str = "/hook") -> str:
        return self.server.url_for(path)

    def documents(self) -> list[dict]:
        return [json.loads(body) for _, body in self.received]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    with local_server(found.handle, "/(hook|apprise)", "POST") as found.server:
        yield found


@pytest.fixture
def sender(engine: Engine) -> Iterator[Sender]:
    made = Sender(engine, NotifySettings(), "test-sender")
    yield made
    made.close()
