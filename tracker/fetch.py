"""Fetching a page over HTTP: conditional GET, timeouts, a size cap, clear errors."""

from __future__ import annotations

import time
from dataclasses import dataclass

import httpx

from tracker import __version__
from tracker.errors import FetchError, HTTPStatusError

USER_AGENT = f"redline/{__version__} (+https://github.com/redline-news/redline)"
MAX_BYTES = 5 * 1024 * 1024  # a news page is far smaller; anything larger is refused
TIMEOUT = httpx.Timeout(20.0, connect=10.0)
TOTAL_SECONDS = 60.0  # a whole fetch, however slowly the server drips bytes
MAX_REDIRECTS = 10


@dataclass
class Snapshot:
    """What one fetch brought back."""

    requested_url: str
    final_url: str  # after redirects
    status: int
    not_modified: bool
    body: bytes
    text: str
    content_type: str | None
    etag: str | None
    last_modified: str | None


def make_client(pool_size: int = 10) -> httpx.Client:
    """A client for fetching sources; pool_size: connections kept, for concurrent checks."""
    return httpx.Client(
        limits=httpx.Limits(
            max_connections=max(pool_size, 10), max_keepalive_connections=pool_size
        ),
        timeout=TIMEOUT,
        follow_redirects=True,
        max_redirects=MAX_REDIRECTS,
        headers={"User-Agent": USER_AGENT},
    )


def fetch(
    client: httpx.Client,
    url: str,
    etag: str | None = None,
    last_modified: str | None = None,
    max_bytes: int = MAX_BYTES,
) -> Snapshot:
    """GET the URL; a 304 answer to the conditional headers comes back as not_modified."""
    headers = {}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    deadline = time.monotonic() + TOTAL_SECONDS
    try:
        with client.stream("GET", url, headers=headers) as response:
            if response.status_code == 304:
                return _snapshot(url, response, b"", not_modified=True)
            if response.status_code >= 400:
                raise HTTPStatusError(
                    f"HTTP {response.status_code} {response.reason_phrase} from {url}",
                    response.status_code,
                    response.headers.get("retry-after"),
                )
            body = _read_capped(response, max_bytes, deadline, url)
            return _snapshot(url, response, body, not_modified=False)
    except httpx.TooManyRedirects:
        raise FetchError(f"too many redirects (more than {MAX_REDIRECTS}) from {url}") from None
    except httpx.TimeoutException:
        raise FetchError(f"timed out fetching {url}") from None
    except httpx.HTTPError as error:
        raise FetchError(f"could not fetch {url}: {error or type(error).__name__}") from None


def _read_capped(response: httpx.Response, max_bytes: int, deadline: float, url: str) -> bytes:
    # iter_bytes yields decoded (decompressed) bytes, so the cap also stops compression bombs.
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_bytes():
        size += len(chunk)
        if size > max_bytes:
            raise FetchError(f"page larger than {max_bytes} bytes: {url}")
        if time.monotonic() > deadline:
            raise FetchError(f"fetch took longer than {TOTAL_SECONDS:.0f} s: {url}")
        chunks.append(chunk)
    return b"".join(chunks)


def _snapshot(url: str, response: httpx.Response, body: bytes, not_modified: bool) -> Snapshot:
    encoding = response.charset_encoding or "utf-8"
    try:
        text = body.decode(encoding, errors="replace")
    except LookupError:  # an unknown charset name in the Content-Type header
        text = body.decode("utf-8", errors="replace")
    return Snapshot(
        requested_url=url,
        final_url=str(response.url),
        status=response.status_code,
        not_modified=not_modified,
        body=body,
        text=text,
        content_type=response.headers.get("content-type"),
        etag=response.headers.get("etag"),
        last_modified=response.headers.get("last-modified"),
    )
