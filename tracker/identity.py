"""Which stored item an observation is: matched by any alias, never by URL alone.

On Offstream-style pages the slug is made from the headline, so an edited
headline moves the item to a new URL; the page's own history lists the earlier
URLs, and those are aliases of the same item.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from sqlmodel import Session

from storage import Item, queries
from tracker.extract.base import Observation
from tracker.normalise import canonical_urls

log = logging.getLogger(__name__)


def known_urls(observation: Observation, page_urls: Sequence[str] = ()) -> list[str]:
    """Every URL (canonical) this observation says the item has had."""
    history_urls = [entry.url for entry in observation.history]
    return canonical_urls([observation.url, *page_urls, *history_urls])


def find_item(
    session: Session, source_id: int, observation: Observation, page_urls: Sequence[str] = ()
) -> Item | None:
    """The item of this source that any alias of the observation names, if there is one."""
    matches = list(
        queries.items_by_alias(session, "url", known_urls(observation, page_urls), source_id)
    )
    if observation.guid:
        matches += queries.items_by_alias(session, "guid", [observation.guid], source_id)
    unique = {item.id: item for item in matches}
    if len(unique) > 1:
        # Two items turned out to be one (their URLs met in a page history). Merging
        # them is the identity issue's work; until then the oldest item takes the news.
        log.warning(
            "observation %s matches items %s; recording on the oldest",
            observation.url,
            sorted(unique),
        )
    return min(unique.values(), key=lambda item: item.id or 0) if unique else None
