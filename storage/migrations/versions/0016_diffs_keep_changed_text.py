"""A smaller store: a change's stored diff keeps its unchanged runs as their lengths.

A change's diff kept every unchanged word of each changed field (an article body's edit
kept the whole body again). Its unchanged runs are now [0, length], read back from the
version the change leads from (storage/stored_diff.py); this converts the stored diffs,
a batch of changes at a time. A downgrade writes them whole again.

Revision ID: 0016
Revises: 0015
"""

from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

from storage import stored_diff

revision: str = "0016"
down_revision: str | Sequence[str] | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The columns as this revision knows them (a migration keeps its own: the models move on).
_CHANGE = sa.table(
    "change", sa.column("id", sa.Integer), sa.column("from_version_id", sa.Integer),
    sa.column("diff", sa.JSON(none_as_null=True)),
)  # fmt: skip
_TEXTS = ("headline", "summary", "category", "body", "url")
_LISTS = ("tags", "sources")  # read as lists: a list field's diff is stored whole
_FIELDS = _TEXTS + _LISTS
_VERSION = sa.table(
    "version",
    sa.column("id", sa.Integer),
    *(sa.column(name, sa.String) for name in _TEXTS),
    *(sa.column(name, sa.JSON) for name in _LISTS),
)
_BATCH = 5000


def upgrade() -> None:
    _rewrite(stored_diff.pack)


def downgrade() -> None:
    _rewrite(stored_diff.unpack)


def _rewrite(convert: Callable[[dict[str, Any], Any], dict[str, Any]]) -> None:
    """Every stored diff of a change that leads from a version, converted against it."""
    connection = op.get_bind()
    after = 0
    query = (
        sa.select(_CHANGE.c.id, _CHANGE.c.diff, *(_VERSION.c[f] for f in _FIELDS))
        .join(_VERSION, _VERSION.c.id == _CHANGE.c.from_version_id)
        .where(_CHANGE.c.diff.is_not(None))
        .order_by(_CHANGE.c.id)
        .limit(_BATCH)
    )
    update = (
        _CHANGE.update()
        .where(_CHANGE.c.id == sa.bindparam("change_id"))
        .values(diff=sa.bindparam("new_diff", type_=sa.JSON))
    )
    while rows := connection.execute(query.where(_CHANGE.c.id > after)).all():
        converted = [
            {"change_id": row.id, "new_diff": new}
            for row in rows
            if (new := convert(row.diff, row)) != row.diff
        ]
        if converted:
            connection.execute(update, converted)
        after = rows[-1].id
