"""The JSON API (/api/...), /healthz and /metrics.

Reads are public and change nothing. Writes (POST/PATCH/DELETE /api/sources) need
`Authorization: Bearer <token>` equal to the configured token (REDLINE_API_TOKEN or
`token` under [serve] in redline.toml); without one configured every write is refused.
Writes are rate limited per client address (refused ones apart) and their bodies are
capped at 64 KB.

Shapes follow the CLI's JSON where they overlap (`redline items|history|diff|sources
--json`), so a script can use either. Times are ISO 8601 UTC with a `Z`.

Paging:
- /api/items and /api/sources/{id}/checks: newest (highest id) first; `next` is an
  opaque cursor for the following page (null on the last one). Ids only grow, so a
  walk sees every row that existed when it started exactly once.
- /api/changes: oldest first, for pollers; `next` is always given: poll with it again
  later. It never skips or repeats a change, also when changes commit out of id order
  (several writers on PostgreSQL): ids missing below the cursor are remembered for
  GAP_WINDOW_SECONDS and delivered if they appear.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
import secrets
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from datetime import date, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, FastAPI, HTTPException, Query, Request, Security
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from fastapi.security import HTTPBearer
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from sqlalchemy import text as sql_text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlmodel import Session, col

from feeds import atom
from feeds.deps import SessionDep, SettingsDep, in_session
from feeds.hot_pages import Generation, HotPage, HotPages
from feeds.ids import ItemId, SourceId
from feeds.routes_feeds import etag_matches
from feeds.settings import ServiceSettings
from storage import MAX_ID, Change, Check, Item, Source, Version, queries, stats, transaction
from tracker import history, identity, render
from tracker.config import INTERVAL_RULE, parse_interval
from tracker.errors import UserError
from tracker.normalise import canonical_url, redact_url
from tracker.sources import MAX_MATCH_WINDOW_HOURS, MAX_URL_LENGTH
from tracker.status import source_health
from tracker.words import plural

MAX_PAGE = 200  # the most rows one page of any list holds
MAX_BODY_BYTES = 64 * 1024  # request bodies larger than this answer 413
WRITES_PER_MINUTE = 60  # per client address; more answer 429 with Retry-After
MAX_TRACKED_CLIENTS = 10_000  # the rate limiter forgets idle clients beyond this
GAP_WINDOW_SECONDS = 600  # how long a change id missing below a cursor may still appear
MAX_GAPS = 100  # id ranges a changes cursor remembers
LATENCY_WINDOW = 1000  # fetch latency quantiles are over this many most recent checks
LATENCY_QUANTILES = (0.5, 0.9, 0.99)
MAX_TEXT = 200  # characters of a search text, tag or name
MAX_CURSOR = 4096
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
DIFF_FORMATS = ("json", "text", "html", "side-by-side", "patch")
CHECK_OUTCOMES = ("changed", "unchanged", "not_modified", "error")
CHANGE_KINDS = (
    "created",
    "edited",
    "removed",
    "restored",
    "headline_test",
    "headline_flip",
    "shown",
)
VERSION_ORIGINS = ("observed", "page-history", "import")
NO_TOKEN = (
    "writes are disabled: no API token is configured (set REDLINE_API_TOKEN, or token "
    'under [serve] in redline.toml, e.g. token = "a-long-random-string")'
)


# -- request guards: rate limit, token, body size (before the body is read) -------------


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

PLACES = {"path": "path parameter", "query": "query parameter", "header": "header"}


def _problem_line(problem: dict[str, Any]) -> str:
    """ "query parameter limit: Input should be less than or equal to 200"."""
    where, *path = problem.get("loc") or ("request",)
    message = " ".join(str(problem.get("msg", "invalid")).split())
    if where == "body":
        if not path or problem.get("type") == "json_invalid":
            return f"request body: {message}"
        return f"body field {'.'.join(str(part) for part in path)}: {message}"
    return f"{PLACES.get(str(where), str(where))} {'.'.join(map(str, path))}: {message}".strip()


async def validation_error(request: Request, error: Exception) -> JSONResponse:
    """FastAPI's 422 with `detail` one line naming the field and the problem (as every
    other error's detail is); its list of problems stays under `errors`."""
    assert isinstance(error, RequestValidationError)
    problems = list(error.errors())
    detail = _problem_line(problems[0]) if problems else "invalid request"
    if len(problems) > 1:
        detail += f" (and {plural(len(problems) - 1, 'more problem')})"
    # Without the rejected input FastAPI adds: it can be a whole body, and needs no echo.
    errors = [{key: p[key] for key in ("type", "loc", "msg") if key in p} for p in problems]
    return JSONResponse({"detail": detail, "errors": jsonable_encoder(errors)}, status_code=422)


VALIDATION_PROBLEM = {
    "title": "HTTPValidationError",
    "type": "object",
    "required": ["detail"],
    "properties": {
        "detail": {"type": "string", "title": "Detail", "description": "what is wrong, one line"},
        "errors": {"type": "array", "items": {"$ref": "#/components/schemas/ValidationError"}},
    },
}


