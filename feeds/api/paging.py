"""Paging: the page size, and the opaque cursors every list hands out as `next`.

A cursor is URL-safe base64 of a little JSON naming its list ("k") and where the next
page starts; a cursor of another list, or one not made here, answers 400.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Annotated, Any

from fastapi import HTTPException, Query

from feeds.settings import ServiceSettings
from storage import MAX_ID

MAX_PAGE = 200  # the most rows one page of any list holds
MAX_CURSOR = 4096

Limit = Annotated[
    int | None,
    Query(ge=1, le=MAX_PAGE, description="rows per page (default: the service's page size)"),
]


def page_size(limit: int | None, settings: ServiceSettings) -> int:
    return limit if limit is not None else max(1, min(settings.page_size, MAX_PAGE))


def encode_cursor(state: dict[str, Any]) -> str:
    raw = json.dumps(state, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, kind: str) -> dict[str, Any]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        state = json.loads(raw)
    except (binascii.Error, ValueError):
        state = None
    if not isinstance(state, dict) or state.get("k") != kind:
        raise HTTPException(400, f"not a cursor of {kind}: {cursor[:40]!r}")
    return state


def cursor_id(state: dict[str, Any], key: str) -> int:
    value = state.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_ID:
        raise HTTPException(400, "malformed cursor")
    return value


def page_cursor(kind: str, last_id: int) -> str:
    return encode_cursor({"k": kind, "before": last_id})


CursorQuery = Annotated[
    str | None,
    Query(max_length=MAX_CURSOR, description="the `next` of the previous page"),
]
