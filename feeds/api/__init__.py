"""The JSON API (/api/...), /healthz and /metrics: one router module per resource.

- feeds/api/items.py: /api/items, one item, its versions and diffs
- feeds/api/changes.py: /api/changes, the change log for pollers
- feeds/api/sources.py: /api/sources, reads and (token-guarded) writes
- feeds/api/health.py: /healthz and /metrics
- feeds/api/notifications.py: /api/notifications and /api/subscriptions (token-guarded)
- feeds/api/models.py: the shapes the routes answer and take
- feeds/api/guards.py: token, rate limit and body cap on writes
- feeds/api/paging.py, conditional.py, errors.py: cursors, ETags, one-line 422s

Reads are public and change nothing. Writes (POST/PATCH/DELETE /api/sources) need
`Authorization: Bearer <token>` equal to the configured token (REDLINE_API_TOKEN or
`token` under [serve] in redline.toml); without one configured every write is refused.
Writes are rate limited per client address (refused ones apart) and their bodies are
capped at 64 KB.

Times are ISO 8601 UTC with a `Z`. Paging:
- /api/items, /api/sources and /api/sources/{id}/checks: `next` is an opaque cursor for
  the following page (null on the last one). Ids only grow, so a walk sees every row
  that existed when it started exactly once.
- /api/changes: oldest first, for pollers; `next` is always given (feeds/api/changes.py).
"""

from __future__ import annotations

from feeds.api import changes, health, items, notifications, sources
from feeds.api.errors import install_validation_errors

# In the order they are matched (and listed in /openapi.json).
routers = [health.router, items.router, changes.router, sources.router, notifications.router]

__all__ = ["install_validation_errors", "routers"]
