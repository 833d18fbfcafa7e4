"""Headline tests: a headline that alternates A → B → A is an A/B test, not three edits.

Front pages test headlines against each other (about one article in ten on a large US
front page, in published research). The first switch (A → B) cannot be told from an edit
and is one. A switch back to a headline the item had within the source's window (24
hours by default, `--headline-test-window HOURS`) makes the item's headline test known:
that change is a "headline_test" event naming the variants, published once ("Headline
test: A / B"). Later switches among the same variants within the window are
"headline_flip" changes: every version is stored, but no feed carries them. A new
variant that comes back later grows the test: a new "headline_test" event naming all.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from sqlmodel import Session, col, select

from storage import Change, Item, Version
from tracker.normalise import normalise_text
from tracker.tuning import MAX_HEADLINE_TEST_HOURS

TEST, FLIP = "headline_test", "headline_flip"
DEFAULT_WINDOW_HOURS = 24.0
MAX_WINDOW_HOURS = MAX_HEADLINE_TEST_HOURS  # a week


def window(options: Mapping[str, Any]) -> timedelta:
    hours = options.get("headline_test_hours")
    return timedelta(hours=float(DEFAULT_WINDOW_HOURS if hours is None else hours))


def judge(session: Session, item: Item, change: Change, version: Version, span: timedelta) -> None:
    """Make an edit that only switches the headline back to a recent one a headline test
    event (with its variants) or, if that test is known already, a flip."""
    if change.kind != "edited" or change.fields != ["headline"] or not span:
        return
    if version.n <= 2:
        return  # one earlier headline, the one just replaced: a switch back needs two
    headline = _key(version.headline)
    since = version.observed_at - span
    with session.no_autoflush:  # this check's new rows need no flush to be left out
        # Plain (headline,) rows of the versions seen within the window, oldest first.
        recent = session.exec(
            select(Version.headline)
            .where(
                Version.item_id == item.id,
                Version.n < version.n,
                col(Version.last_observed_at) >= since,
            )
            .order_by(col(Version.n))
        ).all()
        if headline not in {_key(earlier) for earlier in recent} or headline == _key(recent[-1]):
            # Not back to a recent headline, or only the case of the last one changed
            # ("$2m" → "$2M"): an edit.
            return
        known = [
            {_key(variant) for variant in found or ()}
            for found in session.exec(
                select(Change.variants).where(
                    Change.item_id == item.id,
                    Change.kind == TEST,
                    col(Change.occurred_at) >= since,
                )
            ).all()
        ]
    # The variants: the headlines shown since the first showing, in the window, of this
    # one or of a variant of a test already known.
    tested = set().union({headline}, *known)
    start = next(i for i, earlier in enumerate(recent) if _key(earlier) in tested)
    # One variant per headline however its case was changed, in its latest form.
    latest_form = {_key(h): h or "" for h in [*recent[start:], version.headline]}
    variants = list(latest_form.values())
    keys = set(latest_form)
    if any(keys <= found for found in known):
        change.kind = FLIP
    else:
        change.kind, change.variants = TEST, variants


def _key(headline: str | None) -> str:
    return normalise_text(headline or "").casefold()
