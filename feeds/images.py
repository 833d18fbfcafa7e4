"""/items/{id}/changes/{change}.png: a picture of one edit (tracker/diff_image.py), for
posts and previews; its alt text is in the `Redline-Alt-Text` header (and in
`links.image_alt` of a webhook's JSON)."""

from __future__ import annotations

import hashlib
from urllib.parse import quote

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response
from sqlmodel import Session

from feeds.ids import ItemId, known_id
from storage import Change, Source
from tracker import diff_image
from tracker.notify.message import pictured_field

router = APIRouter()
IMAGE_FORMAT = "1"  # part of the ETag: bump when the pictures are drawn differently


@router.get("/items/{item_id}/changes/{change_id}.png", include_in_schema=False)
def change_image(item_id: ItemId, change_id: int, request: Request) -> Response:
    known_id(change_id, "change")
    with Session(request.app.state.engine) as session:
        change = session.get(Change, change_id)
        if change is None or change.item_id != item_id:
            raise HTTPException(404, f"no change {change_id} of item {item_id}")
        field = pictured_field(change)
        if field is None or change.diff is None:
            raise HTTPException(404, f"change {change_id} is no edit: it has no picture")
        source = session.get(Source, change.source_id)
        where = (source.name or source.site) if source else None
        etag = _etag(change, field)
        headers = {
            "ETag": etag,
            "Cache-Control": "public, max-age=3600",
            # Header values are Latin-1: the words, percent-encoded as UTF-8.
            "Redline-Alt-Text": quote(diff_image.alt_text(field, change.diff[field], where)),
        }
        if request.headers.get("if-none-match") == etag:
            return Response(status_code=304, headers=headers)
        png = diff_image.render_png(field, change.diff[field], where, change.occurred_at)
    return Response(png, media_type="image/png", headers=headers)


def _etag(change: Change, field: str) -> str:
    token = f"{IMAGE_FORMAT}\x1f{change.id}\x1f{field}\x1f{change.stored_at}\x1f{change.diff}"
    return f'W/"{hashlib.sha256(token.encode()).hexdigest()[:32]}"'
