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
from tracker.errors import ExtractError
from tracker.extract.base import Observation
from tracker.normalise import canonical_urls, normalise_text

log = logging.getLogger(__name__)


def known_urls(observation: Observation, page_urls: Sequence[str] = ()) -> list[str]:
    """Every URL (canonical) this observation says the item has had."""
    history_urls = [entry.url for entry in observation.history]
    return canonical_urls([observation.url, *page_urls, *history_urls])


def identity_keys(observation: Observation, page_urls: Sequence[str] = ()) -> list[tuple[str, str]]:
    """The aliases that decide which item this is, strongest kind only.

    A guid wins: entries of a live page share one link but keep their own guids.
    Without one, every URL the item has had; without any URL, the headline itself
    (an entry that only has a title is followed until its title changes).
    """
    if observation.guid:
        return [("guid", observation.guid)]
    urls = known_urls(observation, page_urls)
    if urls:
        return [("url", url) for url in urls]
    if observation.headline:
        return [("title", normalise_text(observation.headline).casefold())]
    raise ExtractError("an item with no id, URL or headline cannot be followed")


def find_item(
    session: Session, source_id: int, observation: Observation, page_urls: Sequence[str] = ()
) -> Item | None:
    """The item of this source that the observation's identity keys name, if there is one."""
    keys = identity_keys(observation, page_urls)
    matches = queries.items_by_alias(session, keys[0][0], [value for _, value in keys], source_id)
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
