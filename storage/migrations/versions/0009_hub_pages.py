"""A section page a listing links beside its articles is kept as a hub page, not a URL.

A row linking a section page (`/politik/` beside `/politik/article123/slug.html`) is an
item per story it promotes, known by page and headline. Its URL was kept as the item's
"url" alias too, so a later check that showed the section with no article under it
found that alias and recorded the next story as an edit of the first. The URL is now
kept as a "hubpage" alias: it marks the page a section page in every later check and
names no one item.

Revision ID: 0009
Revises: 0008
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# A hub alias is "<section URL> <headline>", or its sha256 when that is too long (as
# tracker.identity.match.hub_keys gives it when this was written).
_HUB_URLS = """
    kind = '{url}' AND value LIKE '%/' AND EXISTS (
        SELECT 1 FROM itemalias AS hub
        WHERE hub.item_id = itemalias.item_id AND hub.source_id = itemalias.source_id
          AND hub.kind = 'hub'
          AND (substr(hub.value, 1, length(itemalias.value) + 1) = itemalias.value || ' '
               OR hub.value LIKE 'sha256:%')
    )
"""


def upgrade() -> None:
    op.execute(f"UPDATE itemalias SET kind = 'hubpage' WHERE {_HUB_URLS.format(url='url')}")


def downgrade() -> None:
    op.execute(f"UPDATE itemalias SET kind = 'url' WHERE {_HUB_URLS.format(url='hubpage')}")
