"""Guards on the JSON API's writes: the token, a rate limit per client address and a
cap on the body, checked in that order before FastAPI reads or parses a body.

Every router of feeds/api/ is an APIRouter(route_class=GuardedRoute): its POST, PATCH
and DELETE routes pass these checks; reads pass untouched.
"""

from __future__ import annotations

import hashlib
import json
import math
import secrets
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

from fastapi import HTTPException, Request
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from fastapi.security import HTTPBearer

from feeds.settings import ServiceSettings

MAX_BODY_BYTES = 64 * 1024  # request bodies larger than this answer 413
WRITES_PER_MINUTE = 60  # per client address; more answer 429 with Retry-After
MAX_TRACKED_CLIENTS = 10_000  # the rate limiter forgets idle clients beyond this
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
NO_TOKEN = (
    "writes are disabled: no API token is configured (set REDLINE_API_TOKEN, or token "
    'under [serve] in redline.toml, e.g. token = "a-long-random-string")'
)


def _monotonic() -> float:
    return time.monotonic()


def _wall_clock() -> float:
    return time.time()


class RateLimiter:
    """A token bucket per key: `rate` requests per `per` seconds, bursts up to `rate`."""

    def __init__(self, rate: int, per: float = 60.0, max_keys: int = MAX_TRACKED_CLIENTS):
        self.rate, self.per, self.max_keys = rate, per, max_keys
        self.buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, at)
        self.lock = threading.Lock()

    def acquire(self, key: str) -> float:
        """0 if the request may go ahead (and count it), else seconds until it may."""
        now = _monotonic()
        with self.lock:
            tokens, at = self.buckets.get(key, (float(self.rate), now))
            tokens = min(float(self.rate), tokens + (now - at) * self.rate / self.per)
            if tokens >= 1:
                self.buckets[key] = (tokens - 1, now)
                self._forget(now)
                return 0.0
            self.buckets[key] = (tokens, now)
            return (1 - tokens) * self.per / self.rate

    def _forget(self, now: float) -> None:
        if len(self.buckets) <= self.max_keys:
            return
        # Idle long enough to be full again is the same as never seen.
        self.buckets = {
            key: (tokens, at)
            for key, (tokens, at) in self.buckets.items()
            if tokens + (now - at) * self.rate / self.per < self.rate
        }
        while len(self.buckets) > self.max_keys:  # still too many: drop the longest idle
            del self.buckets[min(self.buckets, key=lambda key: self.buckets[key][1])]


def _error(status: int, detail: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status, headers=headers)


def _limiter(request: Request, name: str) -> RateLimiter:
    limiter = getattr(request.app.state, name, None)
    if limiter is None:
        limiter = RateLimiter(WRITES_PER_MINUTE)
        setattr(request.app.state, name, limiter)
    return limiter


def _rate_limit(request: Request, name: str, what: str) -> JSONResponse | None:
    """Count this request in the limiter `name` of its client address; 429 when over."""
    limiter = _limiter(request, name)
    # The peer's address: uvicorn replaces it by X-Forwarded-For only from the proxies
    # named in [serve] forwarded_allow_ips (none by default), so a header cannot rotate it.
    client = request.client.host if request.client else "unknown"
    wait = limiter.acquire(client)
    if not wait:
        return None
    return _error(
        429,
        f"too many {what}: at most {limiter.rate} a minute from one address",
        {"Retry-After": str(max(1, math.ceil(wait)))},
    )


def _guard_write(request: Request) -> JSONResponse | None:
    """The token first: refused attempts count in a limiter of their own, so a flood of
    them never uses up the writes of the token's holder, even from the same address."""
    refusal = _authorize(request)
    if refusal is not None:
        return _rate_limit(request, "api_refused_limiter", "refused writes") or refusal
    return _rate_limit(request, "api_write_limiter", "writes")


