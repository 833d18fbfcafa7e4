"""Fetching: conditional GET, redirects, the size cap and error messages, against 127.0.0.1."""

from __future__ import annotations

import ssl
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest
from werkzeug import Request, Response

from tests.tools import STOP_POLL_SECONDS, local_server, require_tool
from tracker.errors import FetchError
from tracker.fetch.client import fetch, make_client
from tracker.notify import targets
from tracker.run import wayback

from .conftest import Site


def test_conditional_get_and_redirects(site: Site) -> None:
    site.publish("/new.md", "# Headline\n")
    site.move("/new.md", "/newer.md")
    site.publish("/newer.md", "# Headline, edited\n")
    with make_client() as client:
        first = fetch(client, site.url("/new.md"))
        assert first.status == 200 and not first.not_modified
        assert first.requested_url == site.url("/new.md")
        assert first.final_url == site.url("/newer.md")
        assert first.text == "# Headline, edited\n" and first.etag
        again = fetch(client, site.url("/newer.md"), etag=first.etag)
    assert again.not_modified and again.body == b""


def test_a_page_over_the_size_cap_is_refused(site: Site) -> None:
    url = site.publish("/huge.md", "# Big\n" + "word " * 50_000)
    with make_client() as client:
        assert len(fetch(client, url).body) > 250_000
        with pytest.raises(FetchError, match="larger than 100000 bytes"):
            fetch(client, url, max_bytes=100_000)


def test_error_statuses_and_unreachable_hosts_are_fetch_errors(site: Site) -> None:
    with make_client() as client:
        with pytest.raises(FetchError, match="HTTP 404 NOT FOUND|HTTP 404 Not Found"):
            fetch(client, site.url("/missing.md"))
        with pytest.raises(FetchError, match="HTTP 503"):
            fetch(client, site.fail("/busy.md", 503))
        # Port 9 on loopback (discard) has no listener here: connection refused.
        with pytest.raises(FetchError, match="could not fetch http://127.0.0.1:9/"):
            fetch(client, "http://127.0.0.1:9/")


@pytest.fixture(scope="module")
def self_signed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """An HTTPS page on 127.0.0.1 whose certificate no authority signed."""
    openssl = require_tool("openssl", "the certificate check over TLS")
    folder = tmp_path_factory.mktemp("tls")
    key, cert = folder / "key.pem", folder / "cert.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"]
        + ["-subj", "/CN=127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)

    def page(request: Request) -> Response:
        return Response("# Headline\n", headers={"Content-Type": "text/markdown"})

    with local_server(page, ssl_context=context) as server:
        yield server.url_for("/page.md")


def test_every_kind_of_client_refuses_a_certificate_no_authority_signed(self_signed: str) -> None:
    # The clients share one TLS context (made once, as loading the certificates is slow):
    # it still checks certificates, for sources, webhooks and the archive alike.
    for make in (make_client, targets.make_client, wayback.make_client):
        with make() as client, pytest.raises(FetchError, match="certificate verify failed"):
            fetch(client, self_signed)


def test_a_redirect_loop_is_a_clear_error(site: Site) -> None:
    site.redirects["/a.md"] = "/b.md"
    site.redirects["/b.md"] = "/a.md"
    with make_client() as client, pytest.raises(FetchError, match="too many redirects"):
        fetch(client, site.url("/a.md"))


class _KeepAlive(BaseHTTPRequestHandler):
    """A page with an ETag over HTTP/1.1 keep-alive; counts the connections it is asked on."""

    protocol_version = "HTTP/1.1"
    connections: ClassVar[list[int]] = []

    def setup(self) -> None:
        super().setup()
        self.connections.append(self.server.server_address[1])

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        if self.headers.get("If-None-Match") == '"v1"':
            self.send_response(304)
            self.send_header("ETag", '"v1"')
            self.end_headers()
            return
        body = b"# Headline\n"
        self.send_response(200)
        self.send_header("ETag", '"v1"')
        self.send_header("Content-Type", "text/markdown")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def keep_alive_servers() -> Iterator[list[str]]:
    """Twelve sites (one port each), keeping connections open."""
    _KeepAlive.connections = []
    servers = [ThreadingHTTPServer(("127.0.0.1", 0), _KeepAlive) for _ in range(12)]
    for server in servers:
        server.daemon_threads = True
        threading.Thread(
            target=server.serve_forever, args=(STOP_POLL_SECONDS,), daemon=True
        ).start()
    yield [f"http://127.0.0.1:{server.server_address[1]}/page.md" for server in servers]
    for server in servers:
        server.shutdown()
        server.server_close()


def test_304s_reuse_one_connection_per_host_as_hosts_take_turns(
    keep_alive_servers: list[str],
) -> None:
    """A 304's (empty) body is read, so its connection goes back to its host's pool
    (tracker/fetch/host_pools.py): one is kept per host of the round, more than the
    checks in flight."""
    urls = keep_alive_servers
    with make_client(pool_size=2) as client:
        for _ in range(3):  # hosts take turns, as a round's checks do
            for url in urls:
                assert fetch(client, url, etag='"v1"').not_modified
    assert len(_KeepAlive.connections) == len(urls)  # one each, not one per request (36)