def install_validation_errors(app: FastAPI) -> None:
    """Answer 422s with validation_error, and say so in /openapi.json."""
    app.add_exception_handler(RequestValidationError, validation_error)
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        schema = generate()  # cached on the app: the change below is made once
        schemas = schema.get("components", {}).get("schemas", {})
        if "HTTPValidationError" in schemas:
            schemas["HTTPValidationError"] = VALIDATION_PROBLEM
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


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


router = APIRouter(route_class=GuardedRoute)
# For /docs: the write routes show the token they need (GuardedRoute does the checking).
bearer = HTTPBearer(auto_error=False, description="the API token (REDLINE_API_TOKEN)")
WRITE_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"description": "invalid input (the message says what)"},
    401: {"description": "missing or wrong bearer token"},
    403: {"description": "no API token is configured: writes are disabled"},
    413: {"description": "request body over 64 KB"},
    429: {"description": "too many writes from this address (see Retry-After)"},
}


# -- cursors -------------------------------------------------------------------------------


def _encode_cursor(state: dict[str, Any]) -> str:
    raw = json.dumps(state, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str, kind: str) -> dict[str, Any]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        state = json.loads(raw)
    except (binascii.Error, ValueError):
        state = None
    if not isinstance(state, dict) or state.get("k") != kind:
        raise HTTPException(400, f"not a cursor of {kind}: {cursor[:40]!r}")
    return state


def _cursor_id(state: dict[str, Any], key: str) -> int:
    value = state.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_ID:
        raise HTTPException(400, "malformed cursor")
    return value


def _page_cursor(kind: str, last_id: int) -> str:
    return _encode_cursor({"k": kind, "before": last_id})


CursorQuery = Annotated[
    str | None,
    Query(max_length=MAX_CURSOR, description="the `next` of the previous page"),
]


# -- response models -------------------------------------------------------------------


class Out(BaseModel):
    model_config = ConfigDict(validate_by_name=True, validate_by_alias=True)


class ItemOut(Out):
    id: int
    url: str | None
    headline: str | None = Field(description="the current headline")
    versions: int = Field(description="how many versions the item has")
    source_id: int
    event_date: date | None = Field(description="the day the page gives for the news")
    first_seen_at: datetime
    last_seen_at: datetime
    removed_at: datetime | None = Field(description="when it left its listing (null: listed)")


class ItemPage(Out):
    items: list[ItemOut]
    next: str | None = Field(description="cursor of the next page; null on the last page")


class ItemDetail(ItemOut):
    urls: list[str] = Field(description="every URL the item has had, oldest first")


class Judged(Out):
    """How much a change matters (tracker/significance.py)."""

    class_: str | None = Field(
        alias="class", description="style, rewording or substantive (null: not an edit)"
    )
    score: float | None = Field(
        description="0-1: style up to 0.1, rewording 0.2-0.5, substantive 0.6-1 (null: none)"
    )
    reasons: list[str] = Field(
        description='why, field by field: "headline: number changed: 8 → 12"'
    )
    similarity: float | None


class VersionChange(Judged):
    kind: str = Field(
        description="created, edited, headline_test (a headline back to a recent one: an A/B "
        "test, named once), headline_flip (a later switch among its variants) or shown (a "
        "field a listing shows for some items only, shown for the first time: no edit)"
    )
    fields: list[str]
    variants: list[str] | None = Field(None, description="a headline test's headlines")


class VersionOut(Out):
    n: int
    headline: str | None
    summary: str | None
    category: str | None
    tags: list[str] | None
    observed_at: datetime
    reported_at: datetime | None = Field(
        description="when the version began, by the page's own history (its Changes list)"
    )
    origin: str = Field(description="observed, page-history or import")
    change: VersionChange | None = Field(description="the change that made this version")


class HistoryItem(Out):
    id: int
    url: str | None
    urls: list[str] = Field(description="every URL the item has had, oldest first")
    removed_at: datetime | None = Field(description="when it left its listing (null: listed)")


class HistoryOut(Out):
    item: HistoryItem
    versions: list[VersionOut] = Field(description="every version, oldest first")


class DiffOut(Out):
    from_: int = Field(alias="from", description="version number")
    to: int = Field(description="version number")
    fields: dict[str, list[tuple[int, str]]] = Field(
        description="field -> diff-match-patch ops [op, text]: -1 deleted, 0 kept, 1 inserted"
    )


class ChangeOut(Judged):
    id: int
    item_id: int
    source_id: int
    kind: str = Field(
        description="created, edited, removed, restored, headline_test, headline_flip or shown"
    )
    from_n: int | None
    to_n: int | None
    fields: list[str]
    variants: list[str] | None = Field(None, description="a headline test's headlines")
    occurred_at: datetime
    recorded_at: datetime
    diff: dict[str, list[tuple[int, str]]] | None = Field(
        description="the stored consecutive diff: field -> [op, text] ops"
    )


class ChangePage(Out):
    changes: list[ChangeOut]
    next: str = Field(description="poll again with since=next (unchanged when nothing is new)")


# A source's URL, or a message that may quote it, as the API shows it: without the
# source's credentials (errors stored by an older redline may still hold them).
Redacted = Annotated[str, AfterValidator(redact_url)]


