"""A feed's names and addresses: tag: URIs of feeds and entries (RFC 4151), paths under
/feeds/ (served and static, tags given safe file names) and absolute URLs. feeds/atom.py
writes them into the documents; FeedConfig says which authority and public URL to use.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, replace
from urllib.parse import quote, urlencode

from feeds.feed_query import DEFAULT_LIMIT, FeedQuery, bounded_limit
from storage import Change, Item

_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


@dataclass(frozen=True)
class FeedConfig:
    """How feeds are named and where they are published.

    authority: tag: URIs are minted on it (a domain or e-mail address you control).
    public_url: absolute links start here: /feeds/..., /items/ID (the history page).
    static: page links name the files `redline feed --out DIR` writes, not ?before=.
    """

    authority: str = "redline.invalid"
    title: str = "redline: edits"
    public_url: str = "http://127.0.0.1:8000"
    page_size: int = DEFAULT_LIMIT
    static: bool = False

    @property
    def base(self) -> str:
        return self.public_url.rstrip("/")


def change_id(config: FeedConfig, change: Change) -> str:
    """A permanent id (RFC 4151 tag: URI): change ids are never reused, nor is their date."""
    return f"tag:{config.authority},{change.recorded_at:%Y-%m-%d}:change/{change.id}"


def overview_id(config: FeedConfig, item: Item, field: str | None = None) -> str:
    """The id of an item feed's first-to-current entry (never a change id: no `change/`)."""
    suffix = f"?field={field}" if field else ""
    day = f"{item.first_seen_at:%Y-%m-%d}"
    return f"tag:{config.authority},{day}:item/{item.id}/first-to-current{suffix}"


def feed_id(config: FeedConfig, query: FeedQuery) -> str:
    """The id of the feed (the same on all its pages; a filtered feed is another feed)."""
    name = {
        "edits": "edits",
        "source": f"sources/{query.key}",
        "item": f"items/{query.key}",
        "tag": f"tags/{quote(str(query.key), safe='')}",
        "listing": f"sources/{query.key}/listing",
    }[query.scope]
    if name != "edits":
        name = f"edits/{name}"
    if query.scope == "listing":  # one feed, whether asked with ?kind=listing or not
        query = replace(query, kind=None)
    filters = urlencode([(k, v) for k, v in (("kind", query.kind), ("field", query.field)) if v])
    return f"tag:{config.authority},2026:feed/{name}" + (f"?{filters}" if filters else "")


MAX_TAG_FILE_NAME = 200  # bytes; file systems allow 255 for a name, ".atom" included


def static_tag_name(tag: str) -> str:
    """The tag's file (and folder) name in the static layout, one distinct name per tag,
    always inside tags/: the tag itself when that is safe, else percent-encoded.

    Safe names have no %, so they never collide with encoded ones. quote() leaves dots
    alone, so a leading dot is encoded too (%2E): `.` and `..` would name the folder
    itself or its parent, and `.x` a hidden file; so is the dot of a final ".atom" (the
    folder of tag `x`'s older pages, x/, is not the file of tag `x.atom`). A name too
    long for a file system keeps a prefix and a digest of the whole tag after "%~",
    which quote() never writes.
    """
    unsafe = (
        not tag
        or tag.startswith(".")
        or tag.lower().endswith(".atom")
        or len(tag.encode()) > MAX_TAG_FILE_NAME
        or any(ch in tag for ch in "/\\%")
        or _NOT_XML.search(tag)
        or any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in tag)
    )
    if not unsafe:
        return tag
    name = quote(tag, safe="")
    if name.startswith("."):
        name = "%2E" + name[1:]
    if name.lower().endswith(".atom"):  # tag T's folder T/ must never be tag T.atom's file
        name = f"{name[:-5]}%2E{name[-4:]}"
    if len(name) > MAX_TAG_FILE_NAME:
        prefix = re.sub(r"%[0-9A-F]?$", "", name[: MAX_TAG_FILE_NAME - 20])  # no cut escape
        name = f"{prefix}%~{hashlib.sha256(tag.encode()).hexdigest()[:16]}"
    return name


def feed_path(query: FeedQuery, static: bool = False, url: bool = False) -> str:
    """The page's path under /feeds/ (no query string); url: percent-encoded for a link.

    Server: edits.atom, sources/ID.atom, sources/ID/listing.atom, items/ID.atom,
    tags/TAG.atom (the tag one percent-encoded segment in a URL). Static: the same for a
    newest page, the tag's file name being static_tag_name(TAG); an older page is
    NAME/before-ID.atom next to it (edits/before-ID.atom, sources/3/before-ID.atom,
    sources/3/listing/before-ID.atom, tags/TAG/before-ID.atom).
    """
    if query.scope == "edits":
        stem = "edits"
    elif query.scope == "listing":
        stem = f"sources/{query.key}/listing"
    elif query.scope == "tag":
        name = static_tag_name(str(query.key)) if static else str(query.key)
        stem = f"tags/{quote(name, safe='') if url else name}"
    else:
        stem = f"{'sources' if query.scope == 'source' else 'items'}/{query.key}"
    if static and query.before is not None:
        return f"{stem}/before-{query.before}.atom"
    return f"{stem}.atom"


def feed_url(config: FeedConfig, query: FeedQuery) -> str:
    """The absolute URL of this page of this feed."""
    url = f"{config.base}/feeds/{feed_path(query, config.static, url=True)}"
    if config.static:
        return url
    params: list[tuple[str, object]] = []
    if query.kind and query.scope != "listing":
        params.append(("kind", query.kind))
    if query.field:
        params.append(("field", query.field))
    if query.limit != bounded_limit(config.page_size):
        params.append(("limit", query.limit))
    if query.before is not None:
        params.append(("before", query.before))
    return url + (f"?{urlencode(params)}" if params else "")


def history_url(config: FeedConfig, item_id: int) -> str:
    return f"{config.base}/items/{item_id}"
