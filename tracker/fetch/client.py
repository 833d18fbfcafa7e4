"""Fetching a page over HTTP: conditional GET, timeouts, a size cap, clear errors.

Servers on the open web are broken or hostile now and then; every way a fetch can go
wrong ends as a FetchError whose message says what happened:

- addresses: only public ones (addresses.py), checked after DNS and on every redirect
  (netguard.py);
- time: 10 s to connect, 20 s without data, TOTAL_SECONDS for the whole fetch, however
  slowly the server drips bytes (the deadline bounds every wait, not just the gaps
  between chunks);
- size: MAX_BYTES, counted on the bytes as received and again once decompressed, so a
  "gzip bomb" stops at the cap; redline decompresses itself, a bounded piece at a time;
- content: an empty page, or a type that is not text (images, audio, video, fonts;
  application/octet-stream and other unknown types only when the bytes are not text:
  servers often mislabel feeds and Markdown so, and the extractors read those fine);
- text: decoded from a byte-order mark, else as UTF-8 when the bytes are valid UTF-8
  (whatever the server claims: valid UTF-8 is almost never an accident), else as the
  header or the page itself declares (<meta charset>, <?xml encoding?>), else as
  charset-normalizer guesses; bytes that fit no encoding become U+FFFD.
"""

from __future__ import annotations

import codecs
import http
import re
import zlib
from dataclasses import dataclass, field

import charset_normalizer
import httpx

from tracker import __version__
from tracker.errors import FetchError, HTTPStatusError
from tracker.fetch import addresses, host_pools, netguard
from tracker.normalise import redact_url

USER_AGENT = f"redline/{__version__} (+https://github.com/redline-news/redline)"
MAX_BYTES = 5 * 1024 * 1024  # a news page is far smaller; anything larger is refused
TIMEOUT = httpx.Timeout(20.0, connect=10.0)
TOTAL_SECONDS = 60.0  # a whole fetch, however slowly the server drips bytes
MAX_REDIRECTS = 10
# What redline decompresses itself (bounded); said explicitly so that installing brotli
# or zstandard does not make httpx offer codings redline does not read.
ACCEPT_ENCODING = "gzip, deflate"
BLOCKING_HEADERS = ("cf-mitigated", "x-amzn-waf-action")
MAX_VALIDATOR = 1024  # a longer ETag / Last-Modified is nonsense; sending it back may fail


@dataclass
class Snapshot:
    """What one fetch brought back."""

    requested_url: str  # both URLs without credentials (see redact_url)
    final_url: str  # after redirects
    status: int
    not_modified: bool
    body: bytes  # decompressed, otherwise as received
    text: str
    content_type: str | None
    etag: str | None
    last_modified: str | None
    encoding: str | None = None  # how text was decoded from body
    # The response headers (names in lower case) that say a CDN blocked the request
    # (tracker/fetch/blocked.py); only those are kept.
    headers: dict[str, str] = field(default_factory=dict)


def make_client(
    pool_size: int = 10,
    policy: addresses.AddressPolicy | None = None,
    timeout: httpx.Timeout = TIMEOUT,
) -> httpx.Client:
    """A client for fetching sources; pool_size: connections in use at once to one host,
    for concurrent checks (a host's connections are kept open between its checks, in a
    pool of its own: tracker/fetch/host_pools.py); policy: which addresses it may reach
    (default: the configured policy)."""
    return httpx.Client(
        transport=host_pools.guarded_host_pools(
            policy or addresses.current_policy(), per_host=pool_size
        ),
        timeout=timeout,
        follow_redirects=True,
        max_redirects=MAX_REDIRECTS,
        headers={"User-Agent": USER_AGENT, "Accept-Encoding": ACCEPT_ENCODING},
    )


