"""The service's guards as an operator relies on them (issue 15, "Operators"): the write
limit, proxy headers, security headers, HEAD and OPTIONS, and /docs without internet."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from feeds import docs
from feeds.api import guards
from feeds.app import create_app
from feeds.pages import CONTENT_SECURITY_POLICY
from feeds.settings import ServiceSettings
from storage import queries, transaction

from .conftest import TWO_ITEM_RSS, Site, redline_command
from .test_tracking import START, add, check_all

# What is tested here does not depend on the database (see conftest.py).
pytestmark = pytest.mark.one_database

TOKEN = "correct-horse-battery-staple"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def source_id(engine: Engine) -> int:
    return add(engine, "https://news.example/feed.xml")


@pytest.fixture
def client(engine: Engine, source_id: int) -> Iterator[TestClient]:
    with TestClient(create_app(engine, ServiceSettings(api_token=TOKEN))) as test_client:
        yield test_client


# -- the write limit -----------------------------------------------------------------------


def test_bogus_writes_never_lock_out_the_token_holder(
    client: TestClient, source_id: int, monkeypatch: pytest.MonkeyPatch
):
    # The limiter's clock stands still: the burst is within one instant however slowly
    # the machine serves it (its bucket refills a write a second).
    monkeypatch.setattr(guards, "_monotonic", lambda: 1000.0)
    path = f"/api/sources/{source_id}"
    bogus = [
        client.patch(path, json={}, headers={"Authorization": "Bearer guess"}).status_code
        for _ in range(guards.WRITES_PER_MINUTE + 5)
    ]
    assert bogus == [401] * guards.WRITES_PER_MINUTE + [429] * 5  # guessing is limited
    assert client.patch(path, json={"name": "mine"}, headers=AUTH).status_code == 200
    assert client.post("/api/sources", json={"url": "https://x.example/"}).status_code == 429


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def _serve(tmp_path: Path, db_url: str, serve_table: str) -> Iterator[str]:
    port = _free_port()
    config = tmp_path / "redline.toml"
    config.write_text(f'[serve]\nport = {port}\ntoken = "{TOKEN}"\n{serve_table}\n')
    env = {**os.environ, "REDLINE_DB": db_url}
    env.pop("FORWARDED_ALLOW_IPS", None)
    server = subprocess.Popen(
        [*redline_command(), "--config", str(config), "serve"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:  # poll until it answers (it has no readiness signal of its own)
            try:
                httpx.get(f"{base}/healthz", timeout=1)
                break
            except httpx.TransportError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(server.stderr.read().decode()) from None
                time.sleep(0.05)
        yield base
    finally:
        server.terminate()
        server.wait(timeout=30)


def _rotating_writes(base: str, source_id: int, count: int) -> list[int]:
    with httpx.Client(base_url=base) as http:
        return [
            http.patch(
                f"/api/sources/{source_id}",
                json={},
                headers={**AUTH, "X-Forwarded-For": f"198.51.100.{number % 250}"},
            ).status_code
            for number in range(count)
        ]


def test_a_rotating_forwarded_header_does_not_get_round_the_limit(
    tmp_path: Path, db_url: str, source_id: int
):
    with _serve(tmp_path, db_url, "") as base:
        started = time.monotonic()
        statuses = _rotating_writes(base, source_id, guards.WRITES_PER_MINUTE + 10)
        elapsed = time.monotonic() - started
    # One address: the bucket holds a minute's writes and refills one a second, so while
    # these run (a second or more on a busy machine) a few more may pass, never one per
    # forwarded address.
    assert 429 in statuses
    assert (
        statuses.count(200)
        <= guards.WRITES_PER_MINUTE + elapsed * guards.WRITES_PER_MINUTE / 60 + 1
    )


def test_forwarded_headers_are_believed_from_configured_proxies(
    tmp_path: Path, db_url: str, source_id: int
):
    with _serve(tmp_path, db_url, 'forwarded_allow_ips = ["127.0.0.1"]') as base:
        statuses = _rotating_writes(base, source_id, guards.WRITES_PER_MINUTE + 1)
    assert statuses == [200] * (guards.WRITES_PER_MINUTE + 1)  # each reader counts apart


def test_a_bad_forwarded_allow_ips_is_refused(tmp_path: Path, cli) -> None:
    config = tmp_path / "redline.toml"
    config.write_text("[serve]\nforwarded_allow_ips = 7\n")
    result = cli("--config", str(config), "serve", check=False)
    assert result.code == 2
    assert result.stderr.startswith("redline: [serve] forwarded_allow_ips")
    assert "serving on" not in result.stderr


# -- headers, HEAD and OPTIONS on every route ---------------------------------------------


@pytest.fixture
def edited(site: Site, engine: Engine) -> tuple[int, int]:
    """A source whose item has two versions: (source id, item id)."""
    url = site.publish("/feed.xml", TWO_ITEM_RSS, "application/rss+xml")
    source_id = add(engine, url)
    check_all(engine, START)
    site.publish("/feed.xml", TWO_ITEM_RSS.replace("First headline", "First, edited"))
    check_all(engine, START + timedelta(hours=1))
    with transaction(engine) as session:
        [item] = [i for i in queries.all_items(session) if i.version_count == 2]
    assert item.id is not None
    return source_id, item.id


@pytest.mark.parametrize("fmt", ["html", "side-by-side"])
def test_html_diffs_carry_the_pages_policy(engine: Engine, edited: tuple[int, int], fmt: str):
    _, item_id = edited
    with TestClient(create_app(engine)) as client:
        response = client.get(f"/api/items/{item_id}/diff", params={"format": fmt})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert response.headers["x-content-type-options"] == "nosniff"


def _every_get_path(client: TestClient, source_id: int, item_id: int) -> list[str]:
    """Every GET path of the schema, ids filled in, and the pages outside the schema."""
    schema = client.get("/openapi.json").json()
    filled = {"{item_id}": str(item_id), "{source_id}": str(source_id), "{tag}": "Mexico"}
    paths = []
    for path, operations in schema["paths"].items():
        if "get" in operations:
            for name, value in filled.items():
                path = path.replace(name, value)
            paths.append(path)
    return [*paths, "/", "/sources", f"/items/{item_id}", "/docs", "/openapi.json"]


def test_head_works_wherever_get_does(engine: Engine, edited: tuple[int, int]) -> None:
    source_id, item_id = edited
    # With the token: /api/notifications is a read that needs it.
    with TestClient(create_app(engine, ServiceSettings(api_token=TOKEN))) as client:
        paths = _every_get_path(client, source_id, item_id)
        assert len(paths) > 15
        for path in paths:
            got, head = client.get(path, headers=AUTH), client.head(path, headers=AUTH)
            assert got.status_code == 200, path
            assert head.status_code == 200, (path, head.text)
            assert head.content == b""
            assert head.headers["content-type"] == got.headers["content-type"], path
            for response in (got, head):
                assert response.headers["x-content-type-options"] == "nosniff", path


def test_options_and_405_list_every_method_of_the_path(client: TestClient, source_id: int):
    expected = {
        "/api/sources": "GET, HEAD, OPTIONS, POST",
        f"/api/sources/{source_id}": "DELETE, GET, HEAD, OPTIONS, PATCH",
        "/feeds/edits.atom": "GET, HEAD, OPTIONS",
    }
    for path, allowed in expected.items():
        options = client.options(path)
        assert options.status_code == 204, path
        assert options.headers["allow"] == allowed
        refused = client.put(path, json={}, headers=AUTH)
        assert refused.status_code == 405
        assert refused.headers["allow"] == allowed
    assert client.options("/no/such/path").status_code == 404


# -- /docs without internet ---------------------------------------------------------------


def test_docs_reference_only_their_own_assets(client: TestClient) -> None:
    page = client.get("/docs")
    assert page.status_code == 200
    assert page.headers["content-security-policy"] == docs.DOCS_POLICY
    assert "script-src 'self'" in docs.DOCS_POLICY and "unsafe-eval" not in docs.DOCS_POLICY
    references = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert len(references) == 4  # favicon, stylesheet, Swagger UI, its start-up script
    assert "<script>" not in page.text  # no inline script: the policy would block it
    for reference in references:
        assert "//" not in reference and not reference.startswith("/"), reference
        asset = client.get(f"/{reference}")  # relative to /docs
        assert asset.status_code == 200, reference
        assert asset.headers["x-content-type-options"] == "nosniff"
        assert len(asset.content) > 100
    start = client.get("/docs/start.js").text
    assert 'url: "openapi.json"' in start
    assert client.get("/redoc").status_code == 404  # FastAPI's loads from a CDN
