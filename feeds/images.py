"""/items/{id}/changes/{change}.png: a picture of one edit (tracker/present/diff_image.py), for
posts and previews; its alt text is in the `Redline-Alt-Text` header (and in
`image_alt` of a webhook's JSON)."""

from __future__ import annotations

import hashlib
from urllib.parse import quote

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response
from sqlmodel import Session

from feeds.ids import ItemId, known_id
from feeds.routes_feeds import etag_matches
from storage import Change, Source, Version
from tracker.notify.message import picture_of

router = APIRouter()
IMAGE_FORMAT = "1"  # part of the ETag: bump when the pictures are drawn differently


@router.get("/items/{item_id}/changes/{change_id}.png", include_in_schema=False)
def change_image(item_id: ItemId, change_id: int, request: Request) -> Response:
    known_id(change_id, "change")
    with Session(request.app.state.engine) as session:
        change = session.get(Change, change_id)
        if change is None or change.item_id != item_id:
            raise HTTPException(404, f"no change {change_id} of item {item_id}")
        before = session.get(Version, change.from_version_id) if change.from_version_id else None
        picture = picture_of(change, session.get(Source, change.source_id), before)
        if picture is None:
            raise HTTPException(404, f"change {change_id} is no edit: it has no picture")
        etag = _etag(change, picture.field)
        headers = {
            "ETag": etag,
            "Cache-Control": "public, max-age=3600",
            # Header values are Latin-1: the words, percent-encoded as UTF-8.
            "Redline-Alt-Text": quote(picture.alt),
        }
    if etag_matches(request.headers.get("if-none-match", ""), etag):
        return Response(status_code=304, headers=headers)
    return Response(picture.png(), media_type="image/png", headers=headers)


def _etag(change: Change, field: str) -> str:
    token = f"{IMAGE_FORMAT}\x1f{change.id}\x1f{field}\x1f{change.stored_at}\x1f{change.diff}"
    return f'W/"{hashlib.sha256(token.encode()).hexdigest()[:32]}"'