def fetch(
    client: httpx.Client,
    url: str,
    etag: str | None = None,
    last_modified: str | None = None,
    max_bytes: int = MAX_BYTES,
    total_seconds: float | None = None,
) -> Snapshot:
    """GET the URL; a 304 answer to the conditional headers comes back as not_modified.

    total_seconds: the whole fetch's limit (default TOTAL_SECONDS).
    """
    headers = {}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    seconds = TOTAL_SECONDS if total_seconds is None else total_seconds
    # Credentials in the URL (user:password@) go to the server as HTTP Basic auth (httpx
    # keeps them on redirects within the origin only); messages and the snapshot show
    # the URL without them.
    shown = redact_url(url)
    with netguard.deadline(seconds) as deadline:
        try:
            with client.stream("GET", url, headers=headers) as response:
                if response.status_code == 304:
                    response.read()  # its empty body, so the connection goes back to the pool
                    return _snapshot(shown, response, b"", not_modified=True)
                _check_status(response, shown)
                kind = _content_kind(response, shown)
                body = _read_capped(response, max_bytes, deadline, shown)
                return _snapshot(shown, response, body, not_modified=False, kind=kind)
        except netguard.AddressRefused as error:
            raise FetchError(f"refused to fetch {shown}: {error}") from None
        except httpx.TooManyRedirects:
            raise FetchError(
                f"too many redirects (more than {MAX_REDIRECTS}) from {shown}"
            ) from None
        except httpx.TimeoutException as error:
            raise FetchError(_timeout_message(error, shown, deadline, client.timeout)) from None
        except httpx.UnsupportedProtocol:
            raise FetchError(
                f"could not fetch {shown}: it leads to an address that is not http or https"
            ) from None
        except (httpx.ReadError, httpx.WriteError) as error:
            raise FetchError(
                f"could not fetch {shown}: the connection broke off ({error})"
            ) from None
        except httpx.RemoteProtocolError as error:
            raise FetchError(
                f"could not fetch {shown}: the server's answer broke off or is not HTTP ({error})"
            ) from None
        except httpx.HTTPError as error:
            raise FetchError(f"could not fetch {shown}: {error or type(error).__name__}") from None
        except (httpx.InvalidURL, UnicodeError) as error:  # UnicodeError: a bad IDNA host name
            raise FetchError(
                f"could not fetch {shown}: it leads to an address that is not valid ({error})"
            ) from None


def _timeout_message(
    error: httpx.TimeoutException, url: str, deadline: netguard.Deadline, timeout: httpx.Timeout
) -> str:
    if deadline.cut_short or deadline.passed:
        return f"fetch took longer than {deadline.seconds:g} s in all: {url}"
    if isinstance(error, httpx.ConnectTimeout):
        return f"timed out connecting for {url} (no answer within {timeout.connect:g} s)"
    return f"timed out fetching {url}: the server sent nothing for {timeout.read:g} s"


def _check_status(response: httpx.Response, url: str) -> None:
    """Anything but a 2xx page is an HTTPStatusError (a 3xx here had nowhere to go)."""
    status = response.status_code
    if 200 <= status < 300:
        return
    try:  # the standard phrase, not the server's (which may say anything, at any length)
        phrase = " " + http.HTTPStatus(status).phrase
    except ValueError:
        phrase = ""
    note = " (a redirect with nowhere to go)" if 300 <= status < 400 else ""
    raise HTTPStatusError(
        f"HTTP {status}{phrase} from {url}{note}",
        status,
        _retry_after(response.headers.get("retry-after")),
    )


def _retry_after(value: str | None) -> str | None:
    """Retry-After as sent, unless it is garbage no scheduler should have to parse."""
    if value is None or len(value) > 64 or not value.isascii() or not value.isprintable():
        return None
    value = value.strip()
    # Seconds beyond ~31 years overflow date arithmetic; the scheduler waits 7 days at most.
    return "999999999" if value.isdigit() and len(value) > 9 else value


# Content types -------------------------------------------------------------------

_NOT_PAGES = ("image", "audio", "video", "font", "model", "multipart")
_TEXT_TYPES = {
    "application/json",
    "application/xml",
    "application/xhtml+xml",
    "application/rss+xml",
    "application/atom+xml",
    "application/rdf+xml",
    "application/csv",
    "application/x-csv",
    "application/markdown",
    "application/x-markdown",
}


def _content_kind(response: httpx.Response, url: str) -> str:
    """ "text", or "unsure" (bytes decide); a type that is never a page is refused now,
    before its body is read."""
    mime = _mime(response.headers.get("content-type"))
    if not mime:
        return "text"
    if mime.split("/", 1)[0] in _NOT_PAGES:
        raise FetchError(f"not a page redline reads: {mime} at {url}")
    if mime.startswith("text/") or mime in _TEXT_TYPES or mime.endswith(("+xml", "+json")):
        return "text"
    return "unsure"


