"""Answers written from plain rows: no ORM objects, no response model on the way out.

A list built per request (a page of changes, items, sources or checks) was read as ORM
objects, validated field by field into its response model, then validated again by
FastAPI on the way out. Here the rows are read as plain tuples (storage.queries), shaped
into dicts by the functions the models are filled from (feeds/api/models.py), and
written by pydantic's serializer, the one FastAPI writes models with (the same
times with Z, four to eight times faster than json.dumps here). The models stay the
documented shape (/openapi.json); tests/test_http_plain.py checks that every answer is
exactly what its model would write.
"""

from __future__ import annotations

from typing import Any

from fastapi.responses import Response
from pydantic import TypeAdapter

_ANY = TypeAdapter(Any)  # serializes any JSON-like value (dicts, lists, times) as it is


class PlainJSON(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return json_bytes(content)


def json_bytes(document: Any) -> bytes:
    """The document as FastAPI writes a response model: compact UTF-8, times in ISO 8601
    (UTC with Z), days as YYYY-MM-DD."""
    return _ANY.dump_json(document)
