"""What a command's arguments name: an item, by its id or by any URL it has had; and a
URL urllib cannot split, as a one-line error. Shared by the CLI's modules."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from storage import Item, parse_id, queries
from tracker import identity
from tracker.errors import UserError
from tracker.normalise import canonical_url


def find_item(session: Any, ref: str) -> Item:
    """An item by its id or by any URL it has ever had."""
    ref = ref.strip()
    if ref.isascii() and ref.isdigit():  # "²".isdigit() is true too
        item_id = parse_id(ref)  # None: above any id a row can have
        item = session.get(Item, item_id) if item_id is not None else None
        if item is None:
            raise UserError(f"no item {ref}")
        return item
    if "://" not in ref:
        raise UserError(f"not an item id or URL: {ref!r}")
    with url_errors(ref):
        url = canonical_url(ref)
    matches = queries.items_by_alias(session, "url", [url])
    stem = identity.page_stem(url)
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