class SourceOut(Out):
    id: int
    url: Redacted
    kind: str
    name: str | None
    site: str | None = Field(description="the sources of one site share their items")
    enabled: bool
    last_checked_at: datetime | None
    next_check_at: datetime | None
    consecutive_failures: int
    last_error: Redacted | None
    options: dict[str, Any]
    partial_fields: list[str] = Field(
        description="fields its listing shows for some items only (learned): an item shown "
        "without one keeps its last known value"
    )
    interval_seconds: int | None = Field(description="null: the daemon's default interval")
    cron: str | None = Field(description="a crontab line (UTC) giving the check times")
    retired_at: datetime | None = Field(description="when it was retired (gone, aged out)")
    retired_reason: str | None
    created_at: datetime
    health: str = Field(
        description="ok, new (not checked yet), erring (failed, fewer than [daemon] "
        "failing_after times in a row), failing, disabled or retired: as `redline sources`"
    )


class CheckOut(Out):
    id: int
    source_id: int
    started_at: datetime
    finished_at: datetime
    outcome: str = Field(description="changed, unchanged, not_modified or error")
    http_status: int | None
    bytes: int | None
    error: Redacted | None
    items_seen: int
    versions_added: int
    changes_added: int


class SourcePage(Out):
    sources: list[SourceOut]
    next: str | None = Field(description="cursor of the next page; null on the last page")


class CheckPage(Out):
    checks: list[CheckOut]
    next: str | None


class Health(Out):
    status: str
    detail: str | None = None


class Problem(Out):
    detail: str


class SourceOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    map: dict[str, Annotated[str, Field(max_length=MAX_TEXT)]] | None = Field(
        None,
        max_length=20,
        description="listing: field (id, headline, summary, url, updated, tags, category, "
        "body) -> dotted JSON path or CSV column",
    )
    items: str | None = Field(None, max_length=MAX_TEXT, description="listing: path to the list")
    id_pattern: str | None = Field(
        None, max_length=500, description="regex finding the item id in its URL (group 1)"
    )
    ignore: list[Annotated[str, Field(max_length=500)]] | None = Field(
        None,
        max_length=20,
        description="regexes for text that is noise on this source: left out when comparing "
        "versions (the text is stored as seen)",
    )
    match_threshold: float | None = Field(
        None, description="fuzzy identity: similarity 0-1 a newcomer needs (above 1: off)"
    )
    headline_test_hours: float | None = Field(
        None,
        ge=0,
        le=168,
        description="hours within which a headline coming back makes a headline test (24; 0: off)",
    )
    match_window_hours: float | None = Field(
        None,
        ge=0,
        le=MAX_MATCH_WINDOW_HOURS,
        description="fuzzy identity: hours after it left a listing an item may still be paired",
    )


class SourceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: str = Field(max_length=MAX_URL_LENGTH)
    kind: str = Field("auto", max_length=20)
    name: str | None = Field(None, max_length=MAX_TEXT)
    every: str | float | None = Field(
        None, description=f"check interval: {INTERVAL_RULE} (null: the default)"
    )
    cron: str | None = Field(
        None, max_length=200, description="check at these times instead: a crontab line (UTC)"
    )
    site: str | None = Field(
        None,
        max_length=253,
        description="the sources of one site share their items (null: the URL's host)",
    )
    options: SourceOptions | None = None


class SourcePatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(None, max_length=MAX_TEXT, description="null clears it")
    enabled: bool | None = Field(None, strict=True, description="true or false (not 0 or 1)")
    every: str | float | None = Field(
        None, description=f"{INTERVAL_RULE}; null: back to the daemon's default"
    )
    cron: str | None = Field(
        None, max_length=200, description="check at these times instead (null: none)"
    )
    site: str | None = Field(
        None, max_length=253, description="group it with other sources (null: its URL's host)"
    )
    ignore: list[Annotated[str, Field(max_length=500)]] | None = Field(
        None, max_length=20, description="noise patterns (regexes), replacing any; null or []: none"
    )
    headline_test_hours: float | None = Field(
        None, ge=0, le=168, description="headline tests' window in hours (0: off; null: 24)"
    )
    match_threshold: float | None = Field(
        None, ge=0, le=2, description="fuzzy identity: similarity 0-1 (above 1: off; null: 0.6)"
    )
    match_window_hours: float | None = Field(
        None,
        ge=0,
        le=MAX_MATCH_WINDOW_HOURS,
        description="fuzzy identity: window in hours (null: 12)",
    )


# -- shaping rows --------------------------------------------------------------------------


def _item_fields(item: Item) -> dict[str, Any]:
    return {
        "id": item.id,
        "url": item.url,
        "headline": item.headline,
        "versions": item.version_count,
        "source_id": item.source_id,
        "event_date": item.event_date,
        "first_seen_at": item.first_seen_at,
        "last_seen_at": item.last_seen_at,
        "removed_at": item.removed_at,
    }


def _change_out(change: Change) -> ChangeOut:
    return ChangeOut(
        id=change.id or 0,
        item_id=change.item_id,
        source_id=change.source_id,
        kind=change.kind,
        from_n=change.from_n,
        to_n=change.to_n,
        fields=change.fields,
        class_=change.classification,
        score=change.score,
        reasons=change.reasons or [],
        similarity=change.similarity,
        variants=change.variants,
        occurred_at=change.occurred_at,
        recorded_at=change.recorded_at,
        diff={name: [(int(op), str(text)) for op, text in ops] for name, ops in change.diff.items()}
        if change.diff is not None
        else None,
    )