def _mime(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()[:100]


# The body, capped and decompressed -------------------------------------------------


class _Damaged(Exception):
    """The compressed body is not valid gzip/deflate, or ends too soon."""


class _Identity:
    def decode(self, data: bytes, room: int) -> bytes:
        return data

    def finish(self) -> bytes:
        return b""


class _Inflate:
    """gzip or deflate, never producing more than asked for from one call."""

    def __init__(self, gzip: bool) -> None:
        self._gzip = gzip
        self._z = zlib.decompressobj(16 + zlib.MAX_WBITS if gzip else zlib.MAX_WBITS)
        self._started = False

    def decode(self, data: bytes, room: int) -> bytes:
        """At most room + 1 bytes (one more than room means: over the cap)."""
        out = bytearray()
        while data and len(out) <= room:
            if self._z.eof:  # after a gzip member: maybe another; anything else is padding
                if not (self._gzip and data.startswith(b"\x1f\x8b")):
                    break
                self._z = zlib.decompressobj(16 + zlib.MAX_WBITS)
            try:
                out += self._z.decompress(data, room - len(out) + 1)
            except zlib.error:
                if self._gzip or self._started:
                    raise _Damaged from None
                # "deflate" is sometimes sent raw, without the zlib header (as httpx allows)
                self._z = zlib.decompressobj(-zlib.MAX_WBITS)
                self._started = True
                continue
            self._started = True
            data = self._z.unconsumed_tail or (self._z.unused_data if self._z.eof else b"")
        return bytes(out)

    def finish(self) -> bytes:
        if not self._started:  # no body at all
            return b""
        if not self._z.eof:
            raise _Damaged
        return self._z.flush()


def _decoder(response: httpx.Response, url: str) -> _Identity | _Inflate:
    codings = [
        c.strip().lower()
        for c in response.headers.get_list("content-encoding", split_commas=True)
        if c.strip().lower() not in ("", "identity")
    ]
    if not codings:
        return _Identity()
    if len(codings) == 1 and codings[0] in ("gzip", "x-gzip", "deflate"):
        return _Inflate(gzip=codings[0] != "deflate")
    shown = ", ".join(codings)[:60]
    raise FetchError(
        f"the server compressed the page as {shown!r}, which redline cannot read: {url}"
    )


def _read_capped(
    response: httpx.Response, max_bytes: int, deadline: netguard.Deadline, url: str
) -> bytes:
    too_large = f"page larger than {max_bytes} bytes: {url}"
    declared = response.headers.get("content-length", "")
    # ASCII digits only ("²".isdigit() is true) and few of them (int() refuses 4,300+).
    if (
        declared.isascii()
        and declared.isdigit()
        and len(declared) <= 18
        and int(declared) > max_bytes
    ):
        raise FetchError(f"{too_large} (the server says {int(declared)} bytes)")
    decoder = _decoder(response, url)
    body = bytearray()
    received = 0
    try:
        for chunk in response.iter_raw():
            received += len(chunk)
            if received > max_bytes:
                raise FetchError(too_large)
            body += decoder.decode(chunk, max_bytes - len(body))
            if len(body) > max_bytes:
                raise FetchError(f"{too_large} (once decompressed)")
            if deadline.passed:
                raise FetchError(f"fetch took longer than {deadline.seconds:g} s in all: {url}")
        body += decoder.finish()
    except _Damaged:
        raise FetchError(
            f"the server sent a damaged or incomplete compressed page: {url}"
        ) from None
    if len(body) > max_bytes:
        raise FetchError(f"{too_large} (once decompressed)")
    return bytes(body)


# Text ---------------------------------------------------------------------------------

_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),  # before UTF-16 LE, whose BOM it starts with
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
# Labels browsers read as a larger encoding (WHATWG Encoding Standard), by Python's names.
_SUPERSETS = {
    "ascii": "cp1252",
    "iso8859-1": "cp1252",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "shift_jis": "cp932",
    "euc_kr": "cp949",
}
# Python text codecs that are not charsets a page could honestly be in.
_NOT_CHARSETS = {"utf-7", "idna", "punycode", "unicode-escape", "raw-unicode-escape", "mbcs"}
# What an undeclared page that is not UTF-8 may be in: the WHATWG legacy encodings, the
# ones most used on the web first (a tie in charset-normalizer's scores goes to those).
_GUESSES = [
    "cp1252", "cp1251", "shift_jis", "gb18030", "euc_kr", "big5", "euc_jp", "cp1250",
    "iso8859_2", "cp1256", "cp1253", "cp1254", "cp1255", "cp1257", "cp874", "cp1258",
    "koi8_r", "koi8_u", "iso8859_15", "iso8859_5", "iso8859_7", "iso8859_8", "iso8859_6",
    "iso8859_4", "iso8859_3", "iso8859_10", "iso8859_13", "iso8859_14", "iso8859_16",
    "cp866", "mac_roman", "mac_cyrillic", "iso2022_jp",
]  # fmt: skip
_NON_ASCII = re.compile(r"[^\x00-\x7f]")
_META_CHARSET = re.compile(rb"""<meta[^>]{0,500}?charset\s*=\s*["']?\s*([\w.:+-]{1,40})""", re.I)
_XML_ENCODING = re.compile(rb"""^\s*<\?xml[^>]{0,200}?encoding\s*=\s*["']([\w.:+-]{1,40})""", re.I)


