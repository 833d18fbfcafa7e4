"""The tables: sources, their checks, items, aliases, versions and the change log.

See DESIGN.md "Data model". Times are timezone-aware UTC (UTCDateTime).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import JSON, Column, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from storage.types import HexDigest, UTCDateTime, utcnow


def _time(nullable: bool = True, index: bool = False) -> Column:  # type: ignore[type-arg]
    return Column(UTCDateTime(), nullable=nullable, index=index)


def _json() -> Column:  # type: ignore[type-arg]
    """A JSON column whose None is SQL NULL (not the JSON text 'null'): unknown, stored
    in no bytes."""
    return Column(JSON(none_as_null=True))


# Named factories, not `list`/`dict`: pydantic inspects a default factory's signature on
# every construction, and for a builtin that means parsing its text signature (~0.25 ms,
# a fifth of the time of a listing import).
def _no_fields() -> list[str]:
    return []


def _no_options() -> dict[str, Any]:
    return {}


class Source(SQLModel, table=True):
    """A URL redline checks: an item page, a day index, a feed, ..."""

    id: int | None = Field(default=None, primary_key=True)
    url: str = Field(unique=True)
    # Items belong to a site: the sources of one site share their items' aliases (the
    # URL's host without "www.", or a group the user names with --site).
    site: str | None = Field(default=None, index=True)
    kind: str = "auto"  # offstream, feed, article, wikipedia, auto
    name: str | None = None
    interval_seconds: int | None = None  # None: the daemon's --every
    cron: str | None = None  # a crontab line: checked at those times instead of an interval
    enabled: bool = True
    etag: str | None = None
    last_modified: str | None = None
    created_at: datetime = Field(default_factory=utcnow, sa_column=_time(nullable=False))
    next_check_at: datetime | None = Field(default=None, sa_column=_time(index=True))
    last_checked_at: datetime | None = Field(default=None, sa_column=_time())
    lease_until: datetime | None = Field(default=None, sa_column=_time())
    leased_by: str | None = None
    consecutive_failures: int = 0
    last_error: str | None = None
    # Learned at the first good check: a listing (day index, feed) or one item's page.
    listing: bool | None = None
    # An item page that is gone (410, repeated 404) or aged out is retired, not deleted.
    retired_at: datetime | None = Field(default=None, sa_column=_time())
    retired_reason: str | None = None
    # Quiet: not answering, or a listing showing nothing new, for longer than expected
    # (tracker/notify/quiet.py); subscribers to health alerts were told, and are told
    # again when it recovers.
    quiet_since: datetime | None = Field(default=None, sa_column=_time())
    quiet_reason: str | None = None
    # Fields its listing shows for some items only, learned from its checks (see
    # tracker/record/partial.py): an item shown without one keeps its last known value.
    partial_fields: list[str] | None = Field(default=None, sa_column=_json())
    # Per-source settings: listing field map ("map", "items"), "id_pattern", "match_threshold",
    # "match_window_hours", "ignore" (noise patterns, tracker/compare/noise.py).
    options: dict[str, Any] = Field(
        default_factory=_no_options, sa_column=Column(JSON, nullable=False)
    )


class Check(SQLModel, table=True):
    """One fetch of one source (or one imported snapshot of it), and what came of it."""

    __table_args__ = (
        # A source's checks, newest first (the API's check pages, the sources page).
        Index("ix_check_source_id", "source_id", "id"),
        # An imported snapshot is recorded once per source, however often the import runs.
        Index("uq_check_source_snapshot", "source_id", "snapshot", unique=True),
    )

    id: int | None = Field(default=None, primary_key=True)
    source_id: int = Field(foreign_key="source.id")
    started_at: datetime = Field(sa_column=_time(nullable=False))
    finished_at: datetime = Field(sa_column=_time(nullable=False))
    outcome: str  # changed, unchanged, not_modified, error
    http_status: int | None = None
    bytes: int | None = None
    error: str | None = None
    items_seen: int = 0
    versions_added: int = 0
    changes_added: int = 0
    # Imported snapshots: where it came from, e.g. "git:<commit>:<path>" (None: fetched).
    snapshot: str | None = None


class Item(SQLModel, table=True):
    """One news item, followed through its edits (its URL may change with its headline).

    source_id is the source that saw it first; every source that shows it has a sighting
    (ItemSighting). removed_at: when it left the last listing that showed it."""

    # A source's items, newest first (the API's item pages).
    __table_args__ = (Index("ix_item_source_id", "source_id", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    source_id: int = Field(foreign_key="source.id")
    key: str  # stable: the first URL (or guid) the item was seen under
    url: str | None = None  # current URL
    headline: str | None = None  # current headline, kept here for listings
    event_date: date | None = None
    first_seen_at: datetime = Field(sa_column=_time(nullable=False))
    last_seen_at: datetime = Field(sa_column=_time(nullable=False))
    removed_at: datetime | None = Field(default=None, sa_column=_time())
    version_count: int = 0
    # A listing (day index, feed) has shown it: only such an item can leave a listing.
    listed: bool = Field(default=False, sa_column_kwargs={"server_default": sa.false()})


class ItemSighting(SQLModel, table=True):
    """A source shows an item: the same article in two feeds of a site is one item that
    both sight. Whether the source listed it, and left it, is the source's own."""

    # A source's items (its feed, its removals) by the primary key's second column.
    __table_args__ = (Index("ix_itemsighting_source_id", "source_id", "item_id"),)

    item_id: int = Field(foreign_key="item.id", primary_key=True)
    source_id: int = Field(foreign_key="source.id", primary_key=True)
    first_seen_at: datetime = Field(sa_column=_time(nullable=False))
    # This source is a listing that has shown the item; it can leave this listing.
    listed: bool = False
    removed_at: datetime | None = Field(default=None, sa_column=_time())