def _source_out(source: Source, failing_after: int) -> SourceOut:
    return SourceOut(
        id=source.id or 0,
        url=source.url,
        kind=source.kind,
        name=source.name,
        site=source.site,
        enabled=source.enabled,
        last_checked_at=source.last_checked_at,
        next_check_at=source.next_check_at,
        consecutive_failures=source.consecutive_failures,
        last_error=source.last_error,
        options=source.options or {},
        partial_fields=source.partial_fields or [],
        interval_seconds=source.interval_seconds,
        cron=source.cron,
        retired_at=source.retired_at,
        retired_reason=source.retired_reason,
        created_at=source.created_at,
        health=source_health(source, failing_after).state,
    )


def _page_size(limit: int | None, settings: ServiceSettings) -> int:
    return limit if limit is not None else max(1, min(settings.page_size, MAX_PAGE))


def _item_or_404(session: Session, item_id: int) -> Item:
    item = session.get(Item, item_id)
    if item is None:
        raise HTTPException(404, f"no item {item_id}")
    return item


def _source_or_404(session: Session, source_id: int) -> Source:
    source = session.get(Source, source_id)
    if source is None:
        raise HTTPException(404, f"no source {source_id}")
    return source


def _items_with_url(session: Session, url: str) -> list[int]:
    """Items that have had this URL (or, for an Offstream page, another rendition of it)."""
    try:
        url = canonical_url(url)
    except ValueError as error:  # urllib: a bad IPv6 literal, a port out of range
        raise HTTPException(400, f"not a URL: {url[:100]!r} ({error})") from None
    matches = queries.items_by_alias(session, "url", [url])
    stem = identity.page_stem(url)
    if not matches and stem:
        matches = queries.items_by_alias(session, "page", [stem])
    return [item.id for item in matches if item.id is not None]


Limit = Annotated[
    int | None,
    Query(ge=1, le=MAX_PAGE, description="rows per page (default: the service's page size)"),
]
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": Problem}}
NOT_MODIFIED: dict[int | str, dict[str, Any]] = {
    304: {"description": "Not modified (If-None-Match matches the ETag)"}
}
API_FORMAT = "3"  # part of the item endpoints' ETags: bump when what they answer changes


# -- health and metrics --------------------------------------------------------------------


@router.get(
    "/healthz",
    response_model=Health,
    response_model_exclude_none=True,
    responses={503: {"model": Health, "description": "the database does not answer"}},
    tags=["service"],
)
def healthz(request: Request) -> Any:
    """Liveness and the database: 200 {"status": "ok"}, or 503 when the database fails."""
    engine: Engine = request.app.state.engine
    try:
        with engine.connect() as connection:
            connection.execute(sql_text("SELECT 1"))
    except SQLAlchemyError as error:
        detail = f"database unavailable: {type(error).__name__}"
        return JSONResponse({"status": "error", "detail": detail}, status_code=503)
    return Health(status="ok")


class DatabaseCollector:
    """Counts read from the database at each scrape, so every process agrees with it."""

    def __init__(self, engine: Engine, failing_after: int = 3) -> None:
        self.engine, self.failing_after = engine, failing_after

    def collect(self) -> Iterator[Metric]:
        with Session(self.engine) as session:
            yield from _database_metrics(session, self.failing_after)


def _labelled(
    family: CounterMetricFamily | GaugeMetricFamily, known: Sequence[str], counts: dict
) -> CounterMetricFamily | GaugeMetricFamily:
    for value in [*known, *sorted(str(v) for v in counts if v not in known)]:
        family.add_metric([value], counts.get(value, 0))
    return family


def _database_metrics(session: Session, failing_after: int) -> Iterator[Metric]:
    checks = queries.counts_by(session, col(Check.outcome))
    yield _labelled(
        CounterMetricFamily("redline_checks", "Checks of sources, by outcome.", labels=["outcome"]),
        CHECK_OUTCOMES,
        checks,
    )
    yield CounterMetricFamily(
        "redline_check_errors",
        "Checks that failed (fetch, size, parse errors), as redline_checks{outcome=error}.",
        value=checks.get("error", 0),
    )
    yield _labelled(
        CounterMetricFamily("redline_versions", "Versions stored, by origin.", labels=["origin"]),
        VERSION_ORIGINS,
        queries.counts_by(session, col(Version.origin)),
    )
    yield _labelled(
        CounterMetricFamily(
            "redline_changes", "Changes in the edit log, by kind.", labels=["kind"]
        ),
        CHANGE_KINDS,
        queries.counts_by(session, col(Change.kind)),
    )
    retired = queries.count_rows(session, Source, col(Source.retired_at).is_not(None))
    enabled = queries.count_rows(
        session, Source, col(Source.enabled).is_(True), col(Source.retired_at).is_(None)
    )
    sources = GaugeMetricFamily(
        "redline_sources",
        "Sources, by state: enabled (checked), retired (never due again), disabled.",
        labels=["state"],
    )
    sources.add_metric(["enabled"], enabled)
    sources.add_metric(["retired"], retired)
    sources.add_metric(["disabled"], queries.count_rows(session, Source) - enabled - retired)
    yield sources
    yield GaugeMetricFamily(
        "redline_sources_failing",
        f"Sources failing as `redline status` says: active (enabled, not retired), with "
        f"{failing_after} or more errors in a row ([daemon] failing_after).",
        value=len(stats.failing_sources(session, failing_after)),
    )
    items = GaugeMetricFamily("redline_items", "Items, by state.", labels=["state"])
    removed = queries.count_rows(session, Item, col(Item.removed_at).is_not(None))
    items.add_metric(["listed"], queries.count_rows(session, Item) - removed)
    items.add_metric(["removed"], removed)
    yield items
    last = queries.last_check_finished(session)
    if last is not None:
        yield GaugeMetricFamily(
            "redline_last_check_finished_timestamp_seconds",
            "When the most recent check finished (Unix time).",
            value=last.timestamp(),
        )
    yield _latency_summary(session)


