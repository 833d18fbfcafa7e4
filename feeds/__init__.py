"""Publishing: Atom feeds of the edit log (and, later, the HTTP app)."""

from feeds.atom import FeedConfig, edits_feed

__all__ = ["FeedConfig", "edits_feed"]