class ItemAlias(SQLModel, table=True):
    """A name an item is known by: a URL it had, a guid. Recorded by one source, it names
    the item for every source of the site (tracker.identity.sites)."""

    # One name once per source; and finding an item by any URL it has had, whichever
    # source saw it (one index for both: kind and value lead).
    __table_args__ = (
        Index("uq_itemalias_kind_value_source", "kind", "value", "source_id", unique=True),
    )

    id: int | None = Field(default=None, primary_key=True)
    item_id: int = Field(foreign_key="item.id", index=True)
    source_id: int = Field(foreign_key="source.id")
    kind: str  # url, guid
    value: str


class ItemMatch(SQLModel, table=True):
    """A fuzzy identity decision: an observation no alias named was taken for this item."""

    id: int | None = Field(default=None, primary_key=True)
    item_id: int = Field(foreign_key="item.id", index=True)
    check_id: int | None = Field(default=None, foreign_key="check.id")
    method: str  # "fuzzy: " and the evidence it weighed ("headline 0.71, same summary")
    score: float
    matched_headline: str | None = None
    matched_url: str | None = None
    matched_at: datetime = Field(sa_column=_time(nullable=False))


class Version(SQLModel, table=True):
    """One distinct state of an item. A None field is unknown, not empty."""

    __table_args__ = (UniqueConstraint("item_id", "n"),)

    id: int | None = Field(default=None, primary_key=True)
    item_id: int = Field(foreign_key="item.id")
    n: int  # 1, 2, ... in the item's history order
    headline: str | None = None
    summary: str | None = None
    category: str | None = None
    tags: list[str] | None = Field(default=None, sa_column=_json())
    sources: list[str] | None = Field(default=None, sa_column=_json())
    body: str | None = None
    url: str | None = None
    content_hash: str = Field(sa_column=Column(HexDigest(), nullable=False))  # SHA-256, hex
    origin: str  # observed, page-history, import
    observed_at: datetime = Field(sa_column=_time(nullable=False))
    last_observed_at: datetime = Field(sa_column=_time(nullable=False))
    reported_at: datetime | None = Field(default=None, sa_column=_time())
    check_id: int | None = Field(default=None, foreign_key="check.id")