def decode_text(body: bytes, declared: str | None = None) -> tuple[str, str]:
    """The body as text, and the encoding used; declared: the HTTP header's charset."""
    for bom, name in _BOMS:
        if body.startswith(bom):
            return body[len(bom) :].decode(name, errors="replace"), name
    labels = [_usable(declared), _usable(_document_charset(body))]
    named = [label for label in labels if label]
    # UTF-16/32 text without a BOM may well be valid UTF-8 too: trust the label then.
    wide = bool(named) and named[0].startswith(("utf-16", "utf-32"))
    for name in [*named, "utf-8"] if wide else ["utf-8", *named]:
        try:
            return body.decode(name), name
        except UnicodeDecodeError:
            continue
    if not named:
        named = ["utf-8" if _mostly_utf8(body) else _guess(body)]
    return body.decode(named[0], errors="replace"), named[0]


def _mostly_utf8(body: bytes) -> bool:
    """UTF-8 with a few bad bytes (at least 4 in 5 non-ASCII characters valid): legacy
    text forms valid UTF-8 sequences only by rare accident."""
    decoded = _NON_ASCII.findall(body.decode("utf-8", errors="replace"))
    return decoded.count("\ufffd") * 5 <= len(decoded)


def _guess(body: bytes) -> str:
    """charset-normalizer's best guess; of equally good ones, the most common on the web."""
    matches = charset_normalizer.from_bytes(body, cp_isolation=_GUESSES)
    best = matches.best()
    if best is None:
        return "utf-8"
    tied = [
        name
        for match in matches
        if (match.chaos, match.coherence) == (best.chaos, best.coherence)
        for name in (match.encoding, *match.could_be_from_charset)
        if name in _GUESSES
    ]
    return min(tied, key=_GUESSES.index, default=best.encoding)


def _usable(label: str | None) -> str | None:
    """The Python codec for a charset label, or None for an unknown or unfit one."""
    if not label:
        return None
    try:
        info = codecs.lookup(label.strip().strip("\"'"))
    except (LookupError, ValueError):
        return None
    if not getattr(info, "_is_text_encoding", True) or info.name in _NOT_CHARSETS:
        return None
    return _SUPERSETS.get(info.name, info.name)


def _document_charset(body: bytes) -> str | None:
    head = body[:4096]
    match = _XML_ENCODING.match(head) or _META_CHARSET.search(head)
    return match.group(1).decode("ascii") if match else None


def _looks_like_text(body: bytes) -> bool:
    return not charset_normalizer.is_binary(body[:65536])


def _snapshot(
    url: str,
    response: httpx.Response,
    body: bytes,
    not_modified: bool,
    kind: str = "text",
) -> Snapshot:
    text, encoding = "", None
    if not not_modified:
        mime = _mime(response.headers.get("content-type")) or "no content type"
        if kind == "unsure" and body and not _looks_like_text(body):
            raise FetchError(f"not a page redline reads: {mime} (not text) at {url}")
        text, encoding = decode_text(body, response.charset_encoding)
        if not text.strip():
            raise FetchError(f"the server sent an empty page for {url}")
    return Snapshot(
        requested_url=url,
        final_url=redact_url(str(response.url)),  # a relative redirect keeps the userinfo
        status=response.status_code,
        not_modified=not_modified,
        body=body,
        text=text,
        content_type=response.headers.get("content-type"),
        etag=_validator(response.headers.get("etag")),
        last_modified=_validator(response.headers.get("last-modified")),
        encoding=encoding,
        headers={
            name: response.headers[name] for name in BLOCKING_HEADERS if name in response.headers
        },
    )


def _validator(value: str | None) -> str | None:
    """An ETag or Last-Modified worth sending back next time, else None."""
    if value is None or len(value) > MAX_VALIDATOR or not value.isprintable():
        return None
    return value
