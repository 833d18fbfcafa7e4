"""The service's guards as an operator relies on them (issue 15, "Operators"): the write
limit, proxy headers, security headers, HEAD and OPTIONS, and /docs without internet."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from feeds import api
from feeds.app import create_app
from feeds.settings import ServiceSettings

from .conftest import redline_command
from .test_tracking import add

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


def test_bogus_writes_never_lock_out_the_token_holder(client: TestClient, source_id: int):
    path = f"/api/sources/{source_id}"
    bogus = [
        client.patch(path, json={}, headers={"Authorization": "Bearer guess"}).status_code
        for _ in range(api.WRITES_PER_MINUTE + 5)
    ]
    assert bogus == [401] * api.WRITES_PER_MINUTE + [429] * 5  # guessing is limited
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
        statuses = _rotating_writes(base, source_id, api.WRITES_PER_MINUTE + 1)
    assert statuses == [200] * api.WRITES_PER_MINUTE + [429]


def test_forwarded_headers_are_believed_from_configured_proxies(
    tmp_path: Path, db_url: str, source_id: int
):
    with _serve(tmp_path, db_url, 'forwarded_allow_ips = ["127.0.0.1"]') as base:
        statuses = _rotating_writes(base, source_id, api.WRITES_PER_MINUTE + 1)
    assert statuses == [200] * (api.WRITES_PER_MINUTE + 1)  # each reader counts apart


def test_a_bad_forwarded_allow_ips_is_refused(tmp_path: Path, cli) -> None:
    config = tmp_path / "redline.toml"
    config.write_text("[serve]\nforwarded_allow_ips = 7\n")
    result = cli("--config", str(config), "serve", check=False)
    assert result.code == 2
    assert result.stderr.startswith("redline: [serve] forwarded_allow_ips")
    assert "serving on" not in result.stderr
