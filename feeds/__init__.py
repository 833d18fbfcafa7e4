"""Publishing: Atom feeds of the edit log (and, later, the HTTP app)."""

from feeds.atom import edits_feed
from feeds.feed_names import FeedConfig

__all__ = ["FeedConfig", "edits_feed"]
