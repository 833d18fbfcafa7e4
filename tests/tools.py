"""What many tests share: a local server standing in for a site or a service, and the
Debian tools (jing, html2text) and optional packages (mkdocs) some tests drive: found, or
the test skips (fails in CI)."""

from __future__ import annotations

import os
import re
import shutil
import ssl
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import NoReturn

import pytest
from pytest_httpserver import HTTPServer
from pytest_httpserver.httpserver import METHOD_ALL
from werkzeug import Request, Response

# How often a local server's thread looks for a request to stop: socketserver's default,
# 0.5 s, was what most of the suite's teardowns waited for (one stop per test).
STOP_POLL_SECONDS = 0.01


class LocalServer(HTTPServer):
    """pytest-httpserver's server, stopped in a hundredth of a second."""

    def thread_target(self) -> None:
        assert self.server is not None
        self.server.serve_forever(poll_interval=STOP_POLL_SECONDS)


@contextmanager
def local_server(
    handler: Callable[[Request], Response],
    path: str = ".*",
    method: str = METHOD_ALL,
    ssl_context: ssl.SSLContext | None = None,
) -> Iterator[HTTPServer]:
    """A threaded server on 127.0.0.1 (a free port) answering each request whose path
    matches the regular expression with handler(request); stopped on leaving. With an
    ssl_context, it answers HTTPS."""
    server = LocalServer(host="127.0.0.1", port=0, threaded=True, ssl_context=ssl_context)
    server.expect_request(re.compile(path), method=method).respond_with_handler(handler)
    server.start()
    try:
        yield server
    finally:
        server.clear()
        if server.is_running():
            server.stop()


def require_tool(name: str, purpose: str) -> str:
    """The Debian tool's path; skip without it, or fail when CI says it must be there."""
    path = shutil.which(name)
    if path is None:
        unavailable(f"{name} is not installed (Debian: apt-get install {name}): {purpose} skipped")
    return path


def require_package(module: str, purpose: str) -> None:
    """Skip unless the Python package is installed (the dev extra has it), or fail when
    CI says it must be there, as require_tool does for Debian's tools."""
    import importlib.util

    if importlib.util.find_spec(module) is None:
        unavailable(f"{module} is not installed (pip install -e '.[dev]'): {purpose} skipped")


def unavailable(reason: str) -> NoReturn:
    """Skip, or fail when CI says what the test needs (a tool, a package, a service)
    must be there: CI sets REDLINE_REQUIRE_SERVICES."""
    if os.environ.get("REDLINE_REQUIRE_SERVICES"):
        pytest.fail(f"{reason} (REDLINE_REQUIRE_SERVICES is set, so this is a failure)")
    pytest.skip(reason)


def require_html2text() -> str:
    return require_tool("html2text", "text-reader legibility check")


def text_reader(html: str) -> str:
    """HTML as a text-mode reader shows it (Debian's html2text, as newsboat and mail readers
    do: styles, <del> and <ins> dropped), whitespace collapsed. Lines are not wrapped:
    html2text breaks them after "(" too, which collapsing would turn into a space that is
    not there."""
    done = subprocess.run(
        [require_html2text(), "-utf8", "-nobs", "-width", "100000"],
        input=html.encode(),
        capture_output=True,
        timeout=60,
        check=True,
    )
    return " ".join(done.stdout.decode().split())