def _latency_summary(session: Session) -> Metric:
    """Quantiles over the most recent LATENCY_WINDOW checks; count and sum over all checks."""
    latency = Metric(
        "redline_fetch_latency_seconds",
        f"Check duration (finished_at - started_at); quantiles over the last "
        f"{LATENCY_WINDOW} checks, count and sum over all.",
        "summary",
    )
    seconds = sorted(
        max(0.0, (finished - started).total_seconds())
        for started, finished in queries.recent_check_times(session, LATENCY_WINDOW)
    )
    for quantile in LATENCY_QUANTILES:  # nearest rank
        value = seconds[max(0, math.ceil(quantile * len(seconds)) - 1)] if seconds else math.nan
        latency.add_sample("redline_fetch_latency_seconds", {"quantile": str(quantile)}, value)
    latency.add_sample(
        "redline_fetch_latency_seconds_count", {}, float(queries.count_rows(session, Check))
    )
    latency.add_sample(
        "redline_fetch_latency_seconds_sum", {}, queries.check_seconds_total(session)
    )
    return latency


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text format"}},
    tags=["service"],
)
def metrics(request: Request) -> Response:
    """Prometheus metrics, counted from the database at each scrape."""
    registry = CollectorRegistry(auto_describe=False)
    settings: ServiceSettings = request.app.state.settings
    registry.register(DatabaseCollector(request.app.state.engine, settings.failing_after))
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


# -- items ---------------------------------------------------------------------------------


@router.get("/api/items", response_model=ItemPage, tags=["items"])
def list_items(
    q: Annotated[
        str | None,
        Query(max_length=MAX_TEXT, description="the current headline contains this (any case)"),
    ] = None,
    source: Annotated[int | None, Query(ge=1, le=MAX_ID, description="a source id")] = None,
    tag: Annotated[
        str | None,
        Query(max_length=MAX_TEXT, description="the latest version has exactly this tag"),
    ] = None,
    url: Annotated[
        str | None,
        Query(max_length=2048, description="the item has had this URL (any rendition)"),
    ] = None,
    since: Annotated[
        date | None,
        Query(
            description="YYYY-MM-DD: the item's day is on or after (its event date, "
            "else the UTC day it was first seen)"
        ),
    ] = None,
    until: Annotated[
        date | None, Query(description="YYYY-MM-DD: the item's day is on or before")
    ] = None,
    limit: Limit = None,
    cursor: CursorQuery = None,
    session: Session = SessionDep,
    settings: ServiceSettings = SettingsDep,
) -> ItemPage:
    """Items, newest (most recently discovered) first, a page at a time."""
    size = _page_size(limit, settings)
    before = _cursor_id(_decode_cursor(cursor, "items"), "before") if cursor else None
    item_ids = _items_with_url(session, url) if url else None
    rows = queries.item_page(
        session,
        size + 1,
        before=before,
        text=q,
        source_id=source,
        tag=tag,
        since=since,
        until=until,
        item_ids=item_ids,
    )
    page = list(rows[:size])
    more = len(rows) > size and page[-1].id is not None
    return ItemPage(
        items=[ItemOut(**_item_fields(item)) for item in page],
        next=_page_cursor("items", page[-1].id or 0) if more else None,
    )


@router.get(
    "/api/items/{item_id}",
    response_model=ItemDetail,
    responses=NOT_FOUND | NOT_MODIFIED,
    tags=["items"],
)
async def get_item(item_id: ItemId, request: Request) -> Any:
    """One item: `redline history --json`'s item, with its listing fields. Carries an
    ETag; If-None-Match with it answers 304 after one statement."""
    return await in_session(request, lambda session: _item_detail(request, session, item_id))


def _item_detail(request: Request, session: Session, item_id: int) -> Response:
    found = queries.item_with_alias_state(session, item_id, "url")
    if found is None:
        raise HTTPException(404, f"no item {item_id}")
    item, aliases, newest_alias = found
    fields = _item_fields(item)
    etag = _etag("item", *fields.values(), aliases, newest_alias)
    if _not_modified(request, etag):
        return Response(status_code=304, headers=_cache_headers(etag))
    detail = ItemDetail(**fields, urls=queries.alias_values(session, item_id, "url"))
    return _json(detail.model_dump(mode="json", by_alias=True), etag)


