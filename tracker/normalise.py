"""Normal forms: what counts as "the same text" and "the same URL".

Two versions are the same when their normalised fields are equal, so a change in
whitespace, Unicode composition, quote style or list order is never an edit.

Text is made safe to store first (sanitise_text): what no page means to show, and what
the database or an Atom feed cannot hold, is taken out.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections.abc import Mapping, Sequence
from functools import cache, lru_cache
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

# Control characters (C0 but tab, newline and carriage return; DEL; C1), the bidi embedding,
# override and isolate controls (they make text display other than it reads, and an
# unclosed one spills into the text around it: "Trojan Source"), and U+FFFE/U+FFFF
# (noncharacters XML refuses): removed. NUL would also make PostgreSQL refuse the row.
_UNSAFE = re.compile("[\x00-\x08\x0e-\x1b\x7f-\x84\x86-\x9f\u202a-\u202e\u2066-\u2069\ufffe\uffff]")
# Controls that separate words (vertical tab, form feed, the information separators,
# NEL) become a space, so the words either side stay apart.
_SEPARATING_CONTROLS = re.compile("[\x0b\x0c\x1c-\x1f\x85]")
# A lone surrogate (JSON "\ud800") cannot be encoded as UTF-8, so cannot be stored.
_SURROGATE = re.compile("[\ud800-\udfff]")
# Unicode's stream-safe limit (UAX #15): no real text stacks more combining marks on one
# character. Longer runs are cut, since NFC sorts a run in quadratic time.
MAX_COMBINING_RUN = 30


def normalise_text(text: str) -> str:
    """NFC, straight quotes, runs of whitespace as one space, no outer whitespace."""
    text = unicodedata.normalize("NFC", text).translate(_QUOTES)
    return _SPACE.sub(" ", text).strip()


def sanitise_text(text: str) -> str:
    """The text without what is unsafe to store or show: controls (tab, newline and CR
    stay), bidi controls, noncharacters; lone surrogates as U+FFFD; runs of more than
    MAX_COMBINING_RUN combining marks cut to that many. Zero-width (non-)joiners and
    spaces stay: emoji, Persian and Indic text need them."""
    if text.isascii():
        return _UNSAFE.sub("", _SEPARATING_CONTROLS.sub(" ", text))
    text = _SURROGATE.sub("\ufffd", _SEPARATING_CONTROLS.sub(" ", text))
    candidates, _ = _non_starters()
    return candidates.sub(_cut_runs, _UNSAFE.sub("", text))


@cache
def _non_starters() -> tuple[re.Pattern[str], frozenset[str]]:
    """The non-starters (characters of a non-zero combining class, and the few, such as
    Tibetan vowel signs, that decompose into such), and a pattern for runs that may hold
    more than MAX_COMBINING_RUN of them. Built on first use (about 0.5 s)."""
    marks = frozenset(filter(_is_non_starter, map(chr, range(0x110000))))
    bmp = "".join(sorted(mark for mark in marks if mark < "\U00010000"))
    # re tests a class of BMP characters against a bitmap, fast; with every astral mark
    # listed it would slow to a crawl, so any astral character is a candidate here.
    return re.compile(f"[{re.escape(bmp)}\U00010000-\U0010ffff]{{{MAX_COMBINING_RUN + 1},}}"), marks


def _is_non_starter(char: str) -> bool:
    if unicodedata.combining(char):
        return True
    if not unicodedata.decomposition(char):
        return False
    return bool(unicodedata.combining(unicodedata.normalize("NFKD", char)[0]))


def _cut_runs(match: re.Match[str]) -> str:
    """A candidate run with each run of non-starters in it cut to MAX_COMBINING_RUN."""
    _, marks = _non_starters()
    kept: list[str] = []
    run = 0
    for char in match[0]:
        run = run + 1 if char in marks else 0
        if run <= MAX_COMBINING_RUN:
            kept.append(char)
    return "".join(kept)


def clean_text(text: str | None) -> str | None:
    """Text as stored: sanitised, outer whitespace removed; empty means not given (None)."""
    if text is None:
        return None
    text = sanitise_text(text).strip()
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
    # surrogatepass: the same bytes for any storable text, and no error for a lone surrogate.
    return hashlib.sha256(payload.encode("utf-8", "surrogatepass")).hexdigest()


def same_text(a: str | None, b: str | None) -> bool:
    return (a is None) == (b is None) and (a is None or normalise_text(a) == normalise_text(b))


def check_http_url(url: str) -> str:
    """The URL, stripped, if it is an absolute http(s) URL with a host; else a UserError."""
    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise UserError(f"not an http(s) URL: {url!r}")
    return url


@lru_cache(maxsize=65536)  # a listing asks for the same URLs several times a check
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


# A URL's userinfo ("user:password@" before the host), wherever a URL starts in a text:
# the authority ends at the first /, ?, # or space, so an @ further on is not userinfo.
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/?#\s]*@")
# C0 and C1 controls: never shown raw (an ESC would drive the reader's terminal).
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


def redact_url(text: str) -> str:
    """The URL, or every URL in a message, without its userinfo (a source's credentials,
    kept for fetching only). Everything that shows a source URL, or a message that may
    quote one, shows it through here. The query string is shown as it is: a token there
    often names the feed rather than unlocking it."""
    shown = _USERINFO.sub(r"\1", text)
    # A control character (ESC above all) stored before URLs were checked would reach the
    # terminal raw: shown escaped instead.
    return _CONTROL.sub(lambda match: f"\\x{ord(match.group()):02x}", shown)
