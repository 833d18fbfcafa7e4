"""A source's credentials (user:password@ in its URL) are used to fetch it, and shown nowhere.

The site here answers only requests that carry them as HTTP Basic auth. After redline has
added the source, checked it (from the CLI and from the daemon) and recorded an edit, the
password must appear in no output, page, feed, API answer or log line; only the source's
own row in the database keeps it.
"""

from __future__ import annotations

import base64
import logging
import re
from concurrent.futures import wait
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pytest_httpserver import HTTPServer
from sqlalchemy.engine import Engine
from werkzeug import Request, Response

from feeds.app import create_app
from feeds.settings import ServiceSettings
from tests.tools import LocalServer
from tracker.errors import FetchError
from tracker.fetch.client import fetch, make_client
from tracker.logs import JsonFormatter, TextFormatter
from tracker.normalise import redact_url
from tracker.run.daemon import Daemon

from .conftest import Site

# What is tested here does not depend on the database (see conftest.py).
pytestmark = pytest.mark.one_database

USER, PASSWORD = "admin", "S3cretPass"
WRONG_PASSWORD = "Wr0ngPass"
BASIC = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
# Relative links: resolved against the source's URL, they must not inherit its userinfo.
FEED = """<?xml version="1.0"?>
<rss version="2.0"><channel><title>Members' news</title><link>/</link>
<description>d</description>
<item><guid>a</guid><title>{headline}</title><link>/news/a</link></item>
<item><guid>b</guid><title>Second headline</title><link>/news/b</link></item>
</channel></rss>
"""
RSS = "application/rss+xml"


@dataclass
class LockedSite(Site):
    """A Site that answers only requests carrying USER:PASSWORD as HTTP Basic auth."""

    authorizations: list[str | None] = field(default_factory=list)  # as each request sent it
    locations: dict[str, str] = field(default_factory=dict)  # path -> a 302's Location, as is

    def handle(self, request: Request) -> Response:
        given = request.headers.get("Authorization")
        self.authorizations.append(given)
        if given != BASIC:
            return Response("", status=401, headers={"WWW-Authenticate": 'Basic realm="news"'})
        if request.path in self.locations:
            return Response("", status=302, headers={"Location": self.locations[request.path]})
        return super().handle(request)


@pytest.fixture
def locked_site(httpserver: HTTPServer) -> LockedSite:
    site = LockedSite(httpserver)
    httpserver.expect_request(re.compile(".*")).respond_with_handler(site.handle)
    return site


def with_credentials(url: str, password: str = PASSWORD) -> str:
    return url.replace("http://", f"http://{USER}:{password}@", 1)


def daemon_log_lines(engine: Engine, caplog: pytest.LogCaptureFixture) -> list[str]:
    """The daemon's lines for one claim of the due sources, in both log formats."""
    daemon = Daemon(engine, every=timedelta(hours=1), tick=timedelta(hours=1))
    try:
        with caplog.at_level(logging.INFO, logger="redline.daemon"):
            assert daemon.claim() >= 1
            wait(daemon.checks.running())
    finally:
        daemon.checks.shutdown()
        daemon.client.close()
    records = [r for r in caplog.records if r.name == "redline.daemon" and r.msg == "check"]
    assert records
    return [f.format(r) for r in records for f in (TextFormatter(), JsonFormatter())]


