"""redline's database: tables, engine and queries. Imports nothing from tracker or feeds."""

from typing import TYPE_CHECKING, Any

from storage.db import (
    DEFAULT_DB_URL,
    PoolSettings,
    database_url,
    ensure_intact,
    make_engine,
    transaction,
)
from storage.errors import DatabaseDamaged, DatabaseURLError, SchemaError, StorageError
from storage.schema import ensure_schema, schema_state, upgrade
from storage.types import MAX_ID, parse_id, utcnow

# The tables (storage/models.py) are imported when first named, not with the package:
# the ORM they are built on is half of a command's start-up, and a `redline check` with
# nothing to do never needs it (storage/due.py). They are the names of __all__ that
# the module does not hold yet (__getattr__).
if TYPE_CHECKING:
    from storage.models import (
        Change,
        Check,
        Delivery,
        Item,
        ItemAlias,
        ItemMatch,
        ItemSighting,
        Source,
        Subscription,
        ThreadPost,
        Version,
        VersionArchive,
    )


def __getattr__(name: str) -> Any:
    if name in __all__:
        from storage import models

        return getattr(models, name)
    raise AttributeError(f"module 'storage' has no attribute {name!r}")


__all__ = [
    "DEFAULT_DB_URL",
    "MAX_ID",
    "Change",
    "DatabaseDamaged",
    "DatabaseURLError",
    "PoolSettings",
    "SchemaError",
    "StorageError",
    "Check",
    "Delivery",
    "Item",
    "ItemAlias",
    "ItemMatch",
    "ItemSighting",
    "Source",
    "Subscription",
    "ThreadPost",
    "Version",
    "VersionArchive",
    "database_url",
    "ensure_intact",
    "ensure_schema",
    "make_engine",
    "parse_id",
    "schema_state",
    "transaction",
    "upgrade",
    "utcnow",
]
