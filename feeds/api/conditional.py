"""Conditional GET on the item endpoints, as on the feeds (feeds/routes_feeds.py): a weak
ETag made from a few ids and counts that change whenever the answer does, so a client
polling an item gets 304 after one indexed statement."""

from __future__ import annotations

import hashlib

from fastapi import Request

from feeds.routes_feeds import etag_matches

API_FORMAT = "3"  # part of the item endpoints' ETags: bump when what they answer changes


def etag_of(kind: str, *parts: object) -> str:
    token = "\x1f".join(str(part) for part in (API_FORMAT, kind, *parts))
    return f'W/"{hashlib.sha256(token.encode()).hexdigest()[:32]}"'


def not_modified(request: Request, etag: str) -> bool:
    header = request.headers.get("if-none-match")
    return header is not None and etag_matches(header, etag)


def cache_headers(etag: str) -> dict[str, str]:
    return {"ETag": etag, "Cache-Control": "no-cache"}  # stored, but revalidated each time
