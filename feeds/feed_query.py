"""Which page of which feed a request names: scope, key, the ?kind= and ?field= filters,
and the page (before, limit). Pure values, no database: feeds/atom.py builds the page a
FeedQuery names, and its filters are change_pages.change_page's arguments.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from tracker.normalise import CONTENT_FIELDS

# Every kind a feed shows (a new item: none; a headline test is one entry, its later
# flips none).
FEED_KINDS = ("edited", "headline_test", "removed", "restored")
EDIT_KINDS = ("edited", "headline_test")  # what an edits feed carries
LISTING_KINDS = ("removed", "restored")  # an item leaving or coming back to a listing
CLASSIFICATIONS = ("substantive", "rewording", "style")  # tracker/compare/significance.py
LISTING = "listing"  # ?kind=listing: removals and restorations (LISTING_KINDS)
KINDS = ("editorial", "all", *CLASSIFICATIONS, "minor", LISTING)  # every value of ?kind=
KIND_ALIASES = {"minor": "style"}  # the name before significance had three classes
FIELDS = CONTENT_FIELDS  # the values of ?field=
SCOPES = ("edits", "source", "item", "tag", "listing")  # listing: one source's listing feed
DEFAULT_LIMIT = 50
MAX_PAGE_SIZE = 200  # any ?limit= or page_size is capped here


@dataclass(frozen=True)
class FeedQuery:
    """One page of one feed: scope (edits, source, item, tag, listing), its key, filters, page."""

    scope: str = "edits"
    key: int | str | None = None  # source id (source, listing), item id or tag
    kind: str | None = None  # one of KINDS; None: editorial (a listing feed: listing)
    field: str | None = None  # headline, summary, ...
    before: int | None = None  # change id: this page holds older changes
    limit: int = DEFAULT_LIMIT

    def __post_init__(self) -> None:
        if self.scope not in SCOPES:
            raise ValueError(f"unknown feed scope {self.scope!r}")
        if (self.key is None) != (self.scope == "edits"):
            raise ValueError(f"feed scope {self.scope!r} with key {self.key!r}")
        if self.kind is not None and self.kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}")
        if self.field is not None and self.field not in FIELDS:
            raise ValueError(f"field must be one of {', '.join(FIELDS)}")
        if self.scope == "listing" and self.kind not in (None, LISTING):
            raise ValueError("a listing feed carries removals and restorations only")
        object.__setattr__(self, "limit", bounded_limit(self.limit))

    @property
    def listing(self) -> bool:
        """Whether the feed carries removals and restorations rather than edits."""
        return self.scope == "listing" or self.kind == LISTING

    def change_kinds(self) -> tuple[str, ...]:
        return LISTING_KINDS if self.listing else EDIT_KINDS

    def filters(self) -> dict[str, object]:
        """Keyword arguments of change_pages.change_page for this feed (but the kinds)."""
        return {
            "source_id": self.key if self.scope in ("source", "listing") else None,
            "item_id": self.key if self.scope == "item" else None,
            "tag": self.key if self.scope == "tag" else None,
            "classification": None if self.listing else kind_classes(self.kind),
            "field": self.field,
        }

    def page(self, before: int | None) -> FeedQuery:
        return replace(self, before=before)


def kind_classes(kind: str | None) -> tuple[str | None, ...] | None:
    """The classes of edits a ?kind= keeps (None among them: edits stored without one);
    None: every edit."""
    if kind == "all":
        return None
    if kind in (None, "editorial"):
        return ("substantive", "rewording", None)
    return (KIND_ALIASES.get(kind, kind),)


def bounded_limit(limit: int | None, default: int = DEFAULT_LIMIT) -> int:
    return max(1, min(int(limit if limit is not None else default), MAX_PAGE_SIZE))