@router.get(
    "/api/items/{item_id}/versions",
    response_model=HistoryOut,
    responses=NOT_FOUND | NOT_MODIFIED,
    tags=["items"],
)
async def item_versions(item_id: ItemId, request: Request) -> Any:
    """The item and every version, oldest first: the same object as `redline history
    --json`. Carries an ETag; If-None-Match with it answers 304. Kept built in memory
    while the change log is unchanged (feeds/hot_pages.py), as the feeds are."""
    hot: HotPages = request.app.state.hot_pages

    async def build(generation: Generation) -> HotPage:
        return await in_session(request, lambda session: _versions(session, item_id, generation))

    page = await hot.page(("versions", item_id), build)
    if _not_modified(request, page.etag):
        return Response(status_code=304, headers=page.headers)
    return Response(page.body, media_type="application/json", headers=page.headers)


def _versions(session: Session, item_id: int, generation: Generation) -> HotPage:
    found = queries.item_with_alias_state(session, item_id, "url")
    if found is None:
        raise HTTPException(404, f"no item {item_id}")
    item, aliases, newest_alias = found
    # Versions (and the changes that made them) are only added, with version_count; a
    # removal or a move shows in removed_at, url and the aliases.
    state = (item.version_count, item.url, item.removed_at, aliases, newest_alias)
    etag = _etag("versions", item_id, *state)
    body = _json(history.history_document(session, item), etag).body
    return HotPage(bytes(body), etag, None, _cache_headers(etag), generation)


# Conditional GET on the item endpoints, as on the feeds (feeds/routes_feeds.py): a weak
# ETag made from a few ids and counts that change whenever the answer does, so a client
# polling an item gets 304 after one indexed statement.


def _etag(kind: str, *parts: object) -> str:
    token = "\x1f".join(str(part) for part in (API_FORMAT, kind, *parts))
    return f'W/"{hashlib.sha256(token.encode()).hexdigest()[:32]}"'


def _not_modified(request: Request, etag: str) -> bool:
    header = request.headers.get("if-none-match")
    return header is not None and etag_matches(header, etag)


def _cache_headers(etag: str) -> dict[str, str]:
    return {"ETag": etag, "Cache-Control": "no-cache"}  # stored, but revalidated each time


def _json(body: object, etag: str) -> Response:
    """The same JSON FastAPI would write for the response model (by alias, validated)."""
    return JSONResponse(body, headers=_cache_headers(etag))


@router.get(
    "/api/items/{item_id}/diff",
    response_model=DiffOut,
    responses={
        200: {
            "content": {"text/plain": {}, "text/html": {}},
            "description": "json: DiffOut; text and patch: text/plain; html and "
            "side-by-side: an HTML fragment",
        },
        400: {"model": Problem, "description": "no such version"},
        404: {"model": Problem},
    },
    tags=["items"],
)
def item_diff(
    item_id: ItemId,
    from_ref: Annotated[
        str, Query(alias="from", max_length=20, description="first, previous or a number")
    ] = "first",
    to_ref: Annotated[
        str, Query(alias="to", max_length=20, description="current or a number")
    ] = "current",
    fmt: Annotated[
        Literal["json", "text", "html", "side-by-side", "patch"], Query(alias="format")
    ] = "json",
    session: Session = SessionDep,
) -> Any:
    """What changed between two versions: the same as `redline diff --format FORMAT`."""
    _item_or_404(session, item_id)
    versions = queries.versions_of(session, item_id)
    try:
        new = history.pick_version(versions, to_ref)
        old = history.pick_version(versions, from_ref, before=new)
    except UserError as error:
        raise HTTPException(400, str(error)) from error
    field_ops = history.readable_diff(history.diff_versions(old, new))
    if fmt == "json":
        fields = {name: [(op, text) for op, text in ops] for name, ops in field_ops.items()}
        return DiffOut(from_=old.n, to=new.n, fields=fields)
    body = render.render_diff_document(item_id, old, new, field_ops, fmt)
    media = "text/html" if fmt in ("html", "side-by-side") else "text/plain"
    return Response(body, media_type=f"{media}; charset=utf-8")


# -- the change log --------------------------------------------------------------------------


@router.get("/api/changes", response_model=ChangePage, tags=["changes"])
async def list_changes(
    request: Request,
    since: Annotated[
        str | None,
        Query(
            max_length=MAX_CURSOR,
            description="the `next` of the previous poll; omitted: from the first change; "
            "`latest`: only changes recorded from now on",
        ),
    ] = None,
    limit: Limit = None,
    kind: Annotated[
        Literal["editorial", "all", "substantive", "rewording", "style", "minor"] | None,
        Query(
            description="all (the default here: a poller sees every change), editorial "
            "(substantive and rewording edits, and every change that is no edit), or one class "
            "(minor: style); the cursor moves past the changes left out"
        ),
    ] = None,
    settings: ServiceSettings = SettingsDep,
) -> ChangePage:
    """The change log in recording (id) order after a cursor, for clients that poll."""
    cursor = _changes_cursor(since) if since not in (None, "latest") else None
    if cursor is not None:
        after, gaps = cursor
        hot: HotPages = request.app.state.hot_pages
        if not gaps and after >= hot.generation()[0]:
            # Nothing recorded after the cursor, by the generation the kept pages go by
            # (read at most twice a second): the answer a read would give, without one.
            state = {"k": "changes", "after": after, "gaps": []}
            return ChangePage(changes=[], next=_encode_cursor(state))
    latest = since == "latest"
    return await in_session(
        request, lambda session: _changes(session, latest, cursor, limit, kind, settings)
    )