def _authorize(request: Request) -> JSONResponse | None:
    settings: ServiceSettings = request.app.state.settings
    if not settings.api_token:
        return _error(403, NO_TOKEN)
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    given = given.strip()
    if scheme.lower() != "bearer" or not given:
        return _error(
            401,
            "this needs the API token: Authorization: Bearer <token>",
            {"WWW-Authenticate": 'Bearer realm="redline"'},
        )
    # Digests first, so neither the comparison's time nor its length depends on the token.
    expected = hashlib.sha256(settings.api_token.encode()).digest()
    if not secrets.compare_digest(hashlib.sha256(given.encode()).digest(), expected):
        return _error(
            401,
            "wrong API token",
            {"WWW-Authenticate": 'Bearer realm="redline", error="invalid_token"'},
        )
    return None


def require_token(request: Request) -> None:
    """A dependency for reads that need the token (they show targets and their errors):
    refused as a write without it is, and counted with the refused writes."""
    refusal = _authorize(request)
    if refusal is None:
        return
    refusal = _rate_limit(request, "api_refused_limiter", "refused requests") or refusal
    detail = json.loads(refusal.body)["detail"]
    headers = {
        k: v for k, v in refusal.headers.items() if k.lower() in ("www-authenticate", "retry-after")
    }
    raise HTTPException(refusal.status_code, detail, headers=headers or None)


async def _read_capped_body(request: Request) -> JSONResponse | None:
    too_large = _error(413, f"request body too large: the limit is {MAX_BODY_BYTES} bytes")
    declared = request.headers.get("content-length")
    if declared is not None:
        declared = declared.strip()
        # isascii: "²".isdigit() is true; the length: int() refuses over 4300 digits.
        if not (declared.isascii() and declared.isdigit()) or len(declared) > 20:
            return _error(400, "bad Content-Length")
        if int(declared) > MAX_BODY_BYTES:
            return too_large
    body = bytearray()
    async for chunk in request.stream():  # a chunked body has no Content-Length
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            return too_large
    request._body = bytes(body)  # what FastAPI parses next
    problem = _unstorable_json(request._body)
    return _error(400, problem) if problem else None


def _unstorable_json(body: bytes) -> str | None:
    """What in a JSON body no database could store or answer could quote back, if any.

    Python's JSON reader takes NaN, Infinity (and numbers too large for a float), which
    JSON (RFC 8259) does not have, and lone surrogates ("\\ud800"), which are not UTF-8;
    PostgreSQL refuses NUL in text. Each would end in a 500: at the database, or when
    a 422 quoting the value is written as JSON.
    """
    numbers_ok = True

    def read_constant(_text: str) -> None:
        nonlocal numbers_ok
        numbers_ok = False

    def read_float(text: str) -> float:
        value = float(text)
        if not math.isfinite(value):
            read_constant(text)
        return value

    try:
        document = json.loads(body, parse_constant=read_constant, parse_float=read_float)
    except (ValueError, RecursionError):  # not JSON, or nested too deeply: FastAPI says so
        return None
    if not numbers_ok:
        return "not JSON: NaN and Infinity are not JSON numbers"
    for text in _strings(document):
        if "\x00" in text:
            return "text may not hold NUL characters"
        if not _is_utf8(text):
            return "text may not hold lone surrogates (\\ud800 to \\udfff)"
    return None


# -- 422: invalid parameters or body, with a one-line `detail` like every other error -------


def _strings(value: Any) -> Iterator[str]:
    """Every string in a JSON document, keys included."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _is_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


class GuardedRoute(APIRoute):
    """Writes pass the token check, then the rate limit, then the size cap, in that order,
    before FastAPI reads or parses their body."""

    def get_route_handler(self) -> Callable[[Request], Awaitable[Response]]:
        handler = super().get_route_handler()

        async def guarded(request: Request) -> Response:
            if request.method in WRITE_METHODS:
                refusal = _guard_write(request)
                refusal = refusal or await _read_capped_body(request)
                if refusal is not None:
                    return refusal
            return await handler(request)

        return guarded


# For /docs: the write routes show the token they need (GuardedRoute does the checking).
bearer = HTTPBearer(auto_error=False, description="the API token (REDLINE_API_TOKEN)")
WRITE_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"description": "invalid input (the message says what)"},
    401: {"description": "missing or wrong bearer token"},
    403: {"description": "no API token is configured: writes are disabled"},
    413: {"description": "request body over 64 KB"},
    429: {"description": "too many writes from this address (see Retry-After)"},
}