class Change(SQLModel, table=True):
    """One event in the edit log; feeds and queries read these, never recompute them."""

    # An item's changes and a source's changes, newest first (history, per-source feeds);
    # the whole edit feed and "changes since a cursor" walk the primary key.
    __table_args__ = (
        Index("ix_change_item_id", "item_id", "id"),
        Index("ix_change_source_id", "source_id", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    item_id: int = Field(foreign_key="item.id")
    source_id: int = Field(foreign_key="source.id")
    kind: str  # created, edited, removed, restored, headline_test, headline_flip, shown
    from_version_id: int | None = Field(default=None, foreign_key="version.id")
    to_version_id: int | None = Field(default=None, foreign_key="version.id")
    from_n: int | None = None
    to_n: int | None = None
    fields: list[str] = Field(default_factory=_no_fields, sa_column=Column(JSON))
    similarity: float | None = None
    # style, rewording, substantive (tracker/compare/significance.py); None for created, removed,
    # restored. score: 0-1 within the class; reasons: ["headline: number changed: 8 → 12"].
    classification: str | None = None
    score: float | None = None
    reasons: list[str] | None = Field(default=None, sa_column=_json())
    # {field: [[op, text], ...]}: the stored consecutive diff (diff-match-patch ops), an
    # unchanged run kept as its length, read back from the from-version (stored_diff.py)
    diff: dict[str, list[list[int | str]]] | None = Field(default=None, sa_column=_json())
    # A headline_test's headlines, in the order first shown (tracker/compare/headline_tests.py).
    variants: list[str] | None = Field(default=None, sa_column=_json())
    occurred_at: datetime = Field(sa_column=_time(nullable=False))
    recorded_at: datetime = Field(sa_column=_time(nullable=False))
    # When this row was last written, by the clock (recorded_at is an import's snapshot
    # time): what a feed's Last-Modified follows. None: written before redline kept it.
    stored_at: datetime | None = Field(default_factory=utcnow, sa_column=_time())


class Subscription(SQLModel, table=True):
    """Someone to tell about changes: a target and a filter (tracker/notify/).

    target: an http(s) URL (a webhook: a signed JSON POST per change) or an Apprise URL
    (Slack, Matrix, e-mail, ntfy, ...). filters: which changes ("sources", "sites",
    "tags", "items", "fields", "classes", "kinds"; a key left out means any, except
    classes and kinds, which have defaults). A subscription from redline.toml's
    [[notify]] tables carries its name and from_config, and is kept in step with it.
    """

    id: int | None = Field(default=None, primary_key=True)
    name: str | None = Field(default=None, unique=True)
    target: str
    secret: str | None = None  # a webhook's HMAC-SHA256 key
    filters: dict[str, Any] = Field(
        default_factory=_no_options, sa_column=Column(JSON, nullable=False)
    )
    per_minute: int | None = None  # deliveries a minute at most (None: the default)
    from_config: bool = False
    enabled: bool = True
    created_at: datetime = Field(default_factory=utcnow, sa_column=_time(nullable=False))


class Delivery(SQLModel, table=True):
    """One change to tell one subscription about: the outbox.

    Written in the transaction that records the change, so a crash loses none and
    invents none; the daemon sends it (at least once: `key` is the same on every
    attempt, for the receiver to drop repeats), retrying with backoff until it is sent
    or given up ("dead"). A subscription's deliveries about one item go out in order.
    """

    # The sender's walk: pending deliveries in id order.
    __table_args__ = (Index("ix_delivery_state_id", "state", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(unique=True)  # the delivery id receivers see (a UUID)
    subscription_id: int = Field(foreign_key="subscription.id", index=True)
    # No foreign key: a merge writes an item's change log anew, and a delivery whose
    # change is gone is given up when its turn comes, not a reason to refuse the merge.
    # None: a source's health alert, which `event` describes.
    change_id: int | None = None
    item_id: int | None = None  # the change's item, so one item's deliveries keep their order
    event: dict[str, Any] | None = Field(default=None, sa_column=_json())
    state: str = "pending"  # pending, sent, dead
    attempts: int = 0
    created_at: datetime = Field(default_factory=utcnow, sa_column=_time(nullable=False))
    next_attempt_at: datetime = Field(default_factory=utcnow, sa_column=_time(nullable=False))
    sent_at: datetime | None = Field(default=None, sa_column=_time())
    last_error: str | None = None
    # A sender working on it until then (several daemons may share a database).
    claimed_by: str | None = None
    claimed_until: datetime | None = Field(default=None, sa_column=_time())


class ThreadPost(SQLModel, table=True):
    """A post a subscription made on a posting network (Mastodon, Bluesky) about an item:
    the item's next post replies to its latest, so each item is one thread."""

    __table_args__ = (Index("ix_thread_post_thread", "subscription_id", "item_id", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    subscription_id: int = Field(foreign_key="subscription.id")
    item_id: int
    post_id: str  # the network's id of the post (a Mastodon status id, a Bluesky at:// URI)
    post_cid: str | None = None  # a Bluesky post's content id: replies name it
    delivery_key: str  # the delivery it was made for
    posted_at: datetime = Field(default_factory=utcnow, sa_column=_time(nullable=False))


class VersionArchive(SQLModel, table=True):
    """A request to the Wayback Machine to save the page of a new version of an item page
    ([archive] in redline.toml), and what came of it.

    Written pending in the transaction that records the version; the daemon (and
    `redline check`, after its round) asks the archive, so a slow or failing archive never
    holds up a check. A table of its own rather than columns of version: most versions
    (listings') never have one, and the version table is the largest.
    """

    __tablename__ = "version_archive"  # type: ignore[assignment]
    __table_args__ = (
        # The archiver's walk: pending requests by when they are next due.
        Index("ix_version_archive_due", "state", "next_attempt_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    # No foreign key: a merge may delete a duplicate version, and its archive request is
    # then only a row no page shows, not a reason to refuse the merge.
    version_id: int = Field(unique=True)
    item_id: int = Field(index=True)  # the item page's and the feeds' lookup
    url: str  # the page asked for
    state: str = "pending"  # pending, archived, failed (given up)
    job_id: str | None = None  # a save the archive is still working on (SPN2), to poll
    archived_url: str | None = None
    attempts: int = 0
    last_error: str | None = None
    created_at: datetime = Field(default_factory=utcnow, sa_column=_time(nullable=False))
    next_attempt_at: datetime = Field(default_factory=utcnow, sa_column=_time(nullable=False))
    archived_at: datetime | None = Field(default=None, sa_column=_time())
