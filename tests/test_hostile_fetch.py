"""Broken and hostile servers, and fetches that must not reach private addresses.

Every server here is real and listens on 127.0.0.1 (a second one on 127.0.0.2 stands
for "an address the policy refuses"): pytest-httpserver for well-formed answers, and
RawServer, a bare socket server, for servers that drip, reset, lie or never answer.
"""

from __future__ import annotations

import functools
import gzip
import ipaddress
import re
import socket
import struct
import threading
import time
import tracemalloc
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from pytest_httpserver import HTTPServer
from sqlalchemy.engine import Engine
from sqlmodel import select
from werkzeug import Response

from feeds.app import create_app
from feeds.settings import ServiceSettings
from storage import Check, Item, Source, Version, transaction
from tracker.errors import FetchError, HTTPStatusError, UserError
from tracker.fetch import addresses, netguard
from tracker.fetch.addresses import AddressPolicy, parse_networks
from tracker.fetch.client import ACCEPT_ENCODING, MAX_BYTES, fetch, make_client
from tracker.run.check import check_source
from tracker.run.config import load_config
from tracker.run.sources import add_source

from .conftest import TWO_ITEM_RSS

# What is tested here does not depend on the database (see conftest.py).
pytestmark = pytest.mark.one_database

LOOPBACK = AddressPolicy(allow_networks=parse_networks(["127.0.0.0/8", "::1"], "test"))
ONLY_127_0_0_1 = AddressPolicy(allow_networks=parse_networks(["127.0.0.1/32"], "test"))
STRICT = AddressPolicy()


# Servers --------------------------------------------------------------------------

Handler = Callable[[socket.socket, "RawServer"], None]