def _changes(
    session: Session,
    latest: bool,
    cursor: tuple[int, list[tuple[int, int, int]]] | None,
    limit: int | None,
    kind: str | None,
    settings: ServiceSettings,
) -> ChangePage:
    """The page after the cursor (None: from the first change; latest: none, and a cursor
    at the newest change)."""
    size = _page_size(limit, settings)
    if latest:
        state = {"k": "changes", "after": queries.last_change_id(session), "gaps": []}
        return ChangePage(changes=[], next=_encode_cursor(state))
    after, gaps = cursor or (0, [])
    late, fresh, kept = _poll(session, after, gaps, size, int(_wall_clock()))
    if fresh and fresh[-1].id is not None:
        after = fresh[-1].id
    state = {"k": "changes", "after": after, "gaps": kept[-MAX_GAPS:]}
    classes = atom.kind_classes(kind or "all")
    shown = [c for c in [*late, *fresh] if classes is None or c.classification in classes]
    return ChangePage(changes=[_change_out(change) for change in shown], next=_encode_cursor(state))


def _poll(
    session: Session, after: int, gaps: list[tuple[int, int, int]], size: int, now: int
) -> tuple[list[Change], list[Change], list[list[int]]]:
    """(changes found in the gaps, changes after the cursor, the gaps still open).

    Ids missing below the cursor belong to transactions not committed at the last poll
    (or rolled back): they are looked for again at every poll. A gap past its deadline
    is looked for once more, then dropped, so a poll long after the window still finds
    what committed within it.
    """
    late = list(queries.changes_in_ranges(session, [(lo, hi) for lo, hi, _ in gaps], size))
    # Ids up to here were looked at (all of them unless the page filled up).
    searched_to = (late[-1].id or 0) if len(late) == size else MAX_ID
    delivered = sorted(change.id for change in late if change.id is not None)
    kept: list[list[int]] = []
    for lo, hi, deadline in gaps:
        pieces, start = [], lo
        for change_id in (i for i in delivered if lo <= i <= hi):
            if change_id > start:
                pieces.append((start, change_id - 1))
            start = change_id + 1
        if start <= hi:
            pieces.append((start, hi))
        for a, b in pieces:
            if deadline > now:
                kept.append([a, b, deadline])
            elif b > searched_to:  # expired, but not yet looked at since: once more
                kept.append([max(a, searched_to + 1), b, deadline])
    fresh = (
        list(queries.changes_after(session, after, size - len(late))) if len(late) < size else []
    )
    expected = after + 1
    for change in fresh:
        assert change.id is not None
        if change.id > expected:
            kept.append([expected, change.id - 1, now + GAP_WINDOW_SECONDS])
        expected = change.id + 1
    return late, fresh, kept


def _changes_cursor(cursor: str) -> tuple[int, list[tuple[int, int, int]]]:
    state = _decode_cursor(cursor, "changes")
    after = _cursor_id(state, "after")
    gaps = state.get("gaps", [])
    if not isinstance(gaps, list) or len(gaps) > MAX_GAPS:
        raise HTTPException(400, "malformed cursor")
    ranges = []
    for gap in gaps:
        if (
            not isinstance(gap, list)
            or len(gap) != 3
            or not all(isinstance(n, int) and not isinstance(n, bool) for n in gap)
            or not 1 <= gap[0] <= gap[1] <= after
        ):
            raise HTTPException(400, "malformed cursor")
        ranges.append((gap[0], gap[1], gap[2]))
    return after, ranges


# -- sources -------------------------------------------------------------------------------


@router.get("/api/sources", response_model=SourcePage, tags=["sources"])
def list_sources(
    enabled: Annotated[
        bool | None, Query(description="only enabled (true) or disabled (false) sources")
    ] = None,
    limit: Limit = None,
    cursor: CursorQuery = None,
    session: Session = SessionDep,
    settings: ServiceSettings = SettingsDep,
) -> SourcePage:
    """Sources and their health (as `redline sources --json`), in id order, a page at a
    time."""
    size = _page_size(limit, settings)
    after = _cursor_id(_decode_cursor(cursor, "sources"), "after") if cursor else None
    rows = queries.source_page(session, size + 1, after=after, enabled=enabled)
    page = list(rows[:size])
    more = len(rows) > size and page[-1].id is not None
    return SourcePage(
        sources=[_source_out(source, settings.failing_after) for source in page],
        next=_encode_cursor({"k": "sources", "after": page[-1].id}) if more else None,
    )


@router.get(
    "/api/sources/{source_id}", response_model=SourceOut, responses=NOT_FOUND, tags=["sources"]
)
def get_source(
    source_id: SourceId, session: Session = SessionDep, settings: ServiceSettings = SettingsDep
) -> SourceOut:
    return _source_out(_source_or_404(session, source_id), settings.failing_after)


