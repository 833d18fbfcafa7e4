"""Normal forms: what counts as "the same text" and "the same URL".

Two versions are the same when their normalised fields are equal, so a change in
whitespace, Unicode composition, quote style or list order is never an edit.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections.abc import Mapping, Sequence
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from tracker.errors import UserError

# The fields a version is made of, in display order; the hash covers exactly these.
CONTENT_FIELDS = ("headline", "summary", "category", "tags", "sources", "body")
LIST_FIELDS = frozenset({"tags", "sources"})

_QUOTES = str.maketrans({
    "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'",
    "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u201f": '"', "\u2033": '"',
    "\u00ab": '"', "\u00bb": '"',
})  # fmt: skip
_SPACE = re.compile(r"\s+")


def normalise_text(text: str) -> str:
    """NFC, straight quotes, runs of whitespace as one space, no outer whitespace."""
    text = unicodedata.normalize("NFC", text).translate(_QUOTES)
    return _SPACE.sub(" ", text).strip()


def clean_text(text: str | None) -> str | None:
    """Text as stored: outer whitespace removed; empty means not given (None)."""
    if text is None:
        return None
    text = text.strip()
    return text or None


FieldValue = str | list[str] | None


def normalise_field(name: str, value: FieldValue) -> FieldValue:
    """The comparable form of one field; lists become sorted, de-duplicated sets."""
    if value is None:
        return None
    if name in LIST_FIELDS:
        assert isinstance(value, list)
        return sorted({normalise_text(entry) for entry in value})
    assert isinstance(value, str)
    return normalise_text(value)


def content_hash(fields: Mapping[str, FieldValue]) -> str:
    """sha256 over the normalised content fields (unknown fields hash as null)."""
    normal = {name: normalise_field(name, fields.get(name)) for name in CONTENT_FIELDS}
    payload = json.dumps(normal, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(payload.encode()).hexdigest()


def same_text(a: str | None, b: str | None) -> bool:
    return (a is None) == (b is None) and (a is None or normalise_text(a) == normalise_text(b))


def check_http_url(url: str) -> str:
    """The URL, stripped, if it is an absolute http(s) URL with a host; else a UserError."""
    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise UserError(f"not an http(s) URL: {url!r}")
    return url


def canonical_url(url: str) -> str:
    """One spelling per URL: lower-case scheme and host, no default port, no fragment,
    no utm_* tracking parameters, an empty path as "/"."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    default_port = {"http": 80, "https": 443}.get(scheme)
    netloc = host if parts.port in (None, default_port) else f"{host}:{parts.port}"
    if parts.username:
        netloc = f"{parts.username}@{netloc}"
    query = urlencode(
        [
            (k, v)
            for k, v in parse_qsl(parts.query, keep_blank_values=True)
            if not k.startswith("utm_")
        ]
    )
    return urlunsplit((scheme, netloc, parts.path or "/", query, ""))


def canonical_urls(urls: Sequence[str | None]) -> list[str]:
    """Canonical forms of the given URLs, without None and without repeats, in order."""
    seen: dict[str, None] = {}
    for url in urls:
        if url:
            seen.setdefault(canonical_url(url), None)
    return list(seen)
