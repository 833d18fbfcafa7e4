"""/docs in a real browser (Debian's Chromium through Playwright, as tests/test_browser.py):
Swagger UI renders the API's operations with no request leaving 127.0.0.1."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import uvicorn

from feeds.app import create_app
from storage import make_engine, upgrade

from .test_browser import TIMEOUT_MS, browser  # noqa: F401  (the fixture)


@pytest.fixture
def service(tmp_path: Path) -> Iterator[str]:
    engine = make_engine(f"sqlite:///{tmp_path / 'redline.db'}")
    upgrade(engine)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(create_app(engine), log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:  # uvicorn says when it listens; nothing else to wait on
        if not thread.is_alive() or time.monotonic() > deadline:
            pytest.fail("uvicorn did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
        engine.dispose()


def test_docs_render_the_operations_offline(browser: Any, service: str) -> None:  # noqa: F811
    context = browser.new_context()
    context.set_default_timeout(TIMEOUT_MS)
    requested: list[str] = []
    refused: list[str] = []

    def only_local(route: Any) -> None:  # as on a machine without internet
        url = route.request.url
        requested.append(url)
        if url.startswith("data:") or urlsplit(url).hostname == "127.0.0.1":
            route.continue_()
        else:
            refused.append(url)
            route.abort()

    context.route("**/*", only_local)
    page = context.new_page()
    console_errors: list[str] = []
    page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
    page.goto(f"{service}/docs", wait_until="load")
    page.wait_for_selector(".opblock-summary-path")
    shown = set(page.locator(".opblock-summary-path").all_inner_texts())
    assert {"/api/items", "/api/sources", "/feeds/edits.atom"} <= {p.strip() for p in shown}
    assert refused == []
    assert f"{service}/openapi.json" in requested
    assert f"{service}/docs/assets/favicon.png" in requested
    assert not [e for e in console_errors if "Content Security Policy" in e], console_errors
    context.close()