@router.get(
    "/api/sources/{source_id}/checks",
    response_model=CheckPage,
    responses=NOT_FOUND,
    tags=["sources"],
)
def source_checks(
    source_id: SourceId,
    limit: Limit = None,
    cursor: CursorQuery = None,
    session: Session = SessionDep,
    settings: ServiceSettings = SettingsDep,
) -> CheckPage:
    """The source's fetch log, newest first."""
    _source_or_404(session, source_id)
    size = _page_size(limit, settings)
    before = _cursor_id(_decode_cursor(cursor, "checks"), "before") if cursor else None
    rows = queries.check_page(session, source_id, size + 1, before=before)
    page = list(rows[:size])
    return CheckPage(
        checks=[CheckOut.model_validate(check, from_attributes=True) for check in page],
        next=_page_cursor("checks", page[-1].id or 0) if len(rows) > size else None,
    )


def _interval(every: str | float | None) -> timedelta | None:
    if every is None:
        return None
    try:
        return parse_interval(every)
    except UserError as error:
        raise UserError(f"every: {error}") from None


@router.post(
    "/api/sources",
    response_model=SourceOut,
    status_code=201,
    responses={200: {"model": SourceOut, "description": "the URL was tracked already"}}
    | WRITE_RESPONSES,
    dependencies=[Security(bearer)],
    tags=["sources"],
)
def create_source(body: SourceIn, request: Request, response: Response) -> SourceOut:
    """Track a URL (as `redline add`): 201 with the new source, 200 if it was there."""
    options = body.options.model_dump(exclude_none=True) if body.options else {}
    try:
        if "map" in options:
            from tracker.extract.listing import parse_field_map

            options["map"] = parse_field_map([f"{k}={v}" for k, v in options["map"].items()])
        every = _interval(body.every)
        for attempt in (1, 2):
            try:
                with transaction(request.app.state.engine) as session:
                    source, added = _add_source(session, body, every, options)
                    out = _source_out(source, request.app.state.settings.failing_after)
                    ignored = [] if added else _not_applied(body, every, options, source)
                break
            except IntegrityError:  # the same URL added by another writer just now
                if attempt == 2:
                    raise
    except UserError as error:  # the message may quote the URL, credentials and all
        raise HTTPException(400, redact_url(str(error))) from error
    response.status_code = 201 if added else 200
    response.headers["Location"] = f"/api/sources/{out.id}"
    if ignored:  # a re-add never changes a source: say what was asked for and not done
        response.headers["Redline-Not-Applied"] = ", ".join(ignored)
    return out


def _not_applied(
    body: SourceIn, every: timedelta | None, options: dict[str, Any], source: Source
) -> list[str]:
    """The settings a POST of an already tracked URL asked for that the source does not
    have (they are changed with PATCH)."""
    differing = []
    if body.name is not None and (body.name.strip() or None) != source.name:
        differing.append("name")
    if every is not None and int(every.total_seconds()) != source.interval_seconds:
        differing.append("every")
    if body.cron is not None and " ".join(body.cron.split()) != source.cron:
        differing.append("cron")
    if body.site is not None and body.site.strip() and body.site.strip() != source.site:
        differing.append("site")
    held = source.options or {}
    differing += [f"options.{key}" for key, value in options.items() if held.get(key) != value]
    return differing


def _add_source(
    session: Session, body: SourceIn, every: timedelta | None, options: dict[str, Any]
) -> tuple[Source, bool]:
    from tracker.sources import add_source

    name = body.name.strip() if body.name and body.name.strip() else None
    try:
        return add_source(
            session, body.url, body.kind, name, every, options, cron=body.cron, site=body.site
        )
    except ValueError as error:  # urllib cannot split it: a bad IPv6 literal, a bad port
        raise UserError(f"not a URL: {body.url[:100]!r} ({error})") from None


@router.patch(
    "/api/sources/{source_id}",
    response_model=SourceOut,
    responses=NOT_FOUND | WRITE_RESPONSES,
    dependencies=[Security(bearer)],
    tags=["sources"],
)
def update_source(source_id: SourceId, body: SourcePatch, request: Request) -> SourceOut:
    """Rename, pause or resume a source, or change when it is checked (as `redline source
    edit|disable|enable`): only the fields given change."""
    from tracker.sources import UnknownSource, edit_source

    changes = {name: getattr(body, name) for name in body.model_fields_set}
    try:
        if "every" in changes:
            changes["every"] = _interval(changes["every"])
        with transaction(request.app.state.engine) as session:
            source = edit_source(session, source_id, changes)
            return _source_out(source, request.app.state.settings.failing_after)
    except UnknownSource as error:
        raise HTTPException(404, str(error)) from error
    except UserError as error:
        raise HTTPException(400, str(error)) from error


@router.delete(
    "/api/sources/{source_id}",
    response_model=SourceOut,
    responses=NOT_FOUND | WRITE_RESPONSES,
    dependencies=[Security(bearer)],
    tags=["sources"],
)
def delete_source(source_id: SourceId, request: Request) -> SourceOut:
    """Stop tracking a source: it is disabled, and nothing stored is deleted.

    Its items, versions, changes and checks stay readable; PATCH {"enabled": true}
    resumes it. The same as PATCH {"enabled": false}; deleting again changes nothing.
    """
    with transaction(request.app.state.engine) as session:
        source = _source_or_404(session, source_id)
        source.enabled = False
        session.add(source)
        return _source_out(source, request.app.state.settings.failing_after)