def test_credentials_are_used_to_fetch_and_shown_nowhere(
    locked_site: LockedSite,
    cli: object,
    engine: Engine,
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
) -> None:
    run = cli  # the real `redline` command on this test's database
    feed_url = locked_site.publish("/feed.xml", FEED.format(headline="First headline"), RSS)
    public_url = feed_url + "?token=abc"  # a query string is shown as it is
    shown: dict[str, str] = {}  # what each place shows, by name

    shown["redline add"] = run("add", with_credentials(public_url), "--kind", "feed").stdout
    shown["redline check"] = run("check").stdout
    locked_site.publish("/feed.xml", FEED.format(headline="First headline, edited"), RSS)
    shown["redline check --all"] = run("check", "--all").stdout
    # A wrong password: the 401's message quotes the URL, in the daemon's log line too.
    wrong = with_credentials(feed_url, WRONG_PASSWORD)
    shown["redline add (wrong)"] = run("add", wrong, "--kind", "feed").stdout
    for n, line in enumerate(daemon_log_lines(engine, caplog)):
        shown[f"daemon log line {n}"] = line

    # The fetches authenticated: the site saw the credentials and served the feed.
    assert BASIC in locked_site.authorizations
    assert shown["redline check"].startswith("changed")
    assert shown["redline check --all"].startswith("changed")  # the edit

    for args in (
        ["sources"], ["sources", "--json"], ["items"], ["items", "--json"],
        ["history", "1", "--json"], ["export", "--all"],
    ):  # fmt: skip
        shown["redline " + " ".join(args)] = run(*args).stdout
    # `status` names a source once it is failing: here after its one error.
    config = tmp_path / "redline.toml"
    config.write_text("[daemon]\nfailing_after = 1\n", encoding="utf-8")
    for args in (["status"], ["status", "--json"]):
        shown["redline " + " ".join(args)] = run("--config", str(config), *args).stdout
    run("feed", "--out", str(tmp_path / "feeds"))
    for path in sorted((tmp_path / "feeds").rglob("*.atom")):
        shown[f"redline feed: {path.name}"] = path.read_text(encoding="utf-8")
    with TestClient(create_app(engine, ServiceSettings())) as client:
        for path in (
            "/feeds/edits.atom", "/feeds/sources/1.atom", "/feeds/sources/2.atom",
            "/feeds/items/1.atom", "/sources", "/items/1", "/api/sources", "/api/sources/1",
            "/api/sources/2", "/api/sources/2/checks", "/api/items", "/api/items/1",
        ):  # fmt: skip
            answer = client.get(path)
            assert answer.status_code == 200, path
            shown[path] = answer.text
        assert client.get("/api/items/1").json()["versions"] == 2

    leaks = [name for name, text in shown.items() if PASSWORD in text or WRONG_PASSWORD in text]
    assert leaks == []
    # The URL is still shown, query string and all, and items link without userinfo.
    assert public_url in shown["redline sources"]
    assert public_url in shown["/sources"] and public_url in shown["/feeds/edits.atom"]
    assert locked_site.url("/news/a") in shown["/api/items/1"]
    assert f"HTTP 401 Unauthorized from {feed_url}" in shown["/api/sources/2"]
    assert f"HTTP 401 Unauthorized from {feed_url}" in shown["redline status"]


def test_credentials_go_along_redirects_within_the_origin_only(locked_site: LockedSite) -> None:
    """httpx sends Basic auth on to a redirect within the origin, never to another."""
    other = LocalServer(host="127.0.0.1", port=0)  # another host and port: another origin
    other.start()
    elsewhere = LockedSite(other)
    other.expect_request(re.compile(".*")).respond_with_handler(elsewhere.handle)
    try:
        locked_site.publish("/feed.xml", FEED.format(headline="Here"), RSS)
        locked_site.locations["/old.xml"] = "/feed.xml"  # relative: httpx keeps the userinfo
        locked_site.locations["/away.xml"] = elsewhere.publish("/feed.xml", "elsewhere", RSS)
        with make_client() as client:
            moved = fetch(client, with_credentials(locked_site.url("/old.xml")))
            assert locked_site.authorizations == [BASIC, BASIC]
            assert (moved.requested_url, moved.final_url) == (
                locked_site.url("/old.xml"),
                locked_site.url("/feed.xml"),
            )
            with pytest.raises(FetchError, match="HTTP 401") as refused:
                fetch(client, with_credentials(locked_site.url("/away.xml")))
        assert elsewhere.authorizations == [None]  # the credentials stayed home
        assert PASSWORD not in str(refused.value)
    finally:
        other.clear()
        other.stop()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("http://admin:S3cretPass@host/feed.xml?token=abc", "http://host/feed.xml?token=abc"),
        ("https://admin@host:8443/", "https://host:8443/"),
        ("HTTP://u:p@ss@host/a@b", "HTTP://host/a@b"),  # an unencoded @ in the password
        ("http://host/a@b and me@mail.example", "http://host/a@b and me@mail.example"),
        ("from 'http://u:pw@h/x' (and http://u:pw@h/y)", "from 'http://h/x' (and http://h/y)"),
        ("http://[::1", "http://[::1"),
    ],
)  # fmt: skip
def test_redact_url_drops_userinfo_from_urls_and_messages(text: str, expected: str) -> None:
    assert redact_url(text) == expected


REFUSED = [
    f"http://{USER}:{PASSWORD}@10.0.0.1/feed.xml",  # a private address
    f"ftp://{USER}:{PASSWORD}@news.example/feed.xml",  # not http(s)
]


@pytest.mark.parametrize("url", REFUSED)
def test_a_refused_url_is_quoted_without_its_credentials(
    url: str, cli: object, engine: Engine
) -> None:
    refused = cli("add", url, check=False)
    assert refused.code == 2 and refused.stderr.startswith("redline: ")
    assert PASSWORD not in refused.stderr
    token = "t0ken"
    with TestClient(create_app(engine, ServiceSettings(api_token=token))) as client:
        answer = client.post(
            "/api/sources", json={"url": url}, headers={"Authorization": f"Bearer {token}"}
        )
    assert answer.status_code == 400
    assert PASSWORD not in answer.json()["detail"]
