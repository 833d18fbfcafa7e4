"""What the CLI's modules share: the item or source an argument names (an item by its id
or any URL it has had), one-line errors for a URL urllib cannot split or a file that
cannot be written, and JSON and interval output.

Every `redline` command imports this module, `--help` and `--version` too, so the
database's modules and the identity rules (for an item named by URL) are imported inside
the functions that use them: start-up time."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tracker.errors import UserError
from tracker.normalise import canonical_url
from tracker.run.config import parse_interval

if TYPE_CHECKING:
    from storage import Item


def find_item(session: Any, ref: str) -> Item:
    """An item by its id or by any URL it has ever had."""
    from storage import Item, parse_id, queries

    ref = ref.strip()
    if ref.isascii() and ref.isdigit():  # "²".isdigit() is true too
        item_id = parse_id(ref)  # None: above any id a row can have
        item = session.get(Item, item_id) if item_id is not None else None
        if item is None:
            raise UserError(f"no item {ref}")
        return item
    if "://" not in ref:
        raise UserError(f"not an item id or URL: {ref!r}")
    from tracker.identity import match

    with url_errors(ref):
        url = canonical_url(ref)
    matches = queries.items_by_alias(session, "url", [url])
    stem = match.page_stem(url)
    if not matches and stem:  # another rendition of a page seen (.html for .md)
        matches = queries.items_by_alias(session, "page", [stem])
    if not matches:
        raise UserError(f"no item has had the URL {ref}")
    # Two sources may each hold an item that had this URL (an old page that now answers
    # 404, and the page it moved to): the one seen last is the story as it is now.
    return max(matches, key=lambda item: (item.last_seen_at, item.id or 0))


@contextmanager
def url_errors(url: str) -> Iterator[None]:
    """urllib's ValueError for a URL it cannot split (a bad IPv6 literal, a port out of
    range) as a UserError naming the URL."""
    try:
        yield
    except ValueError as error:
        raise UserError(f"not a URL: {url!r} ({error})") from None


def checked_source_id(source_id: int) -> int:
    """--source ID, if a row could have it (else no such source: PostgreSQL's ids are
    32-bit, and SQLite refuses to bind ids above 64 bits)."""
    from storage import MAX_ID

    if not 1 <= source_id <= MAX_ID:
        raise UserError(f"no source {source_id}")
    return source_id


@contextmanager
def write_errors(path: Path) -> Iterator[None]:
    """An output file or folder that cannot be written, as a UserError naming it."""
    try:
        yield
    except OSError as error:
        where = error.filename or path
        missing = Path(where).parent
        reason = (
            f"the folder {missing} does not exist"
            if isinstance(error, FileNotFoundError) and not missing.is_dir()
            else error.strerror
        )
        raise UserError(f"cannot write {where}: {reason}") from None


def human_interval(interval: timedelta) -> str:
    seconds = int(interval.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def print_json(document: Any) -> int:
    json.dump(document, sys.stdout, ensure_ascii=False, indent=2)
    sys.stdout.write("\n")
    return 0


DEFAULT_EVERY = "15m"


def parse_every(text: str) -> timedelta:
    """--every: a check interval in the allowed range, or a UserError naming the option."""
    try:
        return parse_interval(text)
    except UserError as error:
        raise UserError(f"--every: {error}") from None