class RawServer:
    """A TCP server that reads each request's head and hands the socket to `handle`."""

    def __init__(self, handle: Handler, host: str = "127.0.0.1", port: int = 0) -> None:
        self.handle = handle
        self.listener = socket.create_server((host, port))
        self.host, self.port = self.listener.getsockname()[:2]
        self.requests: list[bytes] = []
        self.stop = threading.Event()  # handlers that wait, wait on this
        self.done = threading.Event()  # set when a handler returns
        self.sent = 0  # bytes a handler managed to send (for handlers that count)
        self._threads: list[threading.Thread] = []

    def url(self, path: str = "/") -> str:
        return f"http://{self.host}:{self.port}{path}"

    def __enter__(self) -> RawServer:
        self.listener.settimeout(0.05)
        accepting = threading.Thread(target=self._accept, daemon=True)
        accepting.start()
        self._threads.append(accepting)
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for thread in self._threads:
            thread.join(timeout=5)
        self.listener.close()

    def _accept(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            serving = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            serving.start()
            self._threads.append(serving)

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            try:
                conn.settimeout(10)
                head = b""
                while b"\r\n\r\n" not in head:
                    data = conn.recv(4096)
                    if not data:
                        return
                    head += data
                self.requests.append(head)
                self.handle(conn, self)
            except OSError:
                pass  # the client hung up: that is what many of these tests make it do
            finally:
                self.done.set()


def head(headers: dict[str, str], status: str = "200 OK") -> bytes:
    lines = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    return f"HTTP/1.1 {status}\r\n{lines}\r\n".encode("latin-1")


def answer(body: bytes, headers: dict[str, str] | None = None, status: str = "200 OK") -> bytes:
    return head({"Content-Length": str(len(body)), **(headers or {})}, status) + body


def replying(data: bytes) -> Handler:
    return lambda conn, server: conn.sendall(data)


def reset(conn: socket.socket) -> None:
    """Close with a TCP reset rather than an orderly close."""
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.close()


@contextmanager
def bare_listener(host: str, port: int = 0) -> Iterator[socket.socket]:
    """A socket that listens and never accepts: accept() afterwards tells whether anyone
    connected (the kernel completes a handshake before the client's connect returns)."""
    listener = socket.create_server((host, port))
    try:
        yield listener
    finally:
        listener.close()


def nobody_connected(listener: socket.socket) -> bool:
    listener.setblocking(False)
    try:
        conn, _ = listener.accept()
    except BlockingIOError:
        return True
    conn.close()
    return False


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with make_client(policy=LOOPBACK) as client:
        yield client


def serve(httpserver: HTTPServer, body: bytes, content_type: str | None, **headers: str) -> str:
    response = Response(body, headers=headers)
    if content_type is None:
        del response.headers["Content-Type"]
    else:
        response.headers["Content-Type"] = content_type
    httpserver.expect_request("/page").respond_with_response(response)
    return httpserver.url_for("/page")


# Empty and non-text bodies ------------------------------------------------------------


@pytest.mark.parametrize(
    "reply",
    [
        answer(b"", {"Content-Type": "text/html"}),
        answer(b"", {"Content-Type": "application/rss+xml"}, status="204 No Content"),
        answer(b" \r\n\t \n", {"Content-Type": "text/html; charset=utf-8"}),
        answer(gzip.compress(b""), {"Content-Type": "text/html", "Content-Encoding": "gzip"}),
    ],
    ids=["0 bytes", "204", "only whitespace", "empty gzip"],
)
def test_an_empty_page_is_refused(client: httpx.Client, reply: bytes) -> None:
    # An empty listing must not read as "every item was removed".
    with (
        RawServer(replying(reply)) as server,
        pytest.raises(FetchError, match="the server sent an empty page for http://127"),
    ):
        fetch(client, server.url("/feed"))


PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000") + bytes(300)


@pytest.mark.parametrize(
    ("content_type", "body", "message"),
    [
        ("image/png", PNG, "not a page redline reads: image/png at "),
        ("IMAGE/PNG; charset=utf-8", PNG, "not a page redline reads: image/png at "),
        ("image/svg+xml", b"<svg xmlns='http://www.w3.org/2000/svg'/>", "image/svg\\+xml"),
        ("video/mp4", b"\x00\x00\x00\x18ftypmp42", "not a page redline reads: video/mp4"),
        ("application/octet-stream", PNG, "application/octet-stream \\(not text\\)"),
        ("application/zip", b"PK\x03\x04" + bytes(200), "application/zip \\(not text\\)"),
    ],
)
def test_a_binary_answer_is_not_a_page(
    httpserver: HTTPServer, client: httpx.Client, content_type: str, body: bytes, message: str
) -> None:
    with pytest.raises(FetchError, match=message):
        fetch(client, serve(httpserver, body, content_type))


@pytest.mark.parametrize(
    "content_type", ["application/octet-stream", "binary/octet-stream", "application/x-whatever"]
)
def test_text_served_with_a_vague_type_is_still_read(
    httpserver: HTTPServer, client: httpx.Client, content_type: str
) -> None:
    # Raw file hosts serve feeds and Markdown as octet-stream; the bytes are what matter.
    snapshot = fetch(client, serve(httpserver, TWO_ITEM_RSS.encode(), content_type))
    assert snapshot.text == TWO_ITEM_RSS and snapshot.content_type == content_type


def test_a_missing_content_type_is_read_as_text(
    httpserver: HTTPServer, client: httpx.Client
) -> None:
    snapshot = fetch(client, serve(httpserver, b"# Headline\n", None))
    assert snapshot.content_type is None and snapshot.text == "# Headline\n"


# Character sets --------------------------------------------------------------------

FRENCH = (
    "Le président a démissionné. Après une réunion très tendue, le Premier ministre a "
    "annoncé sa décision : « C’est un échec », a-t-il déclaré à la télévision publique. "
)


@pytest.mark.parametrize(
    ("content_type", "body", "text", "encoding"),
    [
        # The header lies: the bytes are valid UTF-8, which Latin-1 text never is.
        ("text/html; charset=ISO-8859-1", "<p>Café – “quoted”</p>".encode(), None, "utf-8"),
        # No charset in the header: the page says what it is.
        (
            "text/html",
            '<html><head><meta charset="windows-1252"></head><p>Café – “quoted”</p>'.encode(
                "cp1252"
            ),
            None,
            "cp1252",
        ),
        (
            "text/html",
            (
                '<meta http-equiv="Content-Type" content="text/html; charset=windows-1251">'
                "<p>Президент подписал указ</p>"
            ).encode("cp1251"),
            None,
            "cp1251",
        ),
        (
            "application/rss+xml",
            (
                '<?xml version="1.0" encoding="windows-1252"?><rss><title>Café “x”</title></rss>'
            ).encode("cp1252"),
            None,
            "cp1252",
        ),
        # The header says UTF-8, wrongly; the page's own declaration fits the bytes.
        (
            "text/html; charset=utf-8",
            '<meta charset="windows-1252"><p>Café “quoted”</p>'.encode("cp1252"),
            None,
            "cp1252",
        ),
        # A byte-order mark beats every label.
        (
            "text/html; charset=ISO-8859-1",
            b"\xef\xbb\xbf<p>Caf\xc3\xa9</p>",
            "<p>Café</p>",
            "utf-8",
        ),
        ("text/plain", "\ufeffCafé “x”".encode("utf-16-le"), "Café “x”", "utf-16-le"),
        ("text/plain; charset=utf-16", "Café".encode("utf-16-le"), "Café", "utf-16"),
        # Browsers read a Latin-1 label as windows-1252, whose 0x93/0x94 are curly quotes.
        ("text/html; charset=iso-8859-1", "<p>“Café”</p>".encode("cp1252"), None, "cp1252"),
        # No declaration at all: charset-normalizer decides.
        ("text/html", f"<p>{FRENCH}</p>".encode("cp1252"), None, "cp1252"),
        # An unknown or unfit charset name is ignored.
        ("text/html; charset=no-such-charset", "<p>Café</p>".encode(), None, "utf-8"),
        ("text/html; charset=rot13", b"<p>Hello</p>", None, "utf-8"),
    ],
)
def test_text_is_decoded_as_the_bytes_allow(
    httpserver: HTTPServer,
    client: httpx.Client,
    content_type: str,
    body: bytes,
    text: str | None,
    encoding: str,
) -> None:
    snapshot = fetch(client, serve(httpserver, body, content_type))
    assert snapshot.content_type == content_type  # the server sent exactly this
    expected = text if text is not None else body.decode(encoding)
    assert snapshot.text == expected and snapshot.encoding == encoding
    assert snapshot.body == body


@pytest.mark.parametrize(
    ("content_type", "body", "text"),
    [
        (
            "text/html; charset=utf-8",
            b"<p>caf\xc3\xa9 \xff\xfe end</p>",
            "<p>café \ufffd\ufffd end</p>",
        ),
        (
            "text/html",
            f"<p>{FRENCH}".encode() + b"\xff" + f"{FRENCH}</p>".encode(),
            f"<p>{FRENCH}\ufffd{FRENCH}</p>",
        ),
        ("text/html; charset=shift_jis", b"<p>\x82\xa0 \x82</p>", "<p>あ \ufffd</p>"),
    ],
    ids=["declared utf-8", "undeclared, nearly utf-8", "declared shift_jis"],
)
def test_undecodable_bytes_become_replacement_characters(
    httpserver: HTTPServer, client: httpx.Client, content_type: str, body: bytes, text: str
) -> None:
    snapshot = fetch(client, serve(httpserver, body, content_type))
    assert snapshot.text == text


def test_an_undeclared_utf7_page_is_not_decoded_into_markup(
    httpserver: HTTPServer, client: httpx.Client
) -> None:
    # UTF-7 can spell "<script>" without a "<": a charset no page honestly uses.
    body = b"<p>+ADw-script+AD4-alert(1)+ADw-/script+AD4-</p>"
    snapshot = fetch(client, serve(httpserver, body, "text/html; charset=utf-7"))
    assert snapshot.text == body.decode("ascii") and "<script>" not in snapshot.text


def test_nul_and_control_characters_come_back_as_sent(
    httpserver: HTTPServer, client: httpx.Client
) -> None:
    body = b"<p>Head\x00line\x01 with \x1b[31mcontrols\x7f and \xc2\x85 NEL</p>"
    snapshot = fetch(client, serve(httpserver, body, "text/html; charset=utf-8"))
    assert snapshot.body == body and snapshot.text == body.decode("utf-8")


# Size: huge bodies and compression bombs ---------------------------------------------


def _stream_forever(headers: dict[str, str], total: int, chunk: bytes) -> Handler:
    """Send headers, then `total` bytes of `chunk`s (chunked if no length), counting."""

    def handle(conn: socket.socket, server: RawServer) -> None:
        conn.sendall(head(headers))
        chunked = headers.get("Transfer-Encoding") == "chunked"
        frame = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n" if chunked else chunk
        while server.sent < total and not server.stop.is_set():
            conn.sendall(frame)
            server.sent += len(chunk)
        if chunked:
            conn.sendall(b"0\r\n\r\n")

    return handle


@contextmanager
def peak_memory() -> Iterator[list[int]]:
    """The most memory Python allocated inside the block, in bytes (filled on exit)."""
    peak: list[int] = []
    tracemalloc.start()
    try:
        yield peak
    finally:
        peak.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()


FIFTY_MB = 50 * 1024 * 1024


def test_a_50_mb_page_is_cut_at_the_cap_without_reading_it_all(client: httpx.Client) -> None:
    headers = {"Content-Type": "text/html", "Transfer-Encoding": "chunked"}
    with RawServer(_stream_forever(headers, FIFTY_MB, b"a" * 65536)) as server:
        with peak_memory() as peak, pytest.raises(FetchError) as refused:
            fetch(client, server.url("/huge.html"))
        assert server.done.wait(10)  # the server gave up: the client hung up on it
    assert str(refused.value) == f"page larger than {MAX_BYTES} bytes: {server.url('/huge.html')}"
    assert peak[0] < 3 * MAX_BYTES  # reading 50 MB would have taken 50 MB and more
    assert server.sent < FIFTY_MB // 2  # the rest was never sent (socket buffers hold some)


def test_a_declared_50_mb_page_is_refused_before_its_body(client: httpx.Client) -> None:
    headers = {"Content-Type": "text/html", "Content-Length": str(FIFTY_MB)}
    with RawServer(_stream_forever(headers, FIFTY_MB, b"a" * 65536)) as server:
        with pytest.raises(FetchError, match=f"larger than {MAX_BYTES} bytes.*says {FIFTY_MB}"):
            fetch(client, server.url("/huge.html"))
        assert server.done.wait(10)
    assert server.sent < FIFTY_MB // 2


def _gzip_bomb() -> bytes:
    """1 GiB of zeros as 1024 concatenated gzip members: about 1 MB."""
    return gzip.compress(bytes(1 << 20), 9) * 1024


def _deflate_bomb(raw: bool) -> bytes:
    """1 GiB of zeros as one deflate stream (zlib-wrapped, or raw): about 1 MB.
    A fully flushed block depends on nothing before it, so it can be repeated."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    block = compressor.compress(bytes(1 << 20)) + compressor.flush(zlib.Z_FULL_FLUSH)
    stream = block * 1024 + compressor.flush()
    if raw:
        return stream
    checksum = 1
    for _ in range(1024):
        checksum = zlib.adler32(bytes(1 << 20), checksum)
    return b"\x78\xda" + stream + struct.pack(">I", checksum)


@pytest.mark.parametrize(
    ("coding", "make"),
    [
        ("gzip", _gzip_bomb),
        ("deflate", lambda: _deflate_bomb(raw=False)),
        ("deflate", lambda: _deflate_bomb(raw=True)),
    ],
    ids=["gzip", "deflate", "raw deflate"],
)
def test_a_compression_bomb_stops_at_the_cap_on_decoded_bytes(
    client: httpx.Client, coding: str, make: Callable[[], bytes]
) -> None:
    bomb = make()
    assert len(bomb) < 1_200_000 < MAX_BYTES  # small on the wire, 1 GiB once decoded
    reply = answer(bomb, {"Content-Type": "text/html", "Content-Encoding": coding})
    with RawServer(replying(reply)) as server:
        start = time.monotonic()
        with peak_memory() as peak, pytest.raises(FetchError) as refused:
            fetch(client, server.url("/bomb.html"))
    assert str(refused.value) == (
        f"page larger than {MAX_BYTES} bytes: {server.url('/bomb.html')} (once decompressed)"
    )
    assert peak[0] < 3 * MAX_BYTES and time.monotonic() - start < 5


@pytest.mark.parametrize("coding", ["gzip", "x-gzip", "deflate"])
def test_a_compressed_page_within_the_cap_is_decoded(client: httpx.Client, coding: str) -> None:
    page = ("<p>" + FRENCH * 200 + "</p>").encode()
    packed = gzip.compress(page) if "gzip" in coding else zlib.compress(page)
    reply = answer(packed, {"Content-Type": "text/html; charset=utf-8", "Content-Encoding": coding})
    with RawServer(replying(reply)) as server:
        snapshot = fetch(client, server.url("/page.html"))
    assert snapshot.body == page and snapshot.text == page.decode()
    assert f"accept-encoding: {ACCEPT_ENCODING}".encode() in server.requests[0].lower()


@pytest.mark.parametrize(
    ("body", "coding"),
    [
        (b"this is not gzip at all", "gzip"),
        (gzip.compress(f"<p>{FRENCH}</p>".encode())[:-8], "gzip"),  # no end
        (zlib.compress(b"<p>Hello</p>")[:-6], "deflate"),
    ],
    ids=["garbage", "truncated gzip", "truncated deflate"],
)
def test_a_damaged_compressed_page_is_a_clear_error(
    client: httpx.Client, body: bytes, coding: str
) -> None:
    reply = answer(body, {"Content-Type": "text/html", "Content-Encoding": coding})
    with (
        RawServer(replying(reply)) as server,
        pytest.raises(FetchError, match="damaged or incomplete compressed page: http://"),
    ):
        fetch(client, server.url("/page.html"))


@functools.cache
def nested_gzip() -> bytes:
    """256 MB of zeros in two layers of gzip: a few KB (made once: ~1 s)."""
    return gzip.compress(gzip.compress(bytes(1 << 28), 9), 9)


@pytest.mark.parametrize("coding", ["br", "zstd", "gzip, gzip", "compress"])
def test_a_coding_redline_did_not_ask_for_is_refused(client: httpx.Client, coding: str) -> None:
    # Sent unasked (we offer gzip and deflate only). "gzip, gzip" would let a few KB
    # stand for gigabytes (each layer multiplies), so layers are refused too.
    nested = nested_gzip()
    assert len(nested) < 100_000
    reply = answer(nested, {"Content-Type": "text/html", "Content-Encoding": coding})
    with (
        RawServer(replying(reply)) as server,
        pytest.raises(FetchError, match=f"compressed the page as '{coding}', which redline"),
    ):
        fetch(client, server.url("/page.html"))
    assert b"br" not in server.requests[0].lower().split(b"accept-encoding:")[1].split(b"\r\n")[0]


# Redirects --------------------------------------------------------------------------


def _chain(httpserver: HTTPServer, hops: int) -> str:
    for n in range(hops):
        target = f"/hop{n + 1}" if n + 1 < hops else "/end"
        httpserver.expect_request(f"/hop{n}").respond_with_response(
            Response("", status=302 if n % 2 else 301, headers={"Location": target})
        )
    httpserver.expect_request("/end").respond_with_data("# The page\n", content_type="text/plain")
    return httpserver.url_for("/hop0")


def test_ten_redirects_reach_the_page_and_the_final_url_is_kept(
    httpserver: HTTPServer, client: httpx.Client
) -> None:
    snapshot = fetch(client, _chain(httpserver, 10))
    assert snapshot.requested_url == httpserver.url_for("/hop0")
    assert snapshot.final_url == httpserver.url_for("/end") and snapshot.text == "# The page\n"


def test_eleven_redirects_are_too_many(httpserver: HTTPServer, client: httpx.Client) -> None:
    with pytest.raises(FetchError, match=r"too many redirects \(more than 10\) from http://"):
        fetch(client, _chain(httpserver, 11))


def test_a_redirect_loop_is_stopped(httpserver: HTTPServer, client: httpx.Client) -> None:
    httpserver.expect_request("/a").respond_with_response(
        Response("", status=302, headers={"Location": "/b"})
    )
    httpserver.expect_request("/b").respond_with_response(
        Response("", status=307, headers={"Location": httpserver.url_for("/a")})
    )
    with pytest.raises(FetchError, match="too many redirects"):
        fetch(client, httpserver.url_for("/a"))


@pytest.mark.parametrize(
    ("location", "message"),
    [
        ("file:///etc/passwd", "it leads to an address that is not http or https"),
        ("gopher://127.0.0.1:70/", "it leads to an address that is not http or https"),
        ("http://xn--zz/", r"it leads to an address that is not valid \(.*A-label"),
        ("http://[::1/", "is not HTTP \\(Invalid URL in location header"),
        (None, r"HTTP 301 Moved Permanently from http://\S+ \(a redirect with nowhere to go\)"),
    ],
)
def test_a_redirect_nowhere_useful_is_a_clear_error(
    client: httpx.Client, location: str | None, message: str
) -> None:
    headers = {"Location": location} if location else {}
    with (
        RawServer(replying(answer(b"", headers, "301 Moved Permanently"))) as server,
        pytest.raises(FetchError, match=message),
    ):
        fetch(client, server.url("/moved"))


# Slow and silent servers -------------------------------------------------------------


# A byte every quarter of a second: each read returns long before the 20 s read timeout,
# and the whole answer would take 25 s, far past the half-second deadline below.
DRIP_SECONDS = 0.25
DEADLINE_SECONDS = 0.5


def _drip(head: bytes, body_length: int | None) -> Handler:
    """One byte every DRIP_SECONDS."""

    def handle(conn: socket.socket, server: RawServer) -> None:
        if body_length is None:  # drip the status line and headers themselves
            payload = head
        else:
            conn.sendall(head)
            payload = b"x" * body_length
        for byte in payload:
            if server.stop.wait(DRIP_SECONDS):
                return
            conn.sendall(bytes([byte]))

    return handle


@pytest.mark.parametrize(
    "handler",
    [
        _drip(head({"Content-Type": "text/html", "Content-Length": "100"}), 100),
        _drip(head({"Content-Type": "text/html", "Content-Length": "100"}), None),
        lambda conn, server: server.stop.wait(30),  # accepts, reads, never answers
    ],
    ids=["drips the body", "drips the headers", "never answers"],
)
def test_the_total_deadline_holds_whatever_the_server_does(
    client: httpx.Client, handler: Handler
) -> None:
    with RawServer(handler) as server:
        start = time.monotonic()
        with pytest.raises(FetchError) as refused:
            fetch(client, server.url("/slow"), total_seconds=DEADLINE_SECONDS)
        elapsed = time.monotonic() - start
    message = f"fetch took longer than {DEADLINE_SECONDS} s in all: {server.url('/slow')}"
    assert str(refused.value) == message
    assert DEADLINE_SECONDS - 0.05 <= elapsed < DEADLINE_SECONDS + 1.5


def test_a_silent_server_times_out_after_the_read_timeout() -> None:
    with (
        RawServer(lambda conn, server: server.stop.wait(30)) as server,
        make_client(policy=LOOPBACK, timeout=httpx.Timeout(0.5)) as client,
    ):
        start = time.monotonic()
        with pytest.raises(FetchError, match="the server sent nothing for 0.5 s"):
            fetch(client, server.url("/silent"), total_seconds=30)
        assert time.monotonic() - start < 5


# Broken connections -------------------------------------------------------------------


def _reset_mid_body(conn: socket.socket, server: RawServer) -> None:
    conn.sendall(answer(b"<p>" + b"x" * 1000, {"Content-Type": "text/html"})[:-600])
    reset(conn)


def _close_mid_chunk(conn: socket.socket, server: RawServer) -> None:
    headers = {"Content-Type": "text/html", "Transfer-Encoding": "chunked"}
    conn.sendall(head(headers) + b"400\r\n<p>only part")


@pytest.mark.parametrize(
    "handler",
    [
        _reset_mid_body,
        _close_mid_chunk,
        lambda conn, server: reset(conn),  # after reading the request, before any answer
        lambda conn, server: None,  # an orderly close, with no answer
        replying(b"SSH-2.0-OpenSSH_9.6\r\n\r\n"),  # not HTTP at all
        replying(b"HTTP/1.1 200 OK\r\nContent-Length: lots\r\n\r\nabc"),
    ],
    ids=["reset mid-body", "closed mid-chunk", "reset before answering", "closed", "not http",
         "bad length"],
)  # fmt: skip
def test_a_broken_connection_is_a_fetch_error(client: httpx.Client, handler: Handler) -> None:
    with (
        RawServer(handler) as server,
        pytest.raises(FetchError, match=r"^could not fetch http://127\.0\.0\.1:\d+/x: the "),
    ):
        fetch(client, server.url("/x"))


def test_a_closed_port_is_a_fetch_error(client: httpx.Client) -> None:
    with bare_listener("127.0.0.1") as listener:
        port = listener.getsockname()[1]
    with pytest.raises(FetchError, match=f"could not fetch http://127.0.0.1:{port}/: .*refused"):
        fetch(client, f"http://127.0.0.1:{port}/")


# Error statuses --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "headers", "retry_after", "message"),
    [
        ("404 NOT FOUND", {}, None, "HTTP 404 Not Found from "),
        ("410 Gone", {}, None, "HTTP 410 Gone from "),
        ("429 Too Many", {"Retry-After": "120"}, "120", "HTTP 429 Too Many Requests from "),
        (
            "503 Service Unavailable",
            {"Retry-After": "Wed, 21 Oct 2026 07:28:00 GMT"},
            "Wed, 21 Oct 2026 07:28:00 GMT",
            "HTTP 503 Service Unavailable from ",
        ),
        ("500 Oops", {}, None, "HTTP 500 Internal Server Error from "),
        ("599 <script>alert(1)</script>", {}, None, r"HTTP 599 from http://\S+$"),
        ("503 Busy", {"Retry-After": "9" * 40}, "999999999", "HTTP 503"),
        ("503 Busy", {"Retry-After": "x" * 65}, None, "HTTP 503"),
    ],
)
def test_error_statuses_keep_status_and_retry_after(
    client: httpx.Client,
    status: str,
    headers: dict[str, str],
    retry_after: str | None,
    message: str,
) -> None:
    with (
        RawServer(replying(answer(b"sorry", headers, status))) as server,
        pytest.raises(HTTPStatusError, match=message) as failed,
    ):
        fetch(client, server.url("/page"))
    assert failed.value.status == int(status[:3])
    assert failed.value.retry_after == retry_after


def test_absurd_validators_are_not_kept(httpserver: HTTPServer, client: httpx.Client) -> None:
    # Sent back on every later check, a 10 KB ETag would get the source refused for good.
    url = serve(httpserver, b"<p>x</p>", "text/html", ETag='"' + "e" * 10_000 + '"')
    assert fetch(client, url).etag is None


# Addresses (SSRF) -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("0.0.0.0", "unspecified"),
        ("127.0.0.1", "loopback"),
        ("127.254.0.9", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.1", "private"),
        ("169.254.169.254", "link-local"),
        ("100.64.0.1", "carrier-grade NAT"),
        ("224.0.0.1", "multicast"),
        ("239.255.255.250", "multicast"),
        ("240.0.0.1", "reserved"),
        ("255.255.255.255", "reserved"),
        ("192.0.2.1", "private"),
        ("::", "unspecified"),
        ("::1", "loopback"),
        ("fe80::1", "link-local"),
        ("fc00::1", "private"),
        ("fd12:3456::1", "private"),
        ("ff02::1", "multicast"),
        ("::ffff:127.0.0.1", "loopback"),
        ("::ffff:169.254.169.254", "link-local"),
        ("2002:7f00:1::", "loopback address.* \\(127.0.0.1 inside 2002:7f00:1::\\)"),
        ("64:ff9b::a00:1", "private network address \\(10.0.0.1 inside 64:ff9b::a00:1\\)"),
        ("2001:db8::1", "private"),
    ],
)
def test_non_public_addresses_are_refused(address: str, reason: str) -> None:
    refusal = STRICT.refusal(ipaddress.ip_address(address))
    assert refusal is not None
    assert re.search(reason, refusal), refusal


@pytest.mark.parametrize(
    "address",
    [
        "8.8.8.8",
        "93.184.215.14",
        "2606:4700::1111",
        "::ffff:8.8.8.8",
        "2002:808:808::",
        "64:ff9b::808:808",
    ],
)
def test_public_addresses_are_allowed(address: str) -> None:
    assert STRICT.refusal(ipaddress.ip_address(address)) is None


def test_allowances() -> None:
    ten = AddressPolicy(allow_networks=parse_networks(["10.0.0.0/8"], "test"))
    assert ten.refusal(ipaddress.ip_address("10.9.9.9")) is None
    assert ten.refusal(ipaddress.ip_address("::ffff:10.9.9.9")) is None  # the same address
    assert ten.refusal(ipaddress.ip_address("11.0.0.1")) is None  # public anyway
    assert "private" in (ten.refusal(ipaddress.ip_address("192.168.0.1")) or "")
    assert "loopback" in (ten.refusal(ipaddress.ip_address("127.0.0.1")) or "")
    anything = AddressPolicy(allow_private=True)
    assert anything.refusal(ipaddress.ip_address("169.254.169.254")) is None
    with pytest.raises(UserError, match="test: '10.0.0.0/33' is not a network"):
        parse_networks(["10.0.0.0/33"], "test")


@pytest.mark.parametrize(
    ("url", "said"),
    [
        ("http://127.0.0.1:{port}/", "127.0.0.1 is a loopback address"),
        ("http://localhost:{port}/", "localhost resolves to 127.0.0.1, a loopback address"),
        ("http://[::ffff:127.0.0.1]:{port}/", "::ffff:127.0.0.1 is 127.0.0.1, a loopback address"),
        ("http://2130706433:{port}/", "2130706433 is 127.0.0.1, a loopback address"),
        ("http://127.1:{port}/", "127.1 is 127.0.0.1, a loopback address"),
    ],
)
def test_a_fetch_to_this_machine_is_refused_before_connecting(url: str, said: str) -> None:
    with bare_listener("127.0.0.1") as listener, make_client(policy=STRICT) as client:
        url = url.format(port=listener.getsockname()[1])
        with pytest.raises(FetchError) as refused:
            fetch(client, url)
        assert nobody_connected(listener)
    assert str(refused.value) == (
        f"refused to fetch {url}: {said} (this machine); redline fetches only public "
        'addresses unless allowed: set [fetch] allow_networks = ["127.0.0.1/32"] or '
        "allow_private = true in redline.toml"
    )


def test_the_unspecified_address_is_refused_even_with_loopback_allowed(
    client: httpx.Client,
) -> None:
    with bare_listener("0.0.0.0") as listener:
        port = listener.getsockname()[1]
        with pytest.raises(FetchError, match="0.0.0.0 is an unspecified address"):
            fetch(client, f"http://0.0.0.0:{port}/")
        assert nobody_connected(listener)


def test_a_name_resolving_to_a_metadata_service_is_refused(
    client: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[str] = []

    def resolve(host: str, port: int) -> list[addresses.IPAddress]:
        asked.append(host)
        return [ipaddress.ip_address("169.254.169.254")]

    monkeypatch.setattr(netguard, "resolve", resolve)
    with pytest.raises(FetchError, match="metadata.test resolves to 169.254.169.254, a link-local"):
        fetch(client, "http://metadata.test/latest/meta-data/")
    assert asked == ["metadata.test"]


def test_every_redirect_hop_is_checked() -> None:
    # 127.0.0.1 stands for a public site, 127.0.0.2 for an address the policy refuses.
    with bare_listener("127.0.0.2") as private:
        target = f"http://127.0.0.2:{private.getsockname()[1]}/admin"
        redirect = answer(b"", {"Location": target}, "302 Found")
        with (
            RawServer(replying(redirect)) as public,
            make_client(policy=ONLY_127_0_0_1) as client,
            pytest.raises(FetchError) as refused,
        ):
            fetch(client, public.url("/innocent"))
        assert nobody_connected(private)
    assert len(public.requests) == 1
    assert str(refused.value).startswith(
        f"refused to fetch {public.url('/innocent')}: 127.0.0.2 is a loopback address"
    )


def test_the_connection_goes_to_the_address_that_was_checked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """DNS rebinding: the name first resolves to an allowed address, then to a refused
    one. One lookup is made, and the connection goes where it said."""
    real_getaddrinfo = socket.getaddrinfo
    lookups: list[str] = []

    def getaddrinfo(host: object, port: object, *args: object, **kwargs: object) -> list:
        flags = kwargs.get("flags", args[3] if len(args) > 3 else 0)
        if host != "rebind.test" or int(flags) & socket.AI_NUMERICHOST:  # type: ignore[call-overload]
            return real_getaddrinfo(host, port, *args, **kwargs)  # type: ignore[arg-type]
        lookups.append(str(host))
        address = "127.0.0.1" if len(lookups) == 1 else "127.0.0.2"
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]

    page = answer(b"# From the checked address\n", {"Content-Type": "text/plain"})
    with RawServer(replying(page)) as checked, bare_listener("127.0.0.2", checked.port) as other:
        monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
        with make_client(policy=ONLY_127_0_0_1) as client:
            snapshot = fetch(client, f"http://rebind.test:{checked.port}/")
        monkeypatch.undo()
        assert nobody_connected(other)
    assert snapshot.text == "# From the checked address\n" and lookups == ["rebind.test"]
    assert f"host: rebind.test:{checked.port}".encode() in checked.requests[0].lower()


def test_only_allowed_addresses_of_a_name_are_tried(monkeypatch: pytest.MonkeyPatch) -> None:
    page = answer(b"# ok\n", {"Content-Type": "text/plain"})
    with RawServer(replying(page)) as allowed, bare_listener("127.0.0.2", allowed.port) as other:
        monkeypatch.setattr(
            netguard,
            "resolve",
            lambda host, port: [ipaddress.ip_address(a) for a in ("127.0.0.2", "127.0.0.1")],
        )
        with make_client(policy=ONLY_127_0_0_1) as client:
            assert fetch(client, f"http://two.test:{allowed.port}/").text == "# ok\n"
        assert nobody_connected(other)


def test_an_unknown_host_is_a_clear_error(
    client: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    def resolve(host: str, port: int) -> list[addresses.IPAddress]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(netguard, "resolve", resolve)
    with pytest.raises(
        FetchError,
        match="could not fetch http://nowhere.test/: could not find the address of "
        r"nowhere.test \(Name or service not known\)",
    ):
        fetch(client, "http://nowhere.test/")


def test_a_slow_lookup_counts_against_the_deadline(
    client: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    released = threading.Event()

    def resolve(host: str, port: int) -> list[addresses.IPAddress]:
        released.wait(30)  # a resolver that hangs
        return []

    monkeypatch.setattr(netguard, "resolve", resolve)
    start = time.monotonic()
    try:
        with pytest.raises(FetchError, match="fetch took longer than 1 s in all"):
            fetch(client, "http://slow-dns.test/", total_seconds=1)
    finally:
        released.set()
    assert time.monotonic() - start < 2.5


# Adding sources, and the configuration -------------------------------------------------

PRIVATE_LITERALS = [
    "http://127.0.0.1/feed.xml",
    "https://[::1]:8443/",
    "http://169.254.169.254/latest/meta-data/",
    "http://[::ffff:10.0.0.1]/",
    "http://2130706433/",
    "http://0.0.0.0:8000/",
    "http://[fd00::1]/",
    "http://100.64.1.1/",
]


@pytest.fixture
def strict_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """This process, and the commands it runs, without the suite's loopback allowance."""
    monkeypatch.delenv(addresses.ENV_ALLOW, raising=False)


@pytest.mark.parametrize("url", PRIVATE_LITERALS)
def test_adding_a_literal_private_address_is_refused(
    engine: Engine, strict_env: None, url: str
) -> None:
    with (
        pytest.raises(
            UserError, match=r"^refused \S+: \S+ is an? [^;]+; redline fetches only public"
        ),
        transaction(engine) as session,
    ):
        add_source(session, url)
    with transaction(engine) as session:
        assert session.exec(select(Source)).all() == []


def test_public_literals_and_host_names_are_added_and_checked_at_fetch_time(
    engine: Engine, strict_env: None
) -> None:
    # No lookup at add time: a name's addresses may change; the fetch checks them.
    with transaction(engine) as session:
        add_source(session, "http://93.184.215.14/feed.xml")
        add_source(session, "http://localhost/feed.xml")
        assert len(session.exec(select(Source)).all()) == 2


def test_the_allowance_covers_adding_too(engine: Engine) -> None:
    # The suite allows loopback (tests/conftest.py), so this is accepted.
    with transaction(engine) as session:
        source, added = add_source(session, "http://127.0.0.1:8000/feed.xml")
    assert added and source.id is not None


def test_the_cli_refuses_a_private_address_and_a_bad_allowance(
    cli, strict_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    refused = cli("add", "http://169.254.169.254/latest/meta-data/", check=False)
    assert refused.code == 2
    assert refused.stderr.startswith(
        "redline: refused http://169.254.169.254/latest/meta-data/: 169.254.169.254 is a "
        "link-local address"
    )
    monkeypatch.setenv(addresses.ENV_ALLOW, "127.0.0.0/8, localhost")
    bad = cli("add", "http://127.0.0.1/", check=False)
    assert bad.code == 2
    assert bad.stderr == (
        "redline: REDLINE_ALLOW_NETWORKS: 'localhost' is not a network "
        "(examples: 127.0.0.0/8, 10.0.0.5, ::1)\n"
    )
    assert cli("sources", "--json").stdout.strip() == "[]"


def test_the_api_refuses_a_private_address(engine: Engine, strict_env: None) -> None:
    token = "a-token-for-this-test"
    with TestClient(create_app(engine, ServiceSettings(api_token=token))) as api:
        answer_ = api.post(
            "/api/sources",
            json={"url": "http://[::1]:8000/feed.xml"},
            headers={"Authorization": f"Bearer {token}"},
        )
    assert answer_.status_code == 400
    assert "::1 is a loopback address" in answer_.text


def _toml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "redline.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_fetch_table_of_the_configuration(tmp_path: Path, strict_env: None) -> None:
    assert load_config(_toml(tmp_path, "")).fetch == AddressPolicy()
    config = load_config(_toml(tmp_path, '[fetch]\nallow_networks = ["10.0.0.0/8", "::1"]\n'))
    assert config.fetch.refusal(ipaddress.ip_address("10.1.1.1")) is None
    assert config.fetch.refusal(ipaddress.ip_address("::1")) is None
    assert config.fetch.refusal(ipaddress.ip_address("127.0.0.1")) is not None
    assert load_config(_toml(tmp_path, "[fetch]\nallow_private = true\n")).fetch.allow_private
    addresses.configure(config.fetch)  # what the command line does with it
    try:
        assert addresses.current_policy().refusal(ipaddress.ip_address("10.1.1.1")) is None
        addresses.check_url_host("http://10.0.0.1/")
        with pytest.raises(UserError, match="192.168.0.1 is a private network address"):
            addresses.check_url_host("http://[::ffff:192.168.0.1]/")
    finally:
        addresses.configure(None)
    assert addresses.current_policy() == AddressPolicy()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[fetch]\nallow_private = 'yes'\n", r"\[fetch\] allow_private is true or false"),
        ("[fetch]\nallow_networks = '10.0.0.0/8'\n", r"\[fetch\] allow_networks is a list"),
        ("[fetch]\nallow_networks = ['intranet']\n", "'intranet' is not a network"),
        ("[fetch]\nallow_privat = true\n", r"unknown \[fetch\] setting 'allow_privat'"),
        ("fetch = 3\n", r"\[fetch\] is a table"),
    ],
)
def test_a_bad_fetch_table_names_the_problem(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(UserError, match=message):
        load_config(_toml(tmp_path, text))


# Through a check: nothing stored is lost --------------------------------------------------


def _stored(engine: Engine) -> list[tuple]:
    with transaction(engine) as session:
        items = [
            (i.id, i.key, i.url, i.headline, i.removed_at, i.version_count)
            for i in session.exec(select(Item).order_by(Item.id))
        ]
        versions = [
            (v.id, v.item_id, v.n, v.headline, v.summary, v.content_hash, v.observed_at)
            for v in session.exec(select(Version).order_by(Version.id))
        ]
    return items + versions


HOSTILE = {
    "empty": answer(b"", {"Content-Type": "application/rss+xml"}),
    "png": answer(PNG, {"Content-Type": "image/png"}),
    "gzip bomb": answer(_gzip_bomb(), {"Content-Type": "text/xml", "Content-Encoding": "gzip"}),
    "truncated": answer(TWO_ITEM_RSS.encode(), {"Content-Type": "text/xml"})[:-200],
    "brotli": answer(b"\x1b\x03\x00", {"Content-Type": "text/xml", "Content-Encoding": "br"}),
}


@pytest.mark.parametrize("hostile", sorted(HOSTILE))
def test_a_hostile_answer_after_a_good_one_changes_nothing_stored(
    engine: Engine, hostile: str
) -> None:
    replies = [answer(TWO_ITEM_RSS.encode(), {"Content-Type": "application/rss+xml"})]

    def handle(conn: socket.socket, server: RawServer) -> None:
        reply = replies[0]
        if reply is HOSTILE["truncated"]:
            conn.sendall(reply)
            reset(conn)
        else:
            conn.sendall(reply)

    with RawServer(handle) as server, make_client(policy=LOOPBACK) as client:
        with transaction(engine) as session:
            source_id = add_source(session, server.url("/feed.xml"))[0].id
        assert source_id is not None
        assert check_source(engine, source_id, client).outcome == "changed"
        before = _stored(engine)
        assert len(before) == 4  # two items, a version each
        replies[0] = HOSTILE[hostile]
        result = check_source(engine, source_id, client)
    assert result.outcome == "error" and result.error
    assert _stored(engine) == before
    with transaction(engine) as session:
        source = session.get(Source, source_id)
        assert source is not None and source.last_error == result.error
        assert source.consecutive_failures == 1
        outcomes = [c.outcome for c in session.exec(select(Check).order_by(Check.id))]
    assert outcomes == ["changed", "error"]


def test_a_redirect_to_a_refused_address_is_an_error_check(engine: Engine) -> None:
    with bare_listener("127.0.0.2") as private:
        target = f"http://127.0.0.2:{private.getsockname()[1]}/"
        with (
            RawServer(replying(answer(b"", {"Location": target}, "302 Found"))) as server,
            make_client(policy=ONLY_127_0_0_1) as client,
        ):
            with transaction(engine) as session:
                source_id = add_source(session, server.url("/feed.xml"))[0].id
            assert source_id is not None
            result = check_source(engine, source_id, client)
        assert nobody_connected(private)
    assert result.outcome == "error"
    assert result.error and result.error.startswith(f"refused to fetch {server.url('/feed.xml')}")


def test_the_fetch_table_of_redline_toml_reaches_the_cli(cli, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.delenv("REDLINE_ALLOW_NETWORKS")  # the test suite's own loopback allowance
    refused = cli("add", "http://10.1.2.3/page.md", check=False)
    assert refused.code == 2 and "10.1.2.3 is a private network address" in refused.stderr
    config = tmp_path / "redline.toml"
    config.write_text('[fetch]\nallow_networks = ["10.0.0.0/8"]\n')
    allowed = cli("--config", str(config), "add", "http://10.1.2.3/page.md")
    assert "added: source 1 http://10.1.2.3/page.md" in allowed.stdout
